package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
)

func deliveries(t *testing.T, st *store.Store, campaignID int64) []store.DeliveryRow {
	t.Helper()
	var all []store.DeliveryRow
	var after int64
	for {
		rows, next, err := st.Deliveries(context.Background(), store.DeliveryQuery{CampaignID: campaignID, After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
		if next == 0 {
			return all
		}
		after = next
	}
}

// TestTemporaryFailuresAreRetried: a 451 on every 10th message; every
// recipient still gets exactly one accepted message, and the retried
// deliveries record their attempts.
func TestTemporaryFailuresAreRetried(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		s := newSink(t, "", 10)
		e := newSinkEnv(t, st, s, nil)
		f := seed(t, st, 200)
		e.start(t)
		e.schedule(t, f.camp.ID)
		stats := e.waitSent(t, f.camp.ID, 60*time.Second)
		if stats.Sent != 200 || stats.Failed != 0 {
			t.Fatalf("stats %+v", stats)
		}
		got := s.perRecipient()
		for _, sub := range f.subs {
			if got["<"+sub.Email+">"]+got[sub.Email] != 1 {
				t.Fatalf("%s accepted %d times", sub.Email, got[sub.Email])
			}
		}
		// Every DATA was one attempt of one delivery: the attempts the
		// deliveries record add up to what the server saw, and 451 on
		// every 10th of 200+ is at least 20 retries.
		attempts, retried := 0, 0
		for _, d := range deliveries(t, st, f.camp.ID) {
			attempts += d.Attempts
			if d.Attempts > 1 {
				retried++
			}
		}
		datas := int(s.datas.Load())
		if attempts != datas || datas-200 < 20 || retried == 0 {
			t.Fatalf("deliveries record %d attempts (%d retried); the server saw %d DATA commands", attempts, retried, datas)
		}
	})
}

// TestPermanentRejectionsFailAndSuppress: 550 5.1.1 for some recipients;
// they fail permanently with the server's text, no retry, and are
// suppressed as hard bounces so the next campaign skips them.
func TestPermanentRejectionsFailAndSuppress(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		s := newSink(t, "reader0000", 0) // reader00000..reader00009
		e := newSinkEnv(t, st, s, nil)
		f := seed(t, st, 60)
		e.start(t)
		e.schedule(t, f.camp.ID)
		stats := e.waitSent(t, f.camp.ID, 30*time.Second)
		if stats.Sent != 50 || stats.FailedPermanent != 10 || stats.FailedTemporary != 0 {
			t.Fatalf("stats %+v", stats)
		}
		for _, d := range deliveries(t, st, f.camp.ID) {
			if !strings.HasPrefix(d.Email, "reader0000") {
				continue
			}
			if d.Status != store.DeliveryFailed || d.SMTPCode != 550 || !strings.Contains(d.SMTPMessage, "no such user here") || d.Attempts != 1 {
				t.Fatalf("rejected delivery %+v", d)
			}
			if ok := storetest.Suppressed(t, st, d.Email); !ok {
				t.Fatalf("%s not suppressed", d.Email)
			}
		}
		// The next campaign is not even dispatched to them.
		c2 := &store.Campaign{Name: "Dec", Subject: "s", Body: "b", ListIDs: f.camp.ListIDs}
		if err := st.CreateCampaign(context.Background(), c2); err != nil {
			t.Fatal(err)
		}
		e.schedule(t, c2.ID)
		if st2 := e.waitSent(t, c2.ID, 30*time.Second); st2.Recipients != 50 || st2.Sent != 50 {
			t.Fatalf("second campaign %+v", st2)
		}
	})
}

// TestTemporaryFailuresBecomeFinalThenRetryFailed: a server that refuses
// everything with 451 until attempts run out; then retry-failed sends them
// once the server is fine.
func TestTemporaryFailuresBecomeFinalThenRetryFailed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		s := newSink(t, "", 1) // every DATA fails
		e := newSinkEnv(t, st, s, func(c *worker.Config) { c.Retry.MaxAttempts = 3; c.Retry.Base = 50 * time.Millisecond })
		f := seed(t, st, 20)
		e.start(t)
		e.schedule(t, f.camp.ID)
		stats := e.waitSent(t, f.camp.ID, 30*time.Second)
		if stats.FailedTemporary != 20 || stats.Sent != 0 {
			t.Fatalf("stats %+v", stats)
		}
		for _, d := range deliveries(t, st, f.camp.ID) {
			if d.Attempts != 3 || d.SMTPCode != 451 {
				t.Fatalf("delivery %+v", d)
			}
		}
		s.tempfailEvery.Store(0)
		c, n, err := st.RetryFailed(context.Background(), f.camp.ID)
		if err != nil || n != 20 || c.Status != store.CampaignSending {
			t.Fatalf("retry failed: %v %d %v", c, n, err)
		}
		// The API kicks the slots; here reconcile does it.
		stats = e.waitSent(t, f.camp.ID, 30*time.Second)
		if stats.Sent != 20 || stats.Failed != 0 {
			t.Fatalf("after retry %+v", stats)
		}
	})
}

