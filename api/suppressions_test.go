package api_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestSuppressionsAPI(t *testing.T) {
	a := newTestAPI(t)
	list := a.seedList("bus", "")
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d],"consent_basis":"x"}`, list), &sub)

	var sp store.Suppression
	a.ok(201, "POST", "/api/v1/suppressions", `{"email":" Anna@Example.se ","reason":"complaint","note":"called us"}`, &sp)
	if sp.Email != "anna@example.se" || sp.Reason != store.SuppressComplaint {
		t.Fatalf("created %+v", sp)
	}
	// Adding again keeps the first reason and says so with 200.
	a.ok(200, "POST", "/api/v1/suppressions", `{"email":"anna@example.se"}`, &sp)
	if sp.Reason != store.SuppressComplaint {
		t.Fatalf("second add changed the reason to %s", sp.Reason)
	}
	var pg struct{ Items []store.Suppression }
	a.ok(200, "GET", "/api/v1/suppressions?reason=complaint", "", &pg)
	if len(pg.Items) != 1 {
		t.Fatalf("list: %+v", pg)
	}
	a.ok(200, "GET", "/api/v1/suppressions?email=ANNA@example.se", "", &pg)
	if len(pg.Items) != 1 {
		t.Fatalf("lookup: %+v", pg)
	}
	// The suppression is in the person's history, with who did it.
	var evs struct{ Items []store.Event }
	a.ok(200, "GET", fmt.Sprintf("/api/v1/subscribers/%d/events", sub.ID), "", &evs)
	if !slices.ContainsFunc(evs.Items, func(e store.Event) bool {
		return e.Kind == store.EventSuppressed && e.Source == "api" && e.TokenID != nil && e.Data["reason"] == "complaint"
	}) {
		t.Fatalf("no suppression event: %+v", evs.Items)
	}

	bad := []struct {
		name, method, path, body string
		code                     int
		field                    string
	}{
		{"no email", "POST", "/api/v1/suppressions", `{"reason":"manual"}`, 400, "email"},
		{"bad email", "POST", "/api/v1/suppressions", `{"email":"Anna <anna@example.se>"}`, 400, "email"},
		{"bad reason", "POST", "/api/v1/suppressions", `{"email":"b@example.se","reason":"annoying"}`, 400, "reason"},
		{"erased is not for staff", "POST", "/api/v1/suppressions", `{"email":"b@example.se","reason":"erased"}`, 400, "reason"},
		{"unknown field", "POST", "/api/v1/suppressions", `{"email":"b@example.se","why":"x"}`, 400, "why"},
		{"delete without email", "DELETE", "/api/v1/suppressions", ``, 400, "email"},
		{"delete bad email", "DELETE", "/api/v1/suppressions?email=nope", ``, 400, "email"},
		{"delete unknown", "DELETE", "/api/v1/suppressions?email=b@example.se", ``, 404, ""},
		{"list bad reason", "GET", "/api/v1/suppressions?reason=x", ``, 400, "reason"},
	}
	for _, tc := range bad {
		a.expectRejected(tc.name, tc.code, tc.field, func() *httptest.ResponseRecorder { return a.do(tc.method, tc.path, a.admin, tc.body) })
	}
	if rec := a.do("POST", "/api/v1/suppressions", a.viewer, `{"email":"c@example.se"}`); rec.Code != 403 {
		t.Fatalf("viewer adds a suppression: %d", rec.Code)
	}
	a.ok(204, "DELETE", "/api/v1/suppressions?email=anna@example.se", "", nil)
	if ok := storetest.Suppressed(t, a.st, "anna@example.se"); ok {
		t.Fatal("still suppressed")
	}
}
