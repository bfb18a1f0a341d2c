package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Rate limits, one approach for all of them: the generic cell rate
// algorithm (GCRA) of github.com/go-redis/redis_rate, kept in the Redis
// that every API and worker process shares, on Redis's clock so that
// processes on different machines agree. The API asks it whether a
// request may pass (Limiter); the worker's senders wait for their turn
// (Pacer). It runs the same on the embedded Redis.

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

// Limiter answers whether one more event under a key is allowed. With
// GCRA a Rate of N per Per lets a burst of N through at once and then one
// more every Per/N: a client that waits the retryAfter it was told is let
// in, rather than after the rest of a fixed window.
type Limiter struct {
	l      *redis_rate.Limiter
	prefix string
}

// NewLimiter keeps its state in rc under keys that start with prefix
// (which keeps tests and deployments sharing a server apart).
func NewLimiter(rc redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(rc), prefix: prefix}
}

// Allow counts one event under key and reports whether it is within r,
// and if not, when it would be.
func (l *Limiter) Allow(ctx context.Context, key string, r Rate) (ok bool, retryAfter time.Duration, err error) {
	if r.Unlimited() {
		return true, 0, nil
	}
	k := fmt.Sprintf("%sratelimit:%s:%d", l.prefix, key, r.Per.Milliseconds())
	res, err := l.l.Allow(ctx, k, redis_rate.Limit{Rate: r.N, Burst: r.N, Period: r.Per})
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if res.Allowed == 0 {
		return false, max(res.RetryAfter, time.Millisecond), nil
	}
	return true, 0, nil
}

// Pacer paces sending to a rate shared by every worker process. Asking
// Redis once per message would cost a round trip each; instead a pacer
// takes the slots of about 20 ms at a time (the limit's burst) and spaces
// them out locally. Over a minute that holds the rate to well within a
// percent.
type Pacer struct {
	l        *redis_rate.Limiter
	key      string
	limit    redis_rate.Limit
	interval time.Duration // between two messages at the rate
	chunk    int           // slots taken per round trip

	// now and sleep are the clock; tests simulate it.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu   sync.Mutex
	next time.Time // when the next local slot may be used
	left int       // local slots still held
}

// NewPacer paces to perSecond messages a second across all processes
// that use key.
func NewPacer(rc redis.UniversalClient, key string, perSecond float64) *Pacer {
	chunk := max(1, int(math.Ceil(perSecond*0.02)))
	// redis_rate counts whole events per period: a period of 1000 s keeps
	// three decimals of a fractional rate such as 0.5/s.
	n := max(1, int(math.Round(perSecond*1000)))
	return &Pacer{
		l: redis_rate.NewLimiter(rc), key: key, chunk: chunk,
		limit:    redis_rate.Limit{Rate: n, Burst: chunk, Period: 1000 * time.Second},
		interval: time.Duration(float64(time.Second) / perSecond),
		now:      time.Now, sleep: sleepCtx,
	}
}

// Wait blocks until the caller may send one message.
func (p *Pacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	for p.left == 0 {
		res, err := p.l.AllowN(ctx, p.key, p.limit, p.chunk)
		if err != nil {
			p.mu.Unlock()
			return fmt.Errorf("send rate limit: %w", err)
		}
		if res.Allowed == p.chunk {
			p.next, p.left = p.now(), p.chunk
			break
		}
		// Other processes took the slots: wait until ours would fit.
		// Holding the lock keeps this process's senders in line behind
		// the one asking.
		if err := p.sleep(ctx, max(res.RetryAfter, time.Millisecond)); err != nil {
			p.mu.Unlock()
			return err
		}
	}
	at := p.next
	p.next = p.next.Add(p.interval)
	p.left--
	p.mu.Unlock()
	return p.sleep(ctx, at.Sub(p.now()))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
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
