package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func mustList(t *testing.T, s *store.Store, slug string) *store.List {
	t.Helper()
	l := &store.List{Slug: slug, Name: slug, Language: "sv", Optin: store.OptinDouble, Visibility: store.VisibilityPublic}
	if err := s.CreateList(context.Background(), l); err != nil {
		t.Fatalf("create list %s: %v", slug, err)
	}
	return l
}

func mustSubscriber(t *testing.T, s *store.Store, email string, subs ...store.SubscriptionInput) *store.Subscriber {
	t.Helper()
	sub := &store.Subscriber{Email: email, Language: "sv"}
	if err := s.CreateSubscriber(context.Background(), sub, subs, store.Actor{Source: "test"}); err != nil {
		t.Fatalf("create subscriber %s: %v", email, err)
	}
	return sub
}

func confirmed(id int64) store.SubscriptionInput {
	return store.SubscriptionInput{ListID: id, Status: store.SubConfirmed, ConsentBasis: "test"}
}

func TestDispatchIsDistinctAndSkipsUnconfirmed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b := mustList(t, s, "senaste-nytt"), mustList(t, s, "bus")
		both := mustSubscriber(t, s, "both@example.org", confirmed(a.ID), confirmed(b.ID))
		onlyB := mustSubscriber(t, s, "b@example.org", confirmed(b.ID))
		mustSubscriber(t, s, "unconfirmed@example.org", store.SubscriptionInput{ListID: a.ID, Status: store.SubUnconfirmed})
		mustSubscriber(t, s, "left@example.org", store.SubscriptionInput{ListID: a.ID, Status: store.SubUnsubscribed})
		mustSubscriber(t, s, "other@example.org") // on no list

		c := &store.Campaign{Name: "n", Subject: "s", Body: "b", ListIDs: []int64{a.ID, b.ID}}
		if err := s.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		sc, err := s.ScheduleCampaign(ctx, c.ID, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Status != store.CampaignScheduled || sc.Revision != 1 {
			t.Fatalf("scheduled: status %s revision %d", sc.Status, sc.Revision)
		}
		if _, err := s.MaterializeDeliveries(ctx, c.ID, 0); !errors.Is(err, store.ErrStale) {
			t.Fatalf("old revision: err %v, want ErrStale", err)
		}
		n, err := s.MaterializeDeliveries(ctx, c.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("deliveries = %d, want 2 (one per distinct confirmed subscriber)", n)
		}
		// A second dispatch of the same revision changes nothing.
		if _, err := s.MaterializeDeliveries(ctx, c.ID, 1); !errors.Is(err, store.ErrStale) {
			t.Fatalf("second dispatch: %v, want ErrStale", err)
		}

		res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 10, Token: "t1", Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range res.Recipients {
			got[r.Email] = true
			if r.Attempts != 1 {
				t.Errorf("%s attempts %d, want 1", r.Email, r.Attempts)
			}
		}
		if len(res.Recipients) != 2 || !got[both.Email] || !got[onlyB.Email] {
			t.Fatalf("claimed %v", got)
		}
		// Nothing is left to claim.
		res2, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 10, Token: "t2", Lease: time.Minute})
		if err != nil || len(res2.Recipients) != 0 {
			t.Fatalf("second claim: %d rows, err %v", len(res2.Recipients), err)
		}
		if done, _ := s.FinishCampaign(ctx, c.ID); done {
			t.Fatal("finished while rows are sending")
		}
		now := s.Now()
		outs := []store.Outcome{
			{DeliveryID: res.Recipients[0].DeliveryID, Status: store.DeliverySent, SMTPCode: 250, SMTPMessage: "ok", MessageID: "<a@x>", At: now},
			{DeliveryID: res.Recipients[1].DeliveryID, Status: store.DeliveryFailed, SMTPCode: 550, SMTPMessage: "5.1.1 no such user", FailureClass: store.FailPermanent, At: now},
		}
		if err := s.RecordOutcomes(ctx, outs); err != nil {
			t.Fatal(err)
		}
		done, err := s.FinishCampaign(ctx, c.ID)
		if err != nil || !done {
			t.Fatalf("finish: %v %v", done, err)
		}
		st, err := s.CampaignStats(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != store.CampaignSent || st.Recipients != 2 || st.Sent != 1 || st.Failed != 1 || st.FailedPermanent != 1 || st.Pending != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestClaimIsExclusiveUnderConcurrency(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := mustList(t, s, "l")
		const n = 300
		for i := 0; i < n; i++ {
			mustSubscriber(t, s, fmt.Sprintf("r%03d@example.org", i), confirmed(l.ID))
		}
		c := &store.Campaign{Name: "n", Subject: "s", Body: "b", ListIDs: []int64{l.ID}}
		if err := s.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ScheduleCampaign(ctx, c.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MaterializeDeliveries(ctx, c.ID, 1); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 7,
						Token: fmt.Sprintf("w%d-%d", w, i), Lease: time.Minute})
					if err != nil {
						t.Error(err)
						return
					}
					if len(res.Recipients) == 0 {
						return
					}
					mu.Lock()
					for _, r := range res.Recipients {
						seen[r.DeliveryID]++
					}
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d distinct deliveries, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("delivery %d claimed %d times", id, k)
			}
		}
	})
}

