package worker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/storsthlm/utskick/store"
)

// committer writes delivery outcomes as soon as they are known. Senders
// hand it each outcome the moment the SMTP server answers; it writes
// whatever has gathered while its previous write ran, in one statement.
// Under load that is a group commit of dozens of rows; when idle, a single
// row goes straight through. The crash window (accepted by SMTP, not yet
// recorded) is therefore one write long.
// gatherWindow is how long the committer waits for more outcomes before
// writing. It is a trade: BenchmarkRecordOutcomes (store) puts a SQLite
// commit at a few hundred µs plus ~15 µs a row, so groups of one cost many
// times more per delivery than groups of dozens; but every outcome waiting
// here is a message that a SIGKILL would have sent again. At 10 ms and a
// few thousand messages a second, that is a few dozen per kill (see
// TestKill9ThreeTimes), all with their original Message-ID.
const gatherWindow = 10 * time.Millisecond

// UnrecordedPerConn bounds the crash window whatever the database's write
// latency: a sender takes room before it hands a message to the SMTP
// server and the room is freed when the outcome is written, so no more
// than this many per SMTP connection are sent and not yet recorded. A
// SIGKILL therefore resends at most SMTPConnections × UnrecordedPerConn
// messages. When writes are quick the room is never full (a few dozen
// outcomes gather in gatherWindow at full speed); when they are slow,
// senders wait for the database instead of running ahead of it.
const UnrecordedPerConn = 8

type committer struct {
	st  *store.Store
	log *slog.Logger
	in  chan commitReq
	// room holds a token per sent message whose outcome is not yet
	// written; its capacity is the crash window.
	room chan struct{}
	// retryMax caps the wait between attempts to write a group the
	// database refused, so that the outcomes land soon after it is back
	// (well inside a claim lease: see Handlers.requeueExpired).
	retryMax time.Duration
	// written, if set, is told the campaigns of each group just written
	// (the guardrail checks their rates there, on committed numbers).
	written func(campaigns []int64)
}

type commitReq struct {
	out      store.Outcome
	campaign int64         // of the outcome, for written
	roomed   bool          // holds a room token, freed once written
	barrier  chan struct{} // closed when everything before it is written
}

func newCommitter(st *store.Store, log *slog.Logger, unrecorded int, retryMax time.Duration) *committer {
	return &committer{st: st, log: log, in: make(chan commitReq, 1024),
		room: make(chan struct{}, max(unrecorded, 1)), retryMax: retryMax}
}

// errStopWaiting is reserve's answer when stop closed first.
var errStopWaiting = errors.New("stopped waiting for room")

// reserve takes room for the outcome of a message about to be sent,
// waiting while the crash window is full, unless ctx ends or stop closes.
func (c *committer) reserve(ctx context.Context, stop <-chan struct{}) error {
	select {
	case c.room <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return errStopWaiting
	}
}

// unreserve gives back room taken for a message that was not sent after
// all.
func (c *committer) unreserve() { <-c.room }

// addFor queues an outcome of campaign id that needs no room: nothing was
// sent. It blocks while 1024 are waiting (the database is slow or away),
// which slows the senders instead of piling up memory.
func (c *committer) addFor(id int64, o store.Outcome) { c.in <- commitReq{out: o, campaign: id} }

// addSent queues the outcome of a message sent under room taken by
// reserve.
func (c *committer) addSent(id int64, o store.Outcome) {
	c.in <- commitReq{out: o, campaign: id, roomed: true}
}

// flush waits until every outcome added before it is written.
func (c *committer) flush(ctx context.Context) error {
	b := make(chan struct{})
	select {
	case c.in <- commitReq{barrier: b}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes outcomes until stop is closed and everything queued before
// it is written.
func (c *committer) run(stop <-chan struct{}) {
	batch := make([]store.Outcome, 0, 256)
	var barriers []chan struct{}
	for {
		var first commitReq
		select {
		case first = <-c.in:
		case <-stop:
			// Drain what is left, then stop.
			select {
			case first = <-c.in:
			default:
				return
			}
		}
		batch, barriers = batch[:0], barriers[:0]
		var campaigns []int64
		roomed := 0
		take := func(r commitReq) {
			if r.barrier != nil {
				barriers = append(barriers, r.barrier)
			} else {
				batch = append(batch, r.out)
				if r.roomed {
					roomed++
				}
				if r.campaign != 0 && !slices.Contains(campaigns, r.campaign) {
					campaigns = append(campaigns, r.campaign)
				}
			}
		}
		take(first)
		// Gather for up to gatherWindow. A barrier (a sender waiting to
		// finish) ends the wait at once, and so does a full crash window:
		// the senders wait for this write, so it takes what is queued and
		// goes.
		deadline := time.NewTimer(gatherWindow)
	more:
		for len(batch) < cap(batch) && len(barriers) == 0 {
			if len(c.room) == cap(c.room) {
				select {
				case r := <-c.in:
					take(r)
					continue
				default:
					break more
				}
			}
			select {
			case r := <-c.in:
				take(r)
			case <-deadline.C:
				break more
			}
		}
		deadline.Stop()
		c.write(batch)
		for range roomed {
			<-c.room
		}
		for _, b := range barriers {
			close(b)
		}
		if c.written != nil && len(campaigns) > 0 {
			c.written(campaigns)
		}
	}
}

// write retries until the database takes the outcomes: they are facts
// about mail already sent and must not be dropped. If the process dies
// meanwhile, the rows are still "sending" and their lease runs out, so
// they are sent again with the same Message-ID.
func (c *committer) write(batch []store.Outcome) {
	if len(batch) == 0 {
		return
	}
	wait := 100 * time.Millisecond
	for {
		err := c.st.RecordOutcomes(context.Background(), batch)
		if err == nil {
			return
		}
		c.log.Error("record delivery outcomes; retrying", "rows", len(batch), "err", err, "retry_in", wait)
		time.Sleep(wait)
		wait = min(wait*2, c.retryMax)
	}
}
