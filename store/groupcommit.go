package store

import (
	"fmt"
	"sync"
)

// groupMax is the most requests one shared transaction takes.
const groupMax = 64

// group commits the writes of concurrent callers together. Fifty people
// unsubscribing at once used to be fifty transactions queued on the
// writer (SQLite has one) or on the same counter rows (Postgres), each
// holding its place through its own commit, and the sender's transactions
// queued behind all of them. Through a group, whoever arrives while a
// transaction is open waits for it to end, and the first of the waiters
// then writes everything that arrived meanwhile in one transaction. Each
// caller still returns only after the transaction holding its write has
// committed (or failed), so nothing answered is less durable than before;
// the public writes just share a transaction and the counter rows it
// updates once.
//
// There is no goroutine of its own: the caller at the head of the queue
// does the writing, one batch, and hands the rest of the queue to the
// next caller.
type group[T any] struct {
	mu      sync.Mutex
	pending []*groupReq[T]
	running bool
}

type groupReq[T any] struct {
	in   T
	wake chan struct{}
	done bool
	err  error
}

// do queues in and returns its error once a batch holding it has been
// written by run, which gets at most groupMax inputs and returns one error
// for each.
func (g *group[T]) do(in T, run func([]T) []error) error {
	r := &groupReq[T]{in: in, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		<-r.wake
		g.mu.Lock()
		done := r.done
		g.mu.Unlock()
		if done {
			return r.err
		}
		// Woken at the head of the queue: this caller writes next.
	}
	g.mu.Lock()
	n := min(len(g.pending), groupMax)
	batch := make([]*groupReq[T], n)
	copy(batch, g.pending)
	g.pending = append(g.pending[:0:0], g.pending[n:]...)
	g.mu.Unlock()

	ins := make([]T, n)
	for i, q := range batch {
		ins[i] = q.in
	}
	errs := runSafely(run, ins)

	g.mu.Lock()
	for i, q := range batch {
		q.err, q.done = errs[i], true
		if q != r {
			q.wake <- struct{}{}
		}
	}
	if len(g.pending) > 0 {
		g.pending[0].wake <- struct{}{}
	} else {
		g.running = false
	}
	g.mu.Unlock()
	return r.err
}

// repeatErr is the one answer for all n callers of a batch: err for each
// (nil when the batch was written whole).
func repeatErr(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// runSafely runs a batch; a panic becomes every caller's error instead of
// leaving the queue without a writer.
func runSafely[T any](run func([]T) []error, ins []T) (errs []error) {
	defer func() {
		if p := recover(); p != nil {
			errs = repeatErr(len(ins), fmt.Errorf("group commit: %v", p))
		}
	}()
	errs = run(ins)
	if len(errs) != len(ins) {
		panic("group commit: one error per input")
	}
	return errs
}
