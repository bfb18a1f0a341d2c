package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestBurstOfUnsubscribesAndClicksIsRecordedExactly: forty people
// unsubscribing and forty others clicking at once (they share transactions now)
// are each written by the time their call returns, one bad click fails
// alone, and the counters agree with the rows.
func TestBurstOfUnsubscribesAndClicksIsRecordedExactly(t *testing.T) {
	const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 40
		sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 2 * n, TrackClicks: true, Consent: true,
			Links: []string{"https://example.se/a"}, SentAt: time.Now().Add(-time.Hour)})
		db := store.DBForTest(s)
		var wg sync.WaitGroup
		errs := make(chan error, 3*n)
		for i := range n {
			wg.Add(3)
			go func() {
				defer wg.Done()
				changed, err := s.Unsubscribe(ctx, sd.Subscribers[i], []int64{sd.ListID}, sd.CampaignID, store.Actor{Source: "one-click"})
				if err != nil {
					errs <- err
					return
				}
				if len(changed) != 1 || changed[0] != sd.ListID {
					errs <- errors.New("unsubscribe changed the wrong lists")
				}
				// Written when the call returns.
				var status string
				if err := db.Raw(`SELECT status FROM subscriptions WHERE subscriber_id = ? AND list_id = ?`, sd.Subscribers[i], sd.ListID).
					Scan(&status).Error; err != nil || status != store.SubUnsubscribed {
					errs <- errors.New("unsubscribe returned before its write was visible: " + status)
				}
			}()
			go func() {
				defer wg.Done()
				r, err := s.RecordHit(ctx, store.Hit{DeliveryID: sd.Deliveries[n+i], Link: 0, UserAgent: browser}, store.TrackingPolicy{})
				if err != nil {
					errs <- err
				} else if r.URL != "https://example.se/a" {
					errs <- errors.New("click: wrong URL " + r.URL)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := s.RecordHit(ctx, store.Hit{DeliveryID: sd.Deliveries[n+i], Link: 9, UserAgent: browser}, store.TrackingPolicy{}); !errors.Is(err, store.ErrNotFound) {
					errs <- errors.New("unknown link: not a not-found")
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var events, unsubs, clicks int64
		db.Raw(`SELECT COUNT(*) FROM events WHERE kind = ? AND campaign_id = ?`, store.EventUnsubscribed, sd.CampaignID).Scan(&events)
		db.Raw(`SELECT COALESCE(SUM(n), 0) FROM stat_counts WHERE scope = 'c' AND scope_id = ? AND metric = 'unsubscribes'`, sd.CampaignID).Scan(&unsubs)
		db.Raw(`SELECT COALESCE(SUM(n), 0) FROM stat_counts WHERE scope = 'c' AND scope_id = ? AND metric = 'clicks'`, sd.CampaignID).Scan(&clicks)
		if events != n || unsubs != n || clicks != n {
			t.Fatalf("events %d, unsubscribes counted %d, clicks counted %d; want %d each", events, unsubs, clicks, n)
		}
		var left int64
		db.Raw(`SELECT COALESCE(SUM(n), 0) FROM list_counts WHERE list_id = ? AND status = ?`, sd.ListID, store.SubUnsubscribed).Scan(&left)
		if left != n {
			t.Fatalf("list counts %d unsubscribed, want %d", left, n)
		}
	})
}

// TestClickDoesNotWaitForTheSendersLockOnItsDelivery: on Postgres a
// click used to lock its delivery's row (so that hits of one delivery
// take turns), and so waited for, and made wait, the sender's updates of
// that row. Hits now take turns on an advisory lock of their own.
func TestClickDoesNotWaitForTheSendersLockOnItsDelivery(t *testing.T) {
	const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	s := storetest.OpenDSN(t, storetest.PostgresDSN(t), storetest.Options{})
	ctx := context.Background()
	sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 1, TrackClicks: true, Consent: true,
		Links: []string{"https://example.se/a"}, SentAt: time.Now().Add(-time.Hour)})
	tx := store.DBForTest(s).Begin()
	defer tx.Rollback()
	if err := tx.Exec(`UPDATE deliveries SET attempts = attempts WHERE id = ?`, sd.Deliveries[0]).Error; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r, err := s.RecordHit(cctx, store.Hit{DeliveryID: sd.Deliveries[0], Link: 0, UserAgent: browser}, store.TrackingPolicy{})
	if err != nil || !r.Recorded {
		t.Fatalf("click while the delivery's row is locked: %+v %v", r, err)
	}
}