// TestPauseResumeCancel: pause stops new sends within a second or two;
// resume finishes the campaign; cancel marks what is left cancelled.
func TestPauseResumeCancel(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s := newSink(t, "", 0)
		s.delay.Store(int64(10 * time.Millisecond))
		e := newSinkEnv(t, st, s, nil)
		f := seed(t, st, 600)
		e.start(t)
		e.schedule(t, f.camp.ID)
		waitFor(t, "sending", 20*time.Second, func() bool { return len(s.received()) >= 50 })
		if _, err := st.PauseCampaign(ctx, f.camp.ID, "test"); err != nil {
			t.Fatal(err)
		}
		pausedAt := time.Now()
		time.Sleep(1500 * time.Millisecond)
		n := len(s.received())
		for _, m := range s.received() {
			if m.at.After(pausedAt.Add(time.Second)) {
				t.Fatalf("a message was accepted %s after the pause", m.at.Sub(pausedAt))
			}
		}
		time.Sleep(700 * time.Millisecond)
		if len(s.received()) != n {
			t.Fatalf("still sending while paused: %d then %d", n, len(s.received()))
		}
		stats, _ := st.CampaignStats(ctx, f.camp.ID)
		if stats.Status != store.CampaignPaused || stats.Sending != 0 || stats.Sent != int64(n) {
			t.Fatalf("paused stats %+v (sink saw %d)", stats, n)
		}
		c, err := st.ResumeCampaign(ctx, f.camp.ID)
		if err != nil || c.Status != store.CampaignSending {
			t.Fatalf("resume: %v %v", c, err)
		}
		waitFor(t, "more sent", 20*time.Second, func() bool { return len(s.received()) >= n+100 })
		if _, err := st.CancelCampaign(ctx, f.camp.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		final := len(s.received())
		stats, _ = st.CampaignStats(ctx, f.camp.ID)
		if stats.Status != store.CampaignCancelled || stats.Sent != int64(final) || stats.Sent+stats.Cancelled != 600 || stats.Cancelled == 0 {
			t.Fatalf("cancelled stats %+v (sink saw %d)", stats, final)
		}
		for r, k := range s.perRecipient() {
			if k != 1 {
				t.Fatalf("%s got %d", r, k)
			}
		}
	})
}

// TestQueueLostMidCampaign: the queue's contents vanish (a Redis restart,
// a flush); reconcile rebuilds it from the rows and the campaign
// completes with everyone mailed once. The test empties only a Redis
// database of its own: a key in another database of the same server
// survives.
func TestQueueLostMidCampaign(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s := newSink(t, "", 0)
		s.delay.Store(int64(2 * time.Millisecond))
		e := &env{st: st}
		e.rcOnlyFlushable(t)
		e.wire(t, s.port(), func(c *worker.Config) { c.Senders.ClaimLease = 2 * time.Second })
		other := otherRedisDB(t, e)
		witness := fmt.Sprintf("utskick-test-witness-%d", time.Now().UnixNano())
		if err := other.Set(ctx, witness, "kept", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Del(context.Background(), witness) })
		f := seed(t, st, 400)
		e.start(t)
		e.schedule(t, f.camp.ID)
		waitFor(t, "sending", 20*time.Second, func() bool { return len(s.received()) >= 40 })
		if err := e.rc.Client.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := other.Get(ctx, witness).Result(); err != nil || v != "kept" {
			t.Fatalf("flushing the test's Redis database emptied another one too: %q, %v", v, err)
		}
		stats := e.waitSent(t, f.camp.ID, 60*time.Second)
		if stats.Sent != 400 {
			t.Fatalf("stats %+v", stats)
		}
		got := s.perRecipient()
		if len(got) != 400 {
			t.Fatalf("%d recipients reached, want 400", len(got))
		}
		for r, k := range got {
			if k != 1 {
				t.Fatalf("%s got %d", r, k)
			}
		}
	})
}

// otherRedisDB connects to a database of e's Redis server other than the
// one e uses.
func otherRedisDB(t *testing.T, e *env) *redis.Client {
	t.Helper()
	opt := &redis.Options{DB: 1}
	if e.rc.Embedded != nil {
		// The embedded server wants the password of the client that
		// started it.
		opt.Addr = e.rc.Embedded.Addr()
		if c, ok := e.rc.Client.(*redis.Client); ok {
			opt.Password = c.Options().Password
		}
	} else {
		var err error
		if opt, err = redis.ParseURL(redisURL()); err != nil {
			t.Fatal(err)
		}
		if opt.DB == flushableDB {
			opt.DB = 0
		}
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestServerGoingAwayReconnects: the server answers 421 for a while; the
// sender reopens its session and carries on, and nothing is lost.
func TestServerGoingAwayReconnects(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		s := newSink(t, "", 0)
		e := newSinkEnv(t, st, s, func(c *worker.Config) { c.Retry.Base = 100 * time.Millisecond })
		f := seed(t, st, 150)
		e.start(t)
		s.delay.Store(int64(3 * time.Millisecond))
		e.schedule(t, f.camp.ID)
		waitFor(t, "sending", 20*time.Second, func() bool { return len(s.received()) >= 20 })
		s.down.Store(true)
		time.Sleep(500 * time.Millisecond)
		s.down.Store(false)
		stats := e.waitSent(t, f.camp.ID, 60*time.Second)
		if stats.Sent != 150 || stats.Failed != 0 {
			t.Fatalf("stats %+v", stats)
		}
		for r, k := range s.perRecipient() {
			if k != 1 {
				t.Fatalf("%s got %d", r, k)
			}
		}
	})
}
