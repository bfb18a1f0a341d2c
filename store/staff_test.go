package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func subscriptionOn(t *testing.T, sub *store.Subscriber, listID int64) store.Subscription {
	t.Helper()
	for _, m := range sub.Subscriptions {
		if m.ListID == listID {
			return m
		}
	}
	t.Fatalf("subscriber %d is not on list %d: %+v", sub.ID, listID, sub.Subscriptions)
	return store.Subscription{}
}

func TestStaffEditsKeepConfirmedSubscriptionsConfirmed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		one, two, three := mustList(t, s, "senaste-nytt"), mustList(t, s, "bus"), mustList(t, s, "styrelsen")
		by := store.Actor{Source: "api", TokenID: 1}
		yes := true

		res, err := s.StaffCreateSubscriber(ctx, &store.Subscriber{Email: "anna@example.se", Language: "sv"},
			[]store.ListChoice{{ListID: one.ID}}, "paper form at the annual meeting 2026", by)
		if err != nil {
			t.Fatal(err)
		}
		id := res.Subscriber.ID
		before := subscriptionOn(t, res.Subscriber, one.ID)
		if before.Status != store.SubConfirmed || before.ConfirmedAt == nil || len(res.NeedConfirm) != 0 {
			t.Fatalf("created with a consent basis: %+v, need confirm %v", before, res.NeedConfirm)
		}

		tests := []struct {
			name        string
			lists       []store.ListChoice
			basis       string
			wantOne     string
			needConfirm []int64
		}{
			// The two reproductions: naming the lists again, and
			// setting only tracking consent, without a consent basis.
			{"lists named again with a new one", []store.ListChoice{{ListID: one.ID}, {ListID: two.ID}}, "", store.SubConfirmed, []int64{two.ID}},
			{"tracking consent with status confirmed", []store.ListChoice{{ListID: one.ID, Status: store.SubConfirmed, TrackingConsent: &yes}}, "", store.SubConfirmed, nil},
			{"the new list named again", []store.ListChoice{{ListID: two.ID}}, "", store.SubConfirmed, nil},
			{"a new list with a consent basis", []store.ListChoice{{ListID: three.ID}}, "phone call 2026-11-20", store.SubConfirmed, nil},
		}
		for _, tc := range tests {
			res, err := s.StaffUpdateSubscriber(ctx, id, store.SubscriberPatch{}, tc.lists, tc.basis, by)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got := subscriptionOn(t, res.Subscriber, one.ID)
			if got.Status != tc.wantOne || got.ConfirmedAt == nil || !got.ConfirmedAt.Equal(*before.ConfirmedAt) || got.ConsentBasis != before.ConsentBasis {
				t.Fatalf("%s: list one became %+v, was %+v", tc.name, got, before)
			}
			if !slices.Equal(res.NeedConfirm, tc.needConfirm) {
				t.Fatalf("%s: opt-in due for %v, want %v", tc.name, res.NeedConfirm, tc.needConfirm)
			}
		}
		sub, err := s.Subscriber(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if m := subscriptionOn(t, sub, one.ID); !m.TrackingConsent {
			t.Fatalf("tracking consent not recorded: %+v", m)
		}
		if m := subscriptionOn(t, sub, two.ID); m.Status != store.SubUnconfirmed {
			t.Fatalf("a new list without a consent basis: %+v, want unconfirmed", m)
		}
		if m := subscriptionOn(t, sub, three.ID); m.Status != store.SubConfirmed || m.ConsentBasis != "phone call 2026-11-20" {
			t.Fatalf("a new list with a consent basis: %+v", m)
		}

		// A change of status that is asked for still happens.
		res, err = s.StaffUpdateSubscriber(ctx, id, store.SubscriberPatch{},
			[]store.ListChoice{{ListID: one.ID, Status: store.SubUnsubscribed}, {ListID: two.ID, Status: store.SubConfirmed}}, "", by)
		if err != nil {
			t.Fatal(err)
		}
		if m := subscriptionOn(t, res.Subscriber, one.ID); m.Status != store.SubUnsubscribed {
			t.Fatalf("asked to unsubscribe: %+v", m)
		}
		if m := subscriptionOn(t, res.Subscriber, two.ID); m.Status != store.SubUnconfirmed || len(res.NeedConfirm) != 0 {
			t.Fatalf("confirming without a basis someone still unconfirmed: %+v, opt-in %v", m, res.NeedConfirm)
		}
		// Naming a list the person left, without a status, does not
		// bring them back.
		res, err = s.StaffUpdateSubscriber(ctx, id, store.SubscriberPatch{}, []store.ListChoice{{ListID: one.ID}}, "paper form", by)
		if err != nil {
			t.Fatal(err)
		}
		if m := subscriptionOn(t, res.Subscriber, one.ID); m.Status != store.SubUnsubscribed {
			t.Fatalf("a left list named without a status: %+v", m)
		}
	})
}
