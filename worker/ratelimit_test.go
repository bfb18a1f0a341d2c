package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
)

// TestSendRateIsHeldAcrossWorkers runs two workers (as two processes
// would: their own SMTP sessions and senders, one Redis, one database) at
// a shared limit of 50 messages a second, and checks the rate over 20
// seconds is within 5%.
func TestSendRateIsHeldAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 25 s")
	}
	st := storetest.Open(t)
	s := newSink(t, "", 0)
	f := seed(t, st, 1500)
	key := "utskick:test:rate:" + time.Now().Format("150405.000000")
	limit := func(e *env) func(*worker.Deps) {
		return func(d *worker.Deps) { d.Limiter = worker.NewRedisLimiter(e.rc.Client, key, 50) }
	}
	first := &env{st: st}
	first.rcOnly(t)
	first.deps = limit(first)
	// More slots than one worker runs at once, so both get work.
	slots := func(c *worker.Config) { c.Slots = 8 }
	first = first.wire(t, s.port(), slots)
	second := first.secondWorker(t, s, slots, limit(first))
	first.start(t)
	second.start(t)
	first.schedule(t, f.camp.ID)
	waitFor(t, "first message", 10*time.Second, func() bool { return len(s.received()) > 0 })
	time.Sleep(2 * time.Second) // past the start
	from := len(s.received())
	time.Sleep(20 * time.Second)
	n := len(s.received()) - from
	t.Logf("%d messages in 20 s (%.1f/s) at a limit of 50/s", n, float64(n)/20)
	if n < 950 || n > 1050 {
		t.Fatalf("%d messages in 20 s at a limit of 50/s: want 1000 ± 5%%", n)
	}
	if first.h.Sent() < 200 || second.h.Sent() < 200 {
		t.Fatalf("workers sent %d and %d: the limit was not shared by two busy workers", first.h.Sent(), second.h.Sent())
	}
	st.PauseCampaign(context.Background(), f.camp.ID, "test over")
}
