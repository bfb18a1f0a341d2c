package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestSubscriberEditAuditsNameAndAttributes: a staff edit of a person's
// name, language and attributes leaves their before and after in the
// audit row (the name and attributes in the erasable side table), and
// erasing the person removes those values while the row stays.
func TestSubscriberEditAuditsNameAndAttributes(t *testing.T) {
	a := newTestAPIWith(t, storetest.Open(t))
	list := a.seedList("bus", `,"optin":"single"`)
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","name":"Anna Berg","attributes":{"kommun":"Solna"},"lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"formulär"}`, list), &sub)
	a.ok(200, "PATCH", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), `{"name":"Anna Ek","language":"en","attributes":{"kommun":"Sundbyberg"}}`, nil)
	ctx := context.Background()
	rows, _, err := a.st.AuditLog(ctx, store.AuditQuery{Action: "subscriber.update", ObjectID: fmt.Sprint(sub.ID)})
	if err != nil || len(rows) != 1 {
		t.Fatalf("audit rows of the edit: %v %+v", err, rows)
	}
	ch := rows[0].Changes
	name, _ := ch["name"].(map[string]any)
	lang, _ := ch["language"].(map[string]any)
	attrs, _ := ch["attributes"].(map[string]any)
	if name["before"] != "Anna Berg" || name["after"] != "Anna Ek" {
		t.Errorf("name change: %v", ch["name"])
	}
	if lang["before"] != "sv" || lang["after"] != "en" {
		t.Errorf("language change: %v", ch["language"])
	}
	if b, _ := attrs["before"].(map[string]any); b["kommun"] != "Solna" {
		t.Errorf("attributes before: %v", ch["attributes"])
	}
	if n, _ := attrs["after"].(map[string]any); n["kommun"] != "Sundbyberg" {
		t.Errorf("attributes after: %v", ch["attributes"])
	}

	a.ok(200, "POST", fmt.Sprintf("/api/v1/subscribers/%d/erase", sub.ID), "", nil)
	rows, _, _ = a.st.AuditLog(ctx, store.AuditQuery{Action: "subscriber.update", ObjectID: fmt.Sprint(sub.ID)})
	if len(rows) != 1 {
		t.Fatalf("the row went with the person: %+v", rows)
	}
	for _, f := range []string{"name", "attributes"} {
		if rows[0].Changes[f] != "changed" {
			t.Errorf("after erasure the row's %s is %v, want only \"changed\"", f, rows[0].Changes[f])
		}
	}
}
