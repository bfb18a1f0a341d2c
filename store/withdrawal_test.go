package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestWithdrawalMarkGrowsWithEveryWayOutOfAnAudience: senders skip
// looking at their batch again while the mark stands still, so every
// change that can take a recipient out of a campaign must move it: an
// unsubscribe, a staff edit of a confirmed subscription, a new address, a
// suppression, an erasure, a deletion, a list off a campaign, a list
// deleted. Sending (claims and outcomes) must not move it, or senders
// would look again all the time.
func TestWithdrawalMarkGrowsWithEveryWayOutOfAnAudience(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		by := store.Actor{Source: "test"}
		a, b := mustList(t, s, "senaste-nytt"), mustList(t, s, "bus")
		people := make([]*store.Subscriber, 8)
		for i := range people {
			people[i] = mustSubscriber(t, s, string(rune('a'+i))+"@example.org", confirmed(a.ID), confirmed(b.ID))
		}
		c := &store.Campaign{Name: "n", Subject: "s", Body: "b", ListIDs: []int64{a.ID, b.ID}}
		if err := s.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		mark := func() int64 {
			t.Helper()
			n, err := s.WithdrawalMark(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		moves := func(what string, change func() error) {
			t.Helper()
			before := mark()
			if err := change(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if after := mark(); after <= before {
				t.Errorf("%s: mark %d → %d, want it to grow", what, before, after)
			}
		}

		// Sending first: dispatch, claim and outcomes leave it alone.
		if _, err := s.ScheduleCampaign(ctx, c.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		before := mark()
		if _, err := s.MaterializeDeliveries(ctx, c.ID, 1); err != nil {
			t.Fatal(err)
		}
		res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 2, Token: "t", Lease: time.Minute})
		if err != nil || len(res.Recipients) != 2 {
			t.Fatalf("claim: %v, %v", res, err)
		}
		outs := []store.Outcome{}
		for _, r := range res.Recipients {
			outs = append(outs, store.Outcome{DeliveryID: r.DeliveryID, Status: store.DeliverySent, SMTPCode: 250, At: s.Now()})
		}
		if err := s.RecordOutcomes(ctx, outs); err != nil {
			t.Fatal(err)
		}
		if after := mark(); after != before {
			t.Errorf("sending moved the mark %d → %d", before, after)
		}

		moves("one-click unsubscribe from the campaign's lists", func() error {
			_, err := s.Unsubscribe(ctx, people[0].ID, nil, c.ID, by)
			return err
		})
		moves("unsubscribe from everything", func() error {
			_, err := s.UnsubscribeAll(ctx, people[1].ID, c.ID, by)
			return err
		})
		moves("staff turn a confirmed subscription off", func() error {
			_, err := s.UpdateSubscriber(ctx, people[2].ID, store.SubscriberPatch{Lists: []store.SubscriptionInput{
				{ListID: a.ID, Status: store.SubUnsubscribed}}}, by)
			return err
		})
		moves("a new address", func() error {
			email := "new-d@example.org"
			_, err := s.UpdateSubscriber(ctx, people[3].ID, store.SubscriberPatch{Email: &email}, by)
			return err
		})
		moves("an address suppressed", func() error {
			_, err := s.Suppress(ctx, "e@example.org", store.SuppressHardBounce, "", by)
			return err
		})
		moves("an erasure", func() error { return s.EraseSubscriber(ctx, people[5].ID, by) })
		moves("a deletion", func() error { return s.DeleteSubscriber(ctx, people[6].ID, by) })
		// A sending campaign's lists cannot be edited; a draft's can.
		draft := &store.Campaign{Name: "d", Subject: "s", Body: "b", ListIDs: []int64{a.ID, b.ID}}
		if err := s.CreateCampaign(ctx, draft); err != nil {
			t.Fatal(err)
		}
		moves("a list taken off a campaign", func() error {
			ids := []int64{a.ID}
			_, err := s.UpdateCampaign(ctx, draft.ID, store.CampaignPatch{ListIDs: &ids})
			return err
		})
		// Nor can a list a campaign is sending to be deleted; one that
		// people are confirmed on moves the mark.
		other := mustList(t, s, "other")
		mustSubscriber(t, s, "h@example.net", confirmed(other.ID))
		moves("a list deleted", func() error { return s.DeleteList(ctx, other.ID) })
	})
}
