package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
)

// TestImportsAreSeenByTheirListsGrants: a member with audience on BUS
// sees the imports into BUS and not those into the monthly list (absent
// from the list, 404 by id, its rejects too), and cannot start an
// upload of their own into the monthly list.
func TestImportsAreSeenByTheirListsGrants(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	m := w.user("register@example.se", store.RoleMember, pw)
	bus := &store.List{Slug: "bus", Name: "BUS"}
	monthly := &store.List{Slug: "manadsbrevet", Name: "Månadsbrevet"}
	for _, l := range []*store.List{bus, monthly} {
		if err := w.st.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.st.SetGrants(ctx, m.ID, map[int64][]string{bus.ID: {store.GrantAudience}}); err != nil {
		t.Fatal(err)
	}
	mine := &store.Import{Mode: "upsert", ListIDs: store.IDList{bus.ID}, Filename: "bus-medlemmar.csv"}
	theirs := &store.Import{Mode: "upsert", ListIDs: store.IDList{monthly.ID}, Filename: "manadsbrevet.csv"}
	fresh := &store.Import{Mode: "upsert", Filename: "ny.csv"}
	for _, imp := range []*store.Import{mine, theirs, fresh} {
		if err := w.st.CreateImport(ctx, imp); err != nil {
			t.Fatal(err)
		}
	}

	b := w.browser()
	b.signIn("register@example.se", pw)
	body := b.get("/admin/imports").Body.String()
	if !strings.Contains(body, "bus-medlemmar.csv") || strings.Contains(body, "manadsbrevet.csv") {
		t.Errorf("the imports page of a BUS audience member:\n%s", body)
	}
	wantStatus(t, b.get("/admin/imports/"+itoa(theirs.ID)), http.StatusNotFound)
	wantStatus(t, b.get("/admin/imports/"+itoa(theirs.ID)+"/rejects.csv"), http.StatusNotFound)

	// An upload not yet reviewed cannot be sent into a list without the
	// member's audience grant.
	b.get("/admin/imports")
	rec := b.post("/admin/imports/"+itoa(fresh.ID)+"/start", url.Values{"mode": {"upsert"}, "list_ids": {itoa(monthly.ID)}})
	if rec.Code < 400 {
		t.Fatalf("starting an import into the monthly list: %d", rec.Code)
	}
	got, err := w.st.Import(ctx, fresh.ID)
	if err != nil || len(got.ListIDs) != 0 || got.Status != store.ImportUploading {
		t.Errorf("the refused start changed the import: %+v %v", got, err)
	}

	// The API's listing follows the same grants (a token of the member).
	secret := store.NewTokenSecret()
	uid := m.ID
	if _, err := w.st.CreateUserAPIToken(ctx, "register", store.RoleEditor, secret, &uid); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/api/v1/imports", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	rec = w.browser().do(req)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "bus-medlemmar.csv") || strings.Contains(rec.Body.String(), "manadsbrevet.csv") {
		t.Errorf("GET /api/v1/imports with the member's token: %s", rec.Body)
	}
	req, _ = http.NewRequest(http.MethodGet, "/api/v1/imports/"+itoa(theirs.ID), nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	wantStatus(t, w.browser().do(req), http.StatusNotFound)
	req, _ = http.NewRequest(http.MethodGet, "/api/v1/imports/"+itoa(mine.ID), nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	wantStatus(t, w.browser().do(req), http.StatusOK)
}
