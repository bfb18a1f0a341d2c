package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/storsthlm/utskick/store"
)

// apiList reads list id through GET /api/v1/lists/{id}, as a machine
// with a token would.
func (w *webTest) apiList(id int64) map[string]any {
	w.t.Helper()
	secret := store.NewTokenSecret()
	if _, err := w.st.CreateToken(context.Background(), "lesen", store.RoleViewer, secret); err != nil {
		w.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/v1/lists/"+strconv.FormatInt(id, 10), nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	w.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		w.t.Fatalf("GET list: %d %s", rec.Code, rec.Body)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// TestListSenderFieldsSaveThroughTheFormAndReadBackThroughTheAPI sets a
// list's own sender identity on the list form (new, then edit), shows
// the instance's values as placeholders, and reads the saved fields back
// through the JSON API; emptying a field again stores "", the instance's.
func TestListSenderFieldsSaveThroughTheFormAndReadBackThroughTheAPI(t *testing.T) {
	w, b := audience(t)
	ctx := context.Background()
	if _, err := w.st.SetSenderIdentity(ctx, store.SenderIdentity{PostalAddress: "Box 123, 111 22 Stockholm",
		Contact: "Ring 08-123 45 67"}, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}

	// The instance's values (and UTSKICK_FROM where the instance has
	// none) are the placeholders, with the hint saying empty means them.
	page := b.get("/admin/lists/new")
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, `placeholder="Förbundet"`, `placeholder="nyhetsbrev@example.se"`,
		`placeholder="Box 123, 111 22 Stockholm"`, `placeholder="Ring 08-123 45 67"`,
		"Tomt: värdet under Inställningar → Avsändare (Box 123, 111 22 Stockholm).",
		"Tomt: värdet under Inställningar → Avsändare, som inte är ifyllt ännu; svar går då till avsändaradressen.")

	rec := b.post("/admin/lists", url.Values{"name": {"BUS"}, "slug": {"bus"}, "language": {"sv"}, "optin": {"double"},
		"visibility": {"public"}, "from_name": {"BUS-redaktionen"}, "from_address": {"BUS@Example.se"},
		"postal_address": {"Hornsgatan 20, 118 82 Stockholm"}, "contact": {"bus@example.se"}})
	wantRedirect(t, rec, "/admin/lists/")
	l, err := w.st.ListBySlug(ctx, "bus")
	if err != nil {
		t.Fatal(err)
	}
	got := w.apiList(l.ID)
	for k, v := range map[string]string{"from_name": "BUS-redaktionen", "from_address": "bus@example.se",
		"reply_to": "", "postal_address": "Hornsgatan 20, 118 82 Stockholm", "contact": "bus@example.se"} {
		if got[k] != v {
			t.Errorf("created: %s = %q, want %q", k, got[k], v)
		}
	}
	page = b.get("/admin/lists/" + strconv.FormatInt(l.ID, 10))
	wantBody(t, page, `value="BUS-redaktionen"`, `value="Hornsgatan 20, 118 82 Stockholm"`)

	// The edit replaces every field: a field left empty goes back to the
	// instance's value.
	rec = b.post("/admin/lists/"+strconv.FormatInt(l.ID, 10), url.Values{"name": {"BUS"}, "slug": {"bus"}, "language": {"sv"},
		"optin": {"double"}, "visibility": {"public"}, "from_name": {"Barn och unga"}, "from_address": {""},
		"reply_to": {"svar@example.se"}, "postal_address": {""}, "contact": {"Frågor: 08-765 43 21"}})
	wantRedirect(t, rec, "/admin/lists/")
	got = w.apiList(l.ID)
	for k, v := range map[string]string{"from_name": "Barn och unga", "from_address": "", "reply_to": "svar@example.se",
		"postal_address": "", "contact": "Frågor: 08-765 43 21"} {
		if got[k] != v {
			t.Errorf("edited: %s = %q, want %q", k, got[k], v)
		}
	}
}

// TestListSenderInvalidFromAddressIsRefusedAtTheField posts a from
// address that is no address (and one with a display name, which
// belongs in from_name) to the new-list and the edit form: the error is
// next to from_address, in the user's language, and nothing is written.
func TestListSenderInvalidFromAddressIsRefusedAtTheField(t *testing.T) {
	w := newWebTest(t, nil)
	u := w.user("redaktor@example.se", store.RoleEditor, "ett långt lösenord")
	b := w.browser()
	b.signIn("redaktor@example.se", "ett långt lösenord")
	ctx := context.Background()
	l := w.list("bus", "BUS")
	id := strconv.FormatInt(l.ID, 10)
	for _, bad := range []string{"inte en adress", "BUS <bus@example.se>"} {
		b.get("/admin/lists/new")
		before := w.rowCounts()
		rec := b.post("/admin/lists", url.Values{"name": {"Nytt"}, "slug": {"nytt"}, "language": {"sv"}, "optin": {"double"},
			"visibility": {"private"}, "from_name": {"Redaktionen"}, "from_address": {bad}})
		wantStatus(t, rec, http.StatusUnprocessableEntity)
		wantBody(t, rec, `<p class="error" id="from_address-error">Skriv en giltig e-postadress`,
			`aria-describedby="from_address-hint from_address-error" aria-invalid="true"`, `value="Redaktionen"`)
		w.unchanged(before)
		if _, err := w.st.ListBySlug(ctx, "nytt"); err == nil {
			t.Errorf("%q: the list was created", bad)
		}

		b.get("/admin/lists/" + id)
		rec = b.post("/admin/lists/"+id, url.Values{"name": {"BUS ändrad"}, "slug": {"bus"}, "language": {"sv"},
			"optin": {"double"}, "visibility": {"public"}, "from_name": {"Ändrad"}, "from_address": {bad}})
		wantStatus(t, rec, http.StatusUnprocessableEntity)
		wantBody(t, rec, `id="from_address-error"`)
		w.unchanged(before)
		if got := w.apiList(l.ID); got["name"] != "BUS" || got["from_name"] != "" || got["from_address"] != "" {
			t.Errorf("%q: a refused edit wrote %v", bad, got)
		}
	}

	// In English for a user who chose English.
	if _, err := w.st.UpdateUserProfile(ctx, u.ID, u.Name, "en"); err != nil {
		t.Fatal(err)
	}
	b.get("/admin/lists/" + id)
	before := w.rowCounts()
	rec := b.post("/admin/lists/"+id, url.Values{"name": {"BUS"}, "slug": {"bus"}, "language": {"sv"},
		"optin": {"double"}, "visibility": {"public"}, "from_address": {"not an address"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, `<p class="error" id="from_address-error">Enter a valid email address`)
	w.unchanged(before)
}
