package api_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
)

// TestEditorBodyAndPlaceholderErrorsReadInTheUsersLanguage: a body mistake
// (an article without a headline on line 3) and a placeholder mistake in
// the subject are worded in Swedish for a Swedish editor — next to the
// field, among the findings of the autosave and in the posted preview —
// and in English for an English one, each body mistake naming its line;
// the JSON API keeps its English message and field.
func TestEditorBodyAndPlaceholderErrorsReadInTheUsersLanguage(t *testing.T) {
	w, b, c, lists := editorSetup(t)
	edit := fmt.Sprintf("/admin/campaigns/%d/edit", c.ID)
	body := "Inledning.\n\n:::article{kicker=\"Nytt\"}\nText utan rubrik.\n:::\n"
	b.get(edit)
	form := editorFields("Mars", "Senaste nytt i mars", body, lists[0])
	form.Set("revision", fmt.Sprint(c.Revision))

	rec := b.post(edit, form)
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	page := html.UnescapeString(rec.Body.String())
	if !strings.Contains(page, "Rad 3: en artikel behöver en rubrik") {
		t.Errorf("Swedish save lacks the Swedish body error with its line:\n%s", page)
	}
	if strings.Contains(page, "an article needs a headline") {
		t.Error("the Swedish editor shows the English body error")
	}
	rec = b.post(fmt.Sprintf("/admin/campaigns/%d/autosave", c.ID), form)
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if s := rec.Body.String(); !strings.Contains(s, "en artikel behöver en rubrik") || !strings.Contains(s, `"line":3`) {
		t.Errorf("autosave: %s", s)
	}
	rec = b.post(fmt.Sprintf("/admin/campaigns/%d/preview", c.ID), form)
	if s := rec.Body.String(); !strings.Contains(s, "Rad 3: en artikel behöver en rubrik") {
		t.Errorf("posted preview: %d %s", rec.Code, s)
	}
	sub := editorFields("Mars", "Hej {{ fornamn }}", "Hej.\n", lists[0])
	sub.Set("revision", fmt.Sprint(c.Revision))
	page = html.UnescapeString(b.post(edit, sub).Body.String())
	if !strings.Contains(page, "Platshållaren {{ fornamn }}: okänd platshållare ”fornamn”") {
		t.Errorf("Swedish save lacks the Swedish placeholder error:\n%s", page)
	}

	b.get("/admin/account")
	wantStatus(t, b.post("/admin/account", url.Values{"name": {"Redaktör"}, "lang": {"en"}}), http.StatusSeeOther)
	page = html.UnescapeString(b.post(edit, form).Body.String())
	if !strings.Contains(page, "Line 3: an article needs a headline") {
		t.Errorf("English save lacks the English body error:\n%s", page)
	}
	page = html.UnescapeString(b.post(edit, sub).Body.String())
	if !strings.Contains(page, "Placeholder {{ fornamn }}: unknown placeholder “fornamn”") {
		t.Errorf("English save lacks the English placeholder error:\n%s", page)
	}

	secret := store.NewTokenSecret()
	if _, err := w.st.CreateToken(context.Background(), "api", store.RoleEditor, secret); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPatch, fmt.Sprintf("/api/v1/campaigns/%d", c.ID), strings.NewReader(fmt.Sprintf(`{"body": %q}`, body)))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	res := httptest.NewRecorder()
	w.srv.ServeHTTP(res, req)
	wantStatus(t, res, http.StatusBadRequest)
	if s := res.Body.String(); !strings.Contains(s, `"field":"body"`) || !strings.Contains(s, "line 3: an article needs a headline") {
		t.Errorf("API: %s", s)
	}
}
