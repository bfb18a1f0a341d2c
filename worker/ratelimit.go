package worker

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLimiter paces sending to a rate shared by every worker process,
// kept in Redis with the generic cell rate algorithm: one key holds the
// theoretical arrival time of the next message, on Redis's clock so that
// workers on different machines agree.
//
// Asking Redis once per message would cost a round trip each; instead a
// worker reserves the slots of about 20 ms at a time and spaces them out
// locally. Over a minute that holds the rate to well within a percent.
type RedisLimiter struct {
	rc       redis.UniversalClient
	key      string
	interval time.Duration // between two messages at the rate
	chunk    int           // slots reserved per round trip

	mu   sync.Mutex
	next time.Time // when the next local slot may be used
	left int       // local slots still reserved
}

// gcraReserve reserves ARGV[2] slots of ARGV[1] µs each and returns how
// many µs from now the first may be used.
var gcraReserve = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
redis.call('SET', KEYS[1], tostring(tat + interval * n), 'PX', math.floor((tat + interval * n - now) / 1000) + 60000)
return tat - now
`)

// NewRedisLimiter paces to rate messages per second across all processes
// using key.
func NewRedisLimiter(rc redis.UniversalClient, key string, rate float64) *RedisLimiter {
	interval := time.Duration(float64(time.Second) / rate)
	chunk := max(1, int(math.Ceil(rate*0.02)))
	return &RedisLimiter{rc: rc, key: key, interval: interval, chunk: chunk}
}

// Wait blocks until the caller may send one message.
func (l *RedisLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	if l.left == 0 {
		wait, err := gcraReserve.Run(ctx, l.rc, []string{l.key}, l.interval.Microseconds(), l.chunk).Int64()
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("send rate limit: %w", err)
		}
		l.next, l.left = time.Now().Add(time.Duration(wait)*time.Microsecond), l.chunk
	}
	at := l.next
	l.next = l.next.Add(l.interval)
	l.left--
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DomainLimits bounds concurrent SMTP transactions per recipient domain
// in one process, so that one provider is not flooded by all senders at
// once. A limit of 0 means none.
type DomainLimits struct {
	def  int
	sems sync.Map // domain → chan struct{}
	max  map[string]int
}

// ParseDomainLimits reads "gmail.com=4,outlook.com=2,*=8".
func ParseDomainLimits(s string) (*DomainLimits, error) {
	d := &DomainLimits{max: map[string]int{}}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		dom, n, ok := strings.Cut(f, "=")
		var k int
		if _, err := fmt.Sscanf(n, "%d", &k); !ok || err != nil || k < 0 || dom == "" {
			return nil, fmt.Errorf("%q: want domain=limit", f)
		}
		if dom == "*" {
			d.def = k
		} else {
			d.max[strings.ToLower(dom)] = k
		}
	}
	return d, nil
}

// Acquire waits for a slot for the domain of addr and returns its release.
func (d *DomainLimits) Acquire(ctx context.Context, addr string) (func(), error) {
	if d == nil {
		return func() {}, nil
	}
	dom := strings.ToLower(domainOf(addr))
	n, ok := d.max[dom]
	if !ok {
		n = d.def
	}
	if n == 0 {
		return func() {}, nil
	}
	v, _ := d.sems.LoadOrStore(dom, make(chan struct{}, n))
	sem := v.(chan struct{})
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
