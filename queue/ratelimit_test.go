package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/queue"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want queue.Rate
		bad  bool
	}{
		{in: "30/1m", want: queue.Rate{N: 30, Per: time.Minute}},
		{in: " 5/1h ", want: queue.Rate{N: 5, Per: time.Hour}},
		{in: "0", want: queue.Rate{}},
		{in: "30", bad: true},
		{in: "0/1m", bad: true},
		{in: "-1/1m", bad: true},
		{in: "5/fortnight", bad: true},
		{in: "5/10ms", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := queue.ParseRate(tc.in)
			if tc.bad != (err != nil) || got != tc.want {
				t.Fatalf("ParseRate(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

// TestLimiterLetsABurstThenOneEveryInterval runs the GCRA in the
// embedded Redis on a simulated clock (miniredis's TIME, which the script
// reads): a Rate of 3/min lets 3 through at once, refuses the fourth
// saying to come back in 20 s, lets it through 20 s later, and keeps keys
// apart.
func TestLimiterLetsABurstThenOneEveryInterval(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mr.SetTime(clock)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rc.Close() })
	l := queue.NewLimiter(rc, "t:")
	ctx := context.Background()
	r := queue.Rate{N: 3, Per: time.Minute}
	for i := range 3 {
		if ok, _, err := l.Allow(ctx, "ip:192.0.2.1", r); !ok || err != nil {
			t.Fatalf("request %d refused: %v", i+1, err)
		}
	}
	ok, retry, err := l.Allow(ctx, "ip:192.0.2.1", r)
	if ok || err != nil || retry != 20*time.Second {
		t.Fatalf("fourth: ok=%v retry=%s err=%v, want refused for 20s", ok, retry, err)
	}
	if ok, _, _ := l.Allow(ctx, "ip:192.0.2.2", r); !ok {
		t.Fatal("another key was limited")
	}
	mr.SetTime(clock.Add(19 * time.Second))
	if ok, _, _ := l.Allow(ctx, "ip:192.0.2.1", r); ok {
		t.Fatal("let through 1 s before its turn")
	}
	mr.SetTime(clock.Add(20 * time.Second))
	if ok, _, _ := l.Allow(ctx, "ip:192.0.2.1", r); !ok {
		t.Fatal("still limited after the interval")
	}
	if ok, _, _ := l.Allow(ctx, "ip:192.0.2.1", r); ok {
		t.Fatal("a second request in the same interval was let through")
	}
	if ok, _, _ := l.Allow(ctx, "x", queue.Rate{}); !ok {
		t.Fatal("the zero rate limited")
	}
	mr.Close()
	if _, _, err := l.Allow(ctx, "ip:192.0.2.3", r); err == nil {
		t.Fatal("no error with Redis gone")
	}
}
