package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
)

// editorFields is the editor form as editor.js posts it.
func editorFields(name, subject, body string, lists ...int64) url.Values {
	v := url.Values{"name": {name}, "subject": {subject}, "preheader": {""}, "from": {""}, "reply_to": {""}, "body": {body}, "revision": {"1"}}
	for _, l := range lists {
		v.Add("list_ids", fmt.Sprint(l))
	}
	return v
}

// TestEditorPreviewShowsUnsavedTextAndWritesNothing: the preview posted
// from the editor renders the fields as typed (HTML and text part, in the
// reader's language) while the draft, its revision and the audit log stay
// as they were.
func TestEditorPreviewShowsUnsavedTextAndWritesNothing(t *testing.T) {
	w, b, c, lists := editorSetup(t)
	ctx := context.Background()
	page := b.get(fmt.Sprintf("/admin/campaigns/%d/edit", c.ID)).Body.String()
	// Without scripts, Förhandsgranska posts the form into the frame.
	if !strings.Contains(page, fmt.Sprintf(`formaction="/admin/campaigns/%d/preview" formmethod="post" formtarget="preview-frame"`, c.ID)) {
		t.Error("the editor has no Förhandsgranska button that posts the form into the preview frame")
	}
	before := w.rowCounts()
	body := ":::article{kicker=\"Osparat\"}\n## Alldeles ny rubrik\n\nSkrivet men inte sparat.\n:::\n"
	path := fmt.Sprintf("/admin/campaigns/%d/preview?lang=en&scheme=dark", c.ID)
	rec := b.post(path, editorFields("Mars", "Ett ämne som inte är sparat", body, lists[0]))
	wantStatus(t, rec, http.StatusOK)
	html := rec.Body.String()
	for _, want := range []string{"Alldeles ny rubrik", "Skrivet men inte sparat", "Unsubscribe", "min-width: 0px"} {
		if !strings.Contains(html, want) {
			t.Errorf("posted preview lacks %q", want)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "script-src") {
		t.Errorf("posted preview policy %q", csp)
	}
	rec = b.post(fmt.Sprintf("/admin/campaigns/%d/preview?format=text&lang=sv", c.ID), editorFields("Mars", "Ämne", body, lists[0]))
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Skrivet men inte sparat") {
		t.Errorf("posted text part: %s", rec.Body)
	}
	w.unchanged(before)
	got, err := w.st.Campaign(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != c.Body || got.Subject != c.Subject || got.Revision != c.Revision || len(got.ListIDs) != 2 {
		t.Errorf("the preview wrote the draft: %+v", got)
	}
}

// TestEditorPreviewRefusesWhatTheSaveRefuses: fields the save would
// refuse get the save's reason at their field, in the frame, and nothing
// is written; a list that does not exist is named by its place.
func TestEditorPreviewRefusesWhatTheSaveRefuses(t *testing.T) {
	w, b, c, lists := editorSetup(t)
	b.get(fmt.Sprintf("/admin/campaigns/%d/edit", c.ID))
	before := w.rowCounts()
	path := fmt.Sprintf("/admin/campaigns/%d/preview", c.ID)
	for _, tc := range []struct {
		name, field string
		form        url.Values
	}{
		{"placeholder", "body", editorFields("Mars", "Ämne", "Hej {{ first_name \n", lists[0])},
		{"subject of two lines", "subject", editorFields("Mars", "Ämne\nmer", "Hej", lists[0])},
		{"unknown list", "list_ids", editorFields("Mars", "Ämne", "Hej", lists[0], 9999)},
		{"too long", "body", editorFields("Mars", "Ämne", strings.Repeat("a", 200_001), lists[0])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.post(path, tc.form)
			wantStatus(t, rec, http.StatusUnprocessableEntity)
			if !strings.HasPrefix(rec.Body.String(), tc.field+": ") {
				t.Errorf("refusal does not name %s: %s", tc.field, rec.Body)
			}
		})
	}
	w.unchanged(before)
}

// TestEditorLintFindingsReadInTheUsersLanguage: the editor shows the
// lint in Swedish for a Swedish user and in English after she switches
// to English, the autosave's findings too; the JSON API keeps the stable
// code and the English message.
func TestEditorLintFindingsReadInTheUsersLanguage(t *testing.T) {
	w, b, c, lists := editorSetup(t)
	edit := fmt.Sprintf("/admin/campaigns/%d/edit", c.ID)
	// A link of plain http and a vague link text, on the body's line 4.
	b.get(edit)
	body := ":::article{kicker=\"Nytt\"}\n## Rubrik\n\nHej! [Klicka här](http://kommun.example.se/sida) om bussarna.\n:::\n"
	form := editorFields("Mars", "Senaste nytt i mars", body, lists[0])
	form.Set("revision", fmt.Sprint(c.Revision))
	rec := b.post(fmt.Sprintf("/admin/campaigns/%d/autosave", c.ID), form)
	wantStatus(t, rec, http.StatusOK)
	for _, want := range []string{"Länken http://kommun.example.se/sida är inte https", "Meddelandena DKIM-signeras inte", `"line":4`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("autosave findings lack %q: %s", want, rec.Body)
		}
	}
	page := b.get(edit).Body.String()
	for _, want := range []string{"Länktexten ”Klicka här” säger inte vart den leder", `data-line="4"`} {
		if !strings.Contains(page, want) {
			t.Errorf("Swedish editor lacks %q", want)
		}
	}
	if strings.Contains(page, "is not https") {
		t.Error("the Swedish editor shows an English finding")
	}
	b.get("/admin/account")
	wantStatus(t, b.post("/admin/account", url.Values{"name": {"Redaktör"}, "lang": {"en"}}), http.StatusSeeOther)
	page = b.get(edit).Body.String()
	if !strings.Contains(page, "Link http://kommun.example.se/sida is not https") {
		t.Error("the English editor lacks the English finding")
	}
	secret := store.NewTokenSecret()
	if _, err := w.st.CreateToken(context.Background(), "lint", store.RoleEditor, secret); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/v1/campaigns/%d/lint", c.ID), nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	api := httptest.NewRecorder()
	w.srv.ServeHTTP(api, req)
	wantStatus(t, api, http.StatusOK)
	res := api.Body.String()
	if !strings.Contains(res, `"code":"insecure_link"`) || !strings.Contains(res, `"message":"link http://kommun.example.se/sida is not https; browsers warn and spam filters count it"`) {
		t.Errorf("API lint: %s", res)
	}
}
