package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestClaimTakesNoMoreThanItsLimit: on Postgres the claim's LIMIT sat in
// an IN (…) subquery that the planner could rescan per row, each rescan
// skipping the rows the statement had already locked; a claim of 3 took
// all 50 pending rows of a small campaign.
func TestClaimTakesNoMoreThanItsLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := pendingCampaign(t, s, 50)
		for i, limit := range []int{3, 5, 100, 1} {
			res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: limit, Token: fmt.Sprint(i), Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if want := min(limit, 50-[]int{0, 3, 8, 50}[i]); len(res.Recipients) != want {
				t.Fatalf("claim %d of at most %d took %d, want %d", i, limit, len(res.Recipients), want)
			}
		}
	})
}

// pendingCampaign makes a list of n confirmed subscribers and a campaign
// to it, dispatched: n pending deliveries.
func pendingCampaign(t *testing.T, s *store.Store, n int) *store.Campaign {
	t.Helper()
	ctx := context.Background()
	l := mustList(t, s, "l")
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
	return c
}

// TestClaimTakesAShareWhenSpread: with Spread senders, a claim takes its
// share of the due deliveries, rounded up, never more than Limit and
// never less than one; without Spread, Limit.
func TestClaimTakesAShareWhenSpread(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := pendingCampaign(t, s, 200)
		claim := func(limit, spread int) int {
			t.Helper()
			res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: limit, Spread: spread,
				Token: fmt.Sprintf("t%d", time.Now().UnixNano()), Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			return len(res.Recipients)
		}
		steps := []struct {
			limit, spread, want int // due before: 200, 184, 174, 154, 54, 1
		}{
			{100, 16, 13}, // ceil(200/16)
			{100, 20, 10}, // ceil(184/20)
			{20, 0, 20},   // no spread: the limit
			{100, 1, 100}, // one sender: the limit
			{100, 64, 1},  // ceil(54/64)
			{100, 64, 1},  // and so on to the last
		}
		for i, st := range steps {
			if got := claim(st.limit, st.spread); got != st.want {
				t.Fatalf("step %d: claimed %d, want %d", i, got, st.want)
			}
		}
	})
}

// TestHeartbeatRemembersFailingWrites: the heartbeat is healthy while its
// row can be written, says why while it cannot (reads still work: this is
// what a full disk looks like), and counts its healthy time afresh once
// writes work again.
func TestHeartbeatRemembersFailingWrites(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		hb := s.NewHeartbeat(50 * time.Millisecond)
		done := make(chan struct{})
		go func() { hb.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		waitTrue(t, "a first beat", func() bool { return hb.Err() == nil })
		time.Sleep(200 * time.Millisecond)
		if up := hb.WritableFor(); up < 150*time.Millisecond {
			t.Fatalf("writable for %s after 200ms of beats", up)
		}

		db := store.DBForTest(s)
		refuse, allow := `CREATE TRIGGER heartbeats_full BEFORE UPDATE ON heartbeats
			BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`, "DROP TRIGGER heartbeats_full"
		if s.Dialect() == store.DialectPostgres {
			if err := db.Exec(`CREATE FUNCTION heartbeats_full() RETURNS trigger LANGUAGE plpgsql AS
				$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$`).Error; err != nil {
				t.Fatal(err)
			}
			refuse = "CREATE TRIGGER heartbeats_full BEFORE UPDATE ON heartbeats FOR EACH ROW EXECUTE FUNCTION heartbeats_full()"
			allow = "DROP TRIGGER heartbeats_full ON heartbeats"
		}
		if err := db.Exec(refuse).Error; err != nil {
			t.Fatal(err)
		}
		waitTrue(t, "the failure to show", func() bool { return hb.Err() != nil })
		if err := hb.Err(); !strings.Contains(err.Error(), "database write") || !strings.Contains(err.Error(), "full") &&
			!strings.Contains(err.Error(), "No space") {
			t.Fatalf("err %v", err)
		}
		if up := hb.WritableFor(); up != 0 {
			t.Fatalf("writable for %s while writes fail", up)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("ping: %v (the database still answers reads)", err)
		}
		if err := db.Exec(allow).Error; err != nil {
			t.Fatal(err)
		}
		waitTrue(t, "recovery", func() bool { return hb.Err() == nil })
		if up := hb.WritableFor(); up > 150*time.Millisecond {
			t.Fatalf("writable for %s right after recovering; it must count from the recovery", up)
		}
	})
}

func waitTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
