package api

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errTrackingBusy means an open or a click was not recorded because the
// process's tracking rate was spent for longer than a reader should wait.
var errTrackingBusy = errors.New("tracking rate spent: hit not recorded")

// pacer spaces events at a steady rate with a small allowance for bursts:
// each caller reserves the next free moment and sleeps until it. Waiting
// costs no CPU, so readers who click as fast as they are answered are
// slowed down instead of taking the cores from a send.
type pacer struct {
	every   time.Duration // between two events; 0: no limit
	burst   time.Duration // how far behind now the next moment may lag
	maxWait time.Duration // a caller whose moment is further away gives up
	when    func() bool   // pace only while this is true

	mu   sync.Mutex
	next time.Time
}

// newPacer paces at perSecond (0: never) while when reports true (nil:
// never).
func newPacer(perSecond int, maxWait time.Duration, when func() bool) *pacer {
	if perSecond <= 0 || when == nil {
		return &pacer{}
	}
	every := time.Second / time.Duration(perSecond)
	return &pacer{every: every, burst: 50 * every, maxWait: maxWait, when: when}
}

// wait returns when the caller's moment has come. A moment further away
// than maxWait (or beyond ctx's deadline) is given back and the caller
// waits maxWait anyway before errTrackingBusy, so that an overload slows
// its senders rather than answering them faster.
func (p *pacer) wait(ctx context.Context) error {
	if p.every == 0 || !p.when() {
		return nil
	}
	now := time.Now()
	p.mu.Lock()
	at := p.next
	if floor := now.Add(-p.burst); at.Before(floor) {
		at = floor
	}
	late := at.Sub(now) > p.maxWait
	if dl, ok := ctx.Deadline(); ok && at.After(dl) {
		late = true
	}
	if !late {
		p.next = at.Add(p.every)
	}
	p.mu.Unlock()
	d := at.Sub(now)
	if late {
		d = p.maxWait
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if late {
		return errTrackingBusy
	}
	return nil
}
