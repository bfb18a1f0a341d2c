// Package queue is the task queue between the API and the worker: the
// contract (task types, payloads and their constructors, the queue each
// goes on), the client that enqueues, opening Redis (embedded or real),
// and the rate limits kept in that Redis. The API and the worker both
// depend on it; it depends on neither.
package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Queue is what the API and the worker need of the task queue.
type Queue interface {
	Enqueue(ctx context.Context, t *asynq.Task) error
}

// Client enqueues through an asynq client, each task on the queue that
// Queues.For names for its type.
type Client struct {
	C *asynq.Client
	// Queues are the deployment's queue names (zero: DefaultQueues). A
	// worker given this Client serves the same ones: this field is the
	// one place they are set.
	Queues Queues
}

// Names are the queue names q enqueues on.
func (q Client) Names() Queues {
	if q.Queues == (Queues{}) {
		return DefaultQueues
	}
	return q.Queues
}

// NamesOf are the queue names q enqueues on: a Client's Names, and
// DefaultQueues for any other Queue (a test's stand-in).
func NamesOf(q Queue) Queues {
	if c, ok := q.(Client); ok {
		return c.Names()
	}
	return DefaultQueues
}

// Enqueue adds t. A task whose TaskID is already queued counts as
// enqueued: that is what the ids are for.
func (q Client) Enqueue(ctx context.Context, t *asynq.Task) error {
	_, err := q.C.EnqueueContext(ctx, t, asynq.Queue(q.Names().For(t.Type())))
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// Redis is a Redis connection for asynq, embedded or real.
type Redis struct {
	Client   redis.UniversalClient
	Embedded *miniredis.Miniredis // nil for a real server
}

// Open connects to the server at url (redis:// or rediss://), or,
// when url is empty, starts an in-process Redis. The embedded one keeps
// nothing across restarts; the worker's reconcile rebuilds the queue from
// the database.
func Open(ctx context.Context, url string, log *slog.Logger) (*Redis, error) {
	if url == "" {
		m := miniredis.NewMiniRedis()
		// ClockTTL makes keys with a TTL (task retention, uniqueness
		// locks) expire on the wall clock, as in a real Redis.
		m.ClockTTL(true)
		// Every local user can reach a loopback port, and the queue
		// holds subscriber ids and the rate limits: only this process
		// may talk to it. The password lives in memory for the life of
		// the server, which keeps nothing across restarts anyway.
		var k [24]byte
		if _, err := rand.Read(k[:]); err != nil {
			return nil, fmt.Errorf("embedded redis password: %w", err)
		}
		pw := hex.EncodeToString(k[:])
		m.RequireAuth(pw)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		log.Warn("using the EMBEDDED in-process Redis: fine for one process; set UTSKICK_REDIS_URL to scale out",
			"addr", m.Addr())
		return &Redis{Client: redis.NewClient(&redis.Options{Addr: m.Addr(), Password: pw}), Embedded: m}, nil
	}
	if !strings.HasPrefix(url, "redis://") && !strings.HasPrefix(url, "rediss://") && !strings.HasPrefix(url, "unix://") {
		return nil, fmt.Errorf("redis url %q: want redis://, rediss:// or unix://", url)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: %w", opt.Addr, err)
	}
	return &Redis{Client: c}, nil
}

// Ping checks Redis, for readiness probes.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.Client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// Close disconnects, and stops an embedded server.
func (r *Redis) Close() error {
	err := r.Client.Close()
	if r.Embedded != nil {
		r.Embedded.Close()
	}
	return err
}
