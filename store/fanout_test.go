package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// deliveriesOf counts campaign id's deliveries by status.
func deliveriesOf(t *testing.T, s *store.Store, id int64) map[string]int {
	t.Helper()
	var rows []struct {
		Status string
		N      int
	}
	if err := store.DBForTest(s).Raw(`SELECT status, COUNT(*) AS n FROM deliveries WHERE campaign_id = ? GROUP BY status`, id).
		Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out
}

// scheduled makes a campaign to lists and schedules it for now.
func scheduled(t *testing.T, s *store.Store, lists []int64) *store.Campaign {
	t.Helper()
	ctx := context.Background()
	c := &store.Campaign{Name: "n", Subject: "s", Body: "b", ListIDs: lists}
	if err := s.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	sc, err := s.ScheduleCampaign(ctx, c.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestFanOutInChunksReachesEveryDistinctSubscriberAndLateComers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b := mustList(t, s, "senaste-nytt"), mustList(t, s, "bus")
		want := 0
		for i := range 11 {
			switch i % 4 {
			case 0: // on both lists: one delivery
				mustSubscriber(t, s, fmt.Sprintf("both%d@example.org", i), confirmed(a.ID), confirmed(b.ID))
				want++
			case 1:
				mustSubscriber(t, s, fmt.Sprintf("b%d@example.org", i), confirmed(b.ID))
				want++
			case 2: // not confirmed: no delivery
				mustSubscriber(t, s, fmt.Sprintf("u%d@example.org", i), store.SubscriptionInput{ListID: a.ID, Status: store.SubUnconfirmed})
			case 3: // on no list of the campaign
				mustSubscriber(t, s, fmt.Sprintf("none%d@example.org", i))
			}
		}
		c := scheduled(t, s, []int64{a.ID, b.ID})
		chunks := 0
		store.SetFanout(s, 3, func(int64) {
			chunks++
			if chunks == 1 {
				// Subscribes while the fan-out runs, with an id above
				// every id it saw at the start: the last pass adds them.
				mustSubscriber(t, s, "late@example.org", confirmed(a.ID))
			}
			got, err := s.Campaign(ctx, c.ID)
			if err != nil || got.Status != store.CampaignScheduled {
				t.Errorf("between chunks: %v, %v; want still scheduled", got.Status, err)
			}
		})
		n, err := s.MaterializeDeliveries(ctx, c.ID, c.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if chunks < 3 {
			t.Errorf("%d chunks, want at least 3 of 3 ids over 11 subscribers", chunks)
		}
		if n != int64(want+1) {
			t.Errorf("deliveries = %d, want %d (one per distinct confirmed subscriber, and the late one)", n, want+1)
		}
		if got := deliveriesOf(t, s, c.ID); got[store.DeliveryPending] != want+1 || len(got) != 1 {
			t.Errorf("deliveries by status %v, want %d pending", got, want+1)
		}
		if got, _ := s.Campaign(ctx, c.ID); got.Status != store.CampaignSending || got.StartedAt == nil {
			t.Errorf("after the fan-out: %s, started %v; want sending", got.Status, got.StartedAt)
		}
	})
}

func TestPauseDuringFanOutStopsItAndResumeRunsItAgain(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := mustList(t, s, "senaste-nytt")
		for i := range 7 {
			mustSubscriber(t, s, fmt.Sprintf("r%d@example.org", i), confirmed(l.ID))
		}
		c := scheduled(t, s, []int64{l.ID})
		store.SetFanout(s, 2, func(int64) {
			if got, _ := s.Campaign(ctx, c.ID); got.Status == store.CampaignScheduled {
				if _, err := s.PauseCampaign(ctx, c.ID, "test"); err != nil {
					t.Error(err)
				}
			}
		})
		if _, err := s.MaterializeDeliveries(ctx, c.ID, c.Revision); !errors.Is(err, store.ErrStale) {
			t.Fatalf("fan-out paused half way: err %v, want ErrStale", err)
		}
		if got := deliveriesOf(t, s, c.ID); got[store.DeliveryPending] != 2 {
			t.Fatalf("after the pause: %v, want the first chunk's 2 pending and no more", got)
		}
		// Deliveries exist, but the fan-out did not finish: resuming must
		// schedule it again, not start sending to two of seven.
		rc, err := s.ResumeCampaign(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Status != store.CampaignScheduled || rc.Revision <= c.Revision {
			t.Fatalf("resumed: %s r%d, want scheduled at a revision above %d", rc.Status, rc.Revision, c.Revision)
		}
		store.SetFanout(s, 2, nil)
		n, err := s.MaterializeDeliveries(ctx, c.ID, rc.Revision)
		if err != nil || n != 7 {
			t.Fatalf("fan-out after resume: %d deliveries, %v; want 7", n, err)
		}
		if got, _ := s.Campaign(ctx, c.ID); got.Status != store.CampaignSending {
			t.Errorf("status %s, want sending", got.Status)
		}
	})
}

func TestEditOfAnApprovedCampaignDuringFanOutDropsItsDeliveries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b := mustList(t, s, "senaste-nytt"), mustList(t, s, "bus")
		for i := range 5 {
			mustSubscriber(t, s, fmt.Sprintf("a%d@example.org", i), confirmed(a.ID))
		}
		c := scheduled(t, s, []int64{a.ID})
		// As if a second publisher had approved it (the approval flow
		// has tests of its own): an edit now voids the approval.
		if err := store.DBForTest(s).Exec(`UPDATE campaigns SET approved_at = ? WHERE id = ?`, time.Now().UTC(), c.ID).Error; err != nil {
			t.Fatal(err)
		}
		lists := []int64{b.ID}
		store.SetFanout(s, 2, func(int64) {
			if got, _ := s.Campaign(ctx, c.ID); got.Status == store.CampaignScheduled {
				if _, err := s.UpdateCampaign(ctx, c.ID, store.CampaignPatch{ListIDs: &lists}); err != nil {
					t.Error(err)
				}
			}
		})
		if _, err := s.MaterializeDeliveries(ctx, c.ID, c.Revision); !errors.Is(err, store.ErrStale) {
			t.Fatalf("fan-out stopped by the edit: err %v, want ErrStale", err)
		}
		got, _ := s.Campaign(ctx, c.ID)
		if got.Status != store.CampaignDraft {
			t.Fatalf("after the edit: %s, want draft", got.Status)
		}
		if d := deliveriesOf(t, s, c.ID); len(d) != 0 {
			t.Errorf("deliveries left for the old list: %v", d)
		}
	})
}
