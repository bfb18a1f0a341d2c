package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api/ratelimit"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want ratelimit.Rate
		bad  bool
	}{
		{in: "30/1m", want: ratelimit.Rate{N: 30, Per: time.Minute}},
		{in: " 5/1h ", want: ratelimit.Rate{N: 5, Per: time.Hour}},
		{in: "0", want: ratelimit.Rate{}},
		{in: "30", bad: true},
		{in: "0/1m", bad: true},
		{in: "-1/1m", bad: true},
		{in: "5/fortnight", bad: true},
		{in: "5/10ms", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ratelimit.ParseRate(tc.in)
			if tc.bad != (err != nil) || got != tc.want {
				t.Fatalf("ParseRate(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

// TestRedisWindow counts in a real (in-process) Redis: N allowed, then
// refused with the time left, and a new window after it expires.
func TestRedisWindow(t *testing.T) {
	mr := miniredis.RunT(t)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rc.Close() })
	l := &ratelimit.Redis{C: rc, Prefix: "t:"}
	ctx := context.Background()
	r := ratelimit.Rate{N: 3, Per: time.Minute}
	for i := range 3 {
		if ok, _, err := l.Allow(ctx, "ip:192.0.2.1", r); !ok || err != nil {
			t.Fatalf("request %d refused: %v", i+1, err)
		}
	}
	ok, retry, err := l.Allow(ctx, "ip:192.0.2.1", r)
	if ok || err != nil || retry <= 0 || retry > time.Minute {
		t.Fatalf("fourth: ok=%v retry=%s err=%v", ok, retry, err)
	}
	if ok, _, _ := l.Allow(ctx, "ip:192.0.2.2", r); !ok {
		t.Fatal("another key was limited")
	}
	mr.FastForward(time.Minute + time.Second)
	if ok, _, _ := l.Allow(ctx, "ip:192.0.2.1", r); !ok {
		t.Fatal("still limited after the window")
	}
	if ok, _, _ := l.Allow(ctx, "x", ratelimit.Rate{}); !ok {
		t.Fatal("the zero rate limited")
	}
	mr.Close()
	if _, _, err := l.Allow(ctx, "ip:192.0.2.3", r); err == nil {
		t.Fatal("no error with Redis gone")
	}
}
