package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker"
)

// optinsQueued returns the list ids of every opt-in mail waiting in the
// queue, and empties it.
func (a *testAPI) optinsQueued() [][]int64 {
	a.t.Helper()
	ts, err := a.insp.ListPendingTasks(a.queues.Critical)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		a.t.Fatal(err)
	}
	var out [][]int64
	for _, ti := range ts {
		if ti.Type != worker.TypeSubscriberOptin {
			continue
		}
		var p worker.OptinPayload
		if err := json.Unmarshal(ti.Payload, &p); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, p.ListIDs)
	}
	if len(ts) > 0 {
		if _, err := a.insp.DeleteAllPendingTasks(a.queues.Critical); err != nil {
			a.t.Fatal(err)
		}
	}
	return out
}

func TestStaffPatchKeepsAConfirmedSubscriptionConfirmed(t *testing.T) {
	a := newTestAPI(t)
	one, two := a.seedList("senaste-nytt", ""), a.seedList("bus", "")
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d],"consent_basis":"paper form 2026-03-01"}`, one), &sub)
	if got := a.optinsQueued(); len(got) != 0 {
		t.Fatalf("opt-in mail for someone added with a consent basis: %v", got)
	}
	confirmedAt := func() string {
		t.Helper()
		s, err := a.st.Subscriber(context.Background(), sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range s.Subscriptions {
			if m.ListID == one && m.ConfirmedAt != nil {
				return m.ConfirmedAt.String()
			}
		}
		return ""
	}
	was := confirmedAt()
	path := fmt.Sprintf("/api/v1/subscribers/%d", sub.ID)

	// Naming the lists again, plus a new one, without a consent basis.
	a.ok(200, "PATCH", path, fmt.Sprintf(`{"lists":[%d,%d]}`, one, two), nil)
	if st := a.subscription(sub.ID, one); st != store.SubConfirmed || confirmedAt() != was {
		t.Fatalf("list %d: %s, confirmed at %q (was %q): a confirmed subscription was reset", one, st, confirmedAt(), was)
	}
	if st := a.subscription(sub.ID, two); st != store.SubUnconfirmed {
		t.Fatalf("new list without a consent basis: %s, want unconfirmed", st)
	}
	if got := a.optinsQueued(); !slices.EqualFunc(got, [][]int64{{two}}, slices.Equal) {
		t.Fatalf("opt-in mails %v, want one for list %d only", got, two)
	}

	// Only tracking consent, with the status the person already has.
	a.ok(200, "PATCH", path, fmt.Sprintf(`{"lists":[{"id":%d,"status":"confirmed","tracking_consent":true}]}`, one), nil)
	if st := a.subscription(sub.ID, one); st != store.SubConfirmed || confirmedAt() != was {
		t.Fatalf("tracking consent reset the subscription: %s", st)
	}
	if got := a.optinsQueued(); len(got) != 0 {
		t.Fatalf("opt-in mail after a tracking-consent change: %v", got)
	}
	s, _ := a.st.Subscriber(context.Background(), sub.ID)
	for _, m := range s.Subscriptions {
		if m.ListID == one && !m.TrackingConsent {
			t.Fatal("tracking consent not recorded")
		}
	}
}