func TestExpiredClaimsReturnToPending(t *testing.T) {
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	storetest.RunOpts(t, storetest.Options{Now: now}, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := mustList(t, s, "l")
		mustSubscriber(t, s, "a@example.org", confirmed(l.ID))
		c := &store.Campaign{Name: "n", Subject: "s", Body: "b", ListIDs: []int64{l.ID}}
		s.CreateCampaign(ctx, c)
		s.ScheduleCampaign(ctx, c.ID, time.Time{})
		s.MaterializeDeliveries(ctx, c.ID, 1)
		res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 10, Token: "dead", Lease: 30 * time.Second})
		if err != nil || len(res.Recipients) != 1 {
			t.Fatalf("claim: %v %v", res, err)
		}
		got, err := s.RequeueExpiredClaims(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("requeue before expiry: %v %v", got, err)
		}
		clock = clock.Add(31 * time.Second)
		got, err = s.RequeueExpiredClaims(ctx)
		if err != nil || got[c.ID] != 1 {
			t.Fatalf("requeue after expiry: %v %v", got, err)
		}
		res, err = s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 10, Token: "alive", Lease: 30 * time.Second})
		if err != nil || len(res.Recipients) != 1 || res.Recipients[0].Attempts != 2 {
			t.Fatalf("reclaim: %+v %v", res, err)
		}
	})
}

func TestUnsubscribeAfterDispatchWithdrawsDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := mustList(t, s, "l")
		stay := mustSubscriber(t, s, "stay@example.org", confirmed(l.ID))
		leave := mustSubscriber(t, s, "leave@example.org", confirmed(l.ID))
		c := &store.Campaign{Name: "n", Subject: "s", Body: "b", ListIDs: []int64{l.ID}}
		s.CreateCampaign(ctx, c)
		s.ScheduleCampaign(ctx, c.ID, time.Time{})
		if _, err := s.MaterializeDeliveries(ctx, c.ID, 1); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Unsubscribe(ctx, leave.ID, []int64{l.ID}, c.ID, store.Actor{Source: "one-click"}); err != nil || len(n) != 1 {
			t.Fatalf("unsubscribe: %v %v", n, err)
		}
		res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 10, Token: "t", Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Recipients) != 1 || res.Recipients[0].SubscriberID != stay.ID || res.Withdrawn != 1 {
			t.Fatalf("claim after unsubscribe: %+v", res)
		}
		st, _ := s.CampaignStats(ctx, c.ID)
		if st.Suppressed != 1 {
			t.Fatalf("suppressed = %d, want 1", st.Suppressed)
		}
	})
}

func TestCampaignTransitionsAreConditional(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := mustList(t, s, "l")
		c := &store.Campaign{Name: "n", Subject: "s", Body: "b", ListIDs: []int64{l.ID}}
		if err := s.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ScheduleCampaign(ctx, c.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		name := "changed"
		if _, err := s.UpdateCampaign(ctx, c.ID, store.CampaignPatch{Name: &name}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("edit scheduled: %v, want ErrConflict", err)
		}
		if err := s.DeleteCampaign(ctx, c.ID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("delete scheduled: %v, want ErrConflict", err)
		}
		if _, err := s.ScheduleCampaign(ctx, c.ID, time.Time{}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("schedule twice: %v, want ErrConflict", err)
		}
		if err := s.DeleteCampaign(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete missing: %v, want ErrNotFound", err)
		}
	})
}

