package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// schema0009 is a row per running process that its Heartbeat rewrites
// every few seconds: a real write, which a read-only ping cannot stand
// for (SQLite answers a ping with a full disk).
const schema0009 = `
CREATE TABLE heartbeats (
	process VARCHAR(100) PRIMARY KEY,
	beat_at {{ts}} NOT NULL
)`

// Heartbeat proves that the database takes writes: it rewrites one small
// row of this process every interval and remembers how that went, so
// that readiness probes can ask as often as they like without writing,
// and so that handing back the claims of senders that stopped renewing
// them can wait until the database has been writable for a while.
type Heartbeat struct {
	st      *Store
	process string
	every   time.Duration
	timeout time.Duration

	mu      sync.Mutex
	lastOK  time.Time
	okSince time.Time // first success after the last failure
	lastErr error
}

// NewHeartbeat returns a heartbeat that writes every interval once Run
// starts.
func (s *Store) NewHeartbeat(every time.Duration) *Heartbeat {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return &Heartbeat{st: s, process: fmt.Sprintf("%.60s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:])),
		every: every, timeout: max(every, 2*time.Second)}
}

// Run writes the row now and then every interval until ctx ends, then
// removes it. Rows of processes gone for a day are removed at start.
func (h *Heartbeat) Run(ctx context.Context) {
	old := h.st.now().Add(-24 * time.Hour)
	h.st.writer(ctx).Exec("DELETE FROM heartbeats WHERE beat_at < ?", old)
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		h.Beat(ctx)
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			h.st.writer(dctx).Exec("DELETE FROM heartbeats WHERE process = ?", h.process)
			cancel()
			return
		case <-t.C:
		}
	}
}

// Beat writes the row once and records the result.
func (h *Heartbeat) Beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	err := h.st.writer(ctx).Exec(`INSERT INTO heartbeats (process, beat_at) VALUES (?, ?)
		ON CONFLICT (process) DO UPDATE SET beat_at = excluded.beat_at`, h.process, h.st.now()).Error
	if err != nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return err // shutting down: not the database's fault
	}
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.lastErr, h.okSince = fmt.Errorf("database write: %w", err), time.Time{}
		return h.lastErr
	}
	if h.okSince.IsZero() {
		h.okSince = now
	}
	h.lastErr, h.lastOK = nil, now
	return nil
}

// Err is nil while the latest write succeeded and is recent; otherwise
// it says what is wrong.
func (h *Heartbeat) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.lastErr != nil:
		return h.lastErr
	case h.lastOK.IsZero():
		return errors.New("database write: not tried yet")
	case time.Since(h.lastOK) > 2*h.every+h.timeout:
		return fmt.Errorf("database write: none succeeded for %s", time.Since(h.lastOK).Round(time.Second))
	}
	return nil
}

// WritableFor is how long every write of the heartbeat has succeeded,
// from the first success after the last failure; zero while failing.
func (h *Heartbeat) WritableFor() time.Duration {
	if h.Err() != nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Since(h.okSince)
}
