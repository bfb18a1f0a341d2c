package api_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
)

// TestADraftWhoseImageWasDeletedIsFlaggedAndNotSent: once an image of the
// library is deleted, the draft that still shows it gets a blocking
// missing_image finding naming the URL (API lint, and in Swedish on the
// editor at the image's line), and its send is refused naming it; before
// the delete there is no such finding.
func TestADraftWhoseImageWasDeletedIsFlaggedAndNotSent(t *testing.T) {
	w, b, _, lists := editorSetup(t)
	ctx := context.Background()
	m := &store.Media{Name: "karta.png", ContentType: "image/png", Width: 2, Height: 2, Size: 3, SHA256: strings.Repeat("b", 64), Data: []byte("png")}
	if err := w.st.CreateMedia(ctx, m); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("%s/media/%d/karta.png", webBase, m.ID)
	c := &store.Campaign{Name: "April", Subject: "Nytt i april", ListIDs: []int64{lists[0]},
		Body: "Kartan över de nya busslinjerna i länet visar var turerna går från och med april.\n\n![Karta över busslinjerna](" + src + ")\n\nFler nyheter kommer i nästa nummer, med tider och hållplatser för alla linjer.\n"}
	if err := w.st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	secret := store.NewTokenSecret()
	if _, err := w.st.CreateToken(ctx, "api", store.RoleAdmin, secret); err != nil {
		t.Fatal(err)
	}
	call := func(method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		w.srv.ServeHTTP(rec, req)
		return rec
	}
	lintPath := fmt.Sprintf("/api/v1/campaigns/%d/lint", c.ID)
	rec := call(http.MethodPost, lintPath)
	wantStatus(t, rec, http.StatusOK)
	if strings.Contains(rec.Body.String(), "missing_image") {
		t.Fatalf("an image still in the library is flagged: %s", rec.Body)
	}
	wantStatus(t, call(http.MethodDelete, fmt.Sprintf("/api/v1/media/%d", m.ID)), http.StatusNoContent)

	rec = call(http.MethodPost, lintPath)
	wantStatus(t, rec, http.StatusOK)
	if s := rec.Body.String(); !strings.Contains(s, `"code":"missing_image"`) || !strings.Contains(s, src) || !strings.Contains(s, `"blocking":true`) {
		t.Errorf("API lint after the delete: %s", s)
	}
	rec = call(http.MethodPost, fmt.Sprintf("/api/v1/campaigns/%d/send", c.ID))
	if s := rec.Body.String(); rec.Code != http.StatusConflict || !strings.Contains(s, "missing_image") || !strings.Contains(s, src) {
		t.Errorf("send of the draft: %d %s", rec.Code, s)
	}
	if got, err := w.st.Campaign(ctx, c.ID); err != nil || got.Status != store.CampaignDraft {
		t.Errorf("after the refused send: %v %v", got.Status, err)
	}
	page := html.UnescapeString(b.get(fmt.Sprintf("/admin/campaigns/%d/edit", c.ID)).Body.String())
	if !strings.Contains(page, "Bilden "+src+" finns inte längre i mediebiblioteket") || !strings.Contains(page, `data-line="3"`) {
		t.Errorf("the Swedish editor lacks the finding at line 3:\n%s", page)
	}
}