// TestOutcomesKeepWhatTheServerSaidWhateverItsBytes: outcomes go to the
// database as one JSON parameter, so a reply with quotes, a NUL, invalid
// UTF-8 or more than 1,000 bytes, a retry's time and a sending time must
// come back as written, on SQLite and Postgres, with and without a
// suppression in the same group (the transaction path).
func TestOutcomesKeepWhatTheServerSaidWhateverItsBytes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := pendingCampaign(t, s, 4)
		res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 10, Token: "t", Lease: time.Minute})
		if err != nil || len(res.Recipients) != 4 {
			t.Fatalf("claim: %v, %v", res, err)
		}
		r := res.Recipients
		at := time.Date(2026, 11, 30, 14, 15, 16, 123456789, time.UTC)
		next := at.Add(10 * time.Minute)
		long := strings.Repeat("å", 600) // 1,200 bytes
		outs := []store.Outcome{
			{DeliveryID: r[0].DeliveryID, Status: store.DeliverySent, SMTPCode: 250, SMTPMessage: `2.0.0 "queued" as <x\y>`, MessageID: "<m0@x>", At: at},
			{DeliveryID: r[1].DeliveryID, Status: store.DeliveryPending, SMTPCode: 451, SMTPMessage: "4.7.1 try\x00 later \xff", NextAttemptAt: &next, At: at},
			{DeliveryID: r[2].DeliveryID, Status: store.DeliveryFailed, SMTPCode: 552, SMTPMessage: long, FailureClass: store.FailPermanent, At: at},
		}
		if err := s.RecordOutcomes(ctx, outs); err != nil {
			t.Fatal(err)
		}
		hard := []store.Outcome{{DeliveryID: r[3].DeliveryID, Status: store.DeliveryFailed, SMTPCode: 550,
			SMTPMessage: "5.1.1 no such user", FailureClass: store.FailPermanent, Suppress: store.SuppressHardBounce, At: at}}
		if err := s.RecordOutcomes(ctx, hard); err != nil {
			t.Fatal(err)
		}
		rows, _, err := s.Deliveries(ctx, store.DeliveryQuery{CampaignID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[int64]store.DeliveryRow{}
		for _, d := range rows {
			byID[d.ID] = d
		}
		sent := byID[r[0].DeliveryID]
		if sent.Status != store.DeliverySent || sent.SMTPMessage != `2.0.0 "queued" as <x\y>` || sent.MessageID != "<m0@x>" ||
			sent.SentAt == nil || !sent.SentAt.Equal(at.Truncate(time.Microsecond)) || sent.ClaimToken != "" || sent.ClaimedUntil != nil {
			t.Errorf("sent row %+v (sent at %v)", sent.Delivery, sent.SentAt)
		}
		retry := byID[r[1].DeliveryID]
		if retry.Status != store.DeliveryPending || retry.SMTPMessage != "4.7.1 try later \uFFFD" || retry.SentAt != nil ||
			retry.NextAttemptAt == nil || !retry.NextAttemptAt.Equal(next.Truncate(time.Microsecond)) || retry.MessageID != r[1].MessageID {
			t.Errorf("retry row %+v (message %q)", retry.Delivery, retry.SMTPMessage)
		}
		failed := byID[r[2].DeliveryID]
		if failed.Status != store.DeliveryFailed || failed.FailureClass != store.FailPermanent || failed.SMTPCode != 552 ||
			failed.SMTPMessage != strings.Repeat("å", 500) {
			t.Errorf("failed row: status %s class %s code %d, message of %d bytes", failed.Status, failed.FailureClass, failed.SMTPCode, len(failed.SMTPMessage))
		}
		if b := byID[r[3].DeliveryID]; b.Status != store.DeliveryFailed || b.SMTPCode != 550 {
			t.Errorf("hard bounce row %+v", b.Delivery)
		}
		if sup, err := s.SuppressionOf(ctx, "r003@example.org"); err != nil || sup.Reason != store.SuppressHardBounce {
			t.Errorf("hard bounce: suppression %+v, %v", sup, err)
		}
	})
}
