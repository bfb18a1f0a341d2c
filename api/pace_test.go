package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPacerSpacesCallersOnlyWhileASendRuns(t *testing.T) {
	var sending atomic.Bool
	p := newPacer(50, time.Second, sending.Load) // one every 20 ms
	p.burst = 0
	ctx := context.Background()

	start := time.Now()
	for range 10 {
		if err := p.wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("no send running: 10 waits took %s, want no pacing", d)
	}

	sending.Store(true)
	start = time.Now()
	for range 6 {
		if err := p.wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("during a send: 6 waits at 50 a second took %s, want at least 100 ms", d)
	}
}

func TestPacerGivesUpAfterMaxWaitAndReservesNothingForIt(t *testing.T) {
	p := newPacer(10, 150*time.Millisecond, func() bool { return true }) // one every 100 ms
	p.burst = 0
	ctx := context.Background()
	var wg sync.WaitGroup
	var busy, ok atomic.Int32
	start := time.Now()
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := p.wait(ctx); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, errTrackingBusy):
				busy.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Moments at 0 and 100 ms fit within the 150 ms horizon; the other
	// three wait the horizon and are told the rate is spent.
	if ok.Load() != 2 || busy.Load() != 3 {
		t.Fatalf("%d paced, %d busy; want 2 and 3", ok.Load(), busy.Load())
	}
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Fatalf("the busy callers returned after %s; they must wait the horizon", d)
	}
	// Giving up reserved nothing: the next moment is 200 ms after start.
	if got := p.next.Sub(start); got > 250*time.Millisecond {
		t.Fatalf("next moment %s after start; the busy callers kept theirs", got)
	}
}

func TestPacerStopsWaitingWhenTheRequestEnds(t *testing.T) {
	p := newPacer(1, 5*time.Second, func() bool { return true })
	p.burst = 0
	if err := p.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, errTrackingBusy) {
		t.Fatalf("err %v, want the request's end or busy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waited %s past the request's end", d)
	}
}
