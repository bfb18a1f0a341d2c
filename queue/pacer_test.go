package queue

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// simClock is a simulated clock shared by the pacers of a test and by
// the embedded Redis, whose TIME the GCRA script reads: sleeping moves
// it on at once.
type simClock struct {
	mr  *miniredis.Miniredis
	now time.Time
}

func (c *simClock) Now() time.Time { return c.now }

func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		c.now = c.now.Add(d)
		c.mr.SetTime(c.now)
	}
	return ctx.Err()
}

// TestPacerHoldsTheRateAcrossWorkers runs two pacers on one key (as two
// worker processes would, each with its own local slots) at a shared 50
// messages a second for 20 simulated seconds, the two taking turns, and
// checks that together they sent 1000 ± 1 % and each had a fair share.
// The clock is simulated, so the test takes milliseconds, not the 20 s
// it models.
func TestPacerHoldsTheRateAcrossWorkers(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := &simClock{mr: mr, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	mr.SetTime(clock.now)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()

	var pacers [2]*Pacer
	for i := range pacers {
		p := NewPacer(rc, "utskick:test:send-rate", 50)
		p.now, p.sleep = clock.Now, clock.Sleep
		pacers[i] = p
	}
	start := clock.now
	var sent [2]int
	for i := 0; clock.now.Sub(start) < 20*time.Second; i++ {
		w := i % 2
		if err := pacers[w].Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if clock.now.Sub(start) < 20*time.Second {
			sent[w]++
		}
	}
	n := sent[0] + sent[1]
	t.Logf("%d messages in 20 simulated seconds (%v) at a limit of 50/s", n, sent)
	if n < 990 || n > 1010 {
		t.Fatalf("%d messages in 20 s at a limit of 50/s: want 1000 ± 1%%", n)
	}
	if sent[0] < 400 || sent[1] < 400 {
		t.Fatalf("workers sent %v: the limit was not shared", sent)
	}
}

// TestPacerKeepsAFractionalRate: half a message a second is one every two
// seconds, not none and not one a second.
func TestPacerKeepsAFractionalRate(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := &simClock{mr: mr, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	mr.SetTime(clock.now)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rc.Close() })
	p := NewPacer(rc, "slow", 0.5)
	p.now, p.sleep = clock.Now, clock.Sleep
	start := clock.now
	for range 11 {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := clock.now.Sub(start); got != 20*time.Second {
		t.Fatalf("11 messages at 0.5/s took %s, want 20s", got)
	}
}
