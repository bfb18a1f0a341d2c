// Package ratelimit counts requests per key in fixed windows kept in
// Redis, so that every API process shares one count: a limit per client IP
// holds however many processes sit behind the load balancer. In the
// embedded mode the Redis is the in-process one, and the code path is the
// same.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rate is N events per Per. The zero Rate means no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Unlimited reports whether r sets no limit.
func (r Rate) Unlimited() bool { return r.N <= 0 || r.Per <= 0 }

func (r Rate) String() string {
	if r.Unlimited() {
		return "0"
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

// ParseRate reads "N/duration" ("30/1m", "5/1h") or "0" for no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, errors.New(`want N/duration like "30/1m", or 0 for no limit`)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count <= 0 {
		return Rate{}, fmt.Errorf("%q: want a positive count before the /", n)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second {
		return Rate{}, fmt.Errorf("%q: want a duration of at least 1s after the /", per)
	}
	return Rate{N: count, Per: d}, nil
}

// Limiter answers whether one more event under a key is allowed.
type Limiter interface {
	Allow(ctx context.Context, key string, r Rate) (ok bool, retryAfter time.Duration, err error)
}

// Redis is a fixed-window Limiter on a Redis shared by all processes.
type Redis struct {
	C      redis.UniversalClient
	Prefix string // keeps tests and deployments sharing a server apart
}

// window counts one event and returns the count and the time left in the
// window. The expiry is set only by the first event, and set again if it
// is missing, so a key never outlives its window.
var window = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// Allow counts one event under key and reports whether it is within r.
func (l *Redis) Allow(ctx context.Context, key string, r Rate) (bool, time.Duration, error) {
	if r.Unlimited() {
		return true, 0, nil
	}
	k := fmt.Sprintf("%sratelimit:%s:%d", l.Prefix, key, r.Per.Milliseconds())
	res, err := window.Run(ctx, l.C, []string{k}, r.Per.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("rate limit %s: unexpected reply %v", key, res)
	}
	if res[0] > int64(r.N) {
		return false, time.Duration(res[1]) * time.Millisecond, nil
	}
	return true, 0, nil
}
