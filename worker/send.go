package worker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker/mailer"
)

// recheckEvery bounds how stale a sender's view of the subscriptions in its
// claimed batch may be: a withdrawal is honoured for every message that
// starts later than this and half of it (the withdrawal mark is shared
// for that long) after it.
const recheckEvery = 50 * time.Millisecond

// send is one sender slot: it claims due deliveries of the campaign in
// small batches and sends them over one SMTP session until none is left,
// the campaign is paused or cancelled, or the process drains.
func (h *Handlers) send(ctx context.Context, t *asynq.Task) error {
	var p queue.SendPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	e, err := h.compiled(ctx, p.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("send campaign %d: %w", p.CampaignID, err)
	}
	if e.statusNow() != store.CampaignSending {
		return nil
	}
	// The links are stored before the first tracked message goes out, so
	// every click token already has its target. The campaign is frozen
	// while it sends; a second save keeps the first.
	if err := h.st.SaveCampaignLinks(ctx, p.CampaignID, e.Compiled.Links()); err != nil {
		return fmt.Errorf("send campaign %d: %w", p.CampaignID, err)
	}
	if n := h.sending; n != nil {
		n.Add(1)
		defer n.Add(-1)
	}
	s := &sender{h: h, e: e, slot: p.Slot, smtp: session{p: h.pool}, cur: newDraft(), next: newDraft()}
	defer s.smtp.release()
	log := h.log.With("campaign_id", p.CampaignID, "slot", p.Slot, "task_id", taskID(ctx))
	for {
		if h.isDraining() {
			return nil
		}
		st, err := h.currentStatus(ctx, e)
		if err != nil {
			return fmt.Errorf("campaign %d status: %w", p.CampaignID, err)
		}
		if st != store.CampaignSending {
			log.Info("sender stops", "status", st)
			return nil
		}
		more, err := s.batch(ctx)
		if err != nil {
			if ferr := h.commits.flush(ctx); ferr != nil {
				log.Warn("flush outcomes", "err", ferr)
			}
			return err
		}
		if !more {
			break
		}
	}
	if err := h.commits.flush(ctx); err != nil {
		return fmt.Errorf("campaign %d: flush outcomes: %w", p.CampaignID, err)
	}
	next, err := h.st.NextAttemptAt(ctx, p.CampaignID)
	if err != nil {
		return fmt.Errorf("campaign %d: %w", p.CampaignID, err)
	}
	if !next.IsZero() {
		// Deliveries wait for a retry: come back for them.
		return &retryAfter{d: time.Until(next), reason: "deliveries wait for a retry"}
	}
	done, err := h.st.FinishCampaign(ctx, p.CampaignID)
	if err != nil {
		return fmt.Errorf("campaign %d: %w", p.CampaignID, err)
	}
	if done {
		log.Info("campaign sent")
		h.forget(p.CampaignID)
	}
	return nil
}

func taskID(ctx context.Context) string {
	id, _ := asynq.GetTaskID(ctx)
	return id
}

// sender is the state of one slot while it runs.
type sender struct {
	h    *Handlers
	e    *campaignEntry
	slot int
	smtp session
	// cur is the message about to be sent; next is written while cur is
	// on the wire (see prepare).
	cur, next *draft
	// dialFailures counts failed dials in a row, for backoff.
	dialFailures int
}

// draft is one recipient's message, rendered and signed, with the
// buffers it is written in.
type draft struct {
	buf        *bytes.Buffer
	sig        *bytes.Buffer // buf signed
	deliveryID int64         // the delivery it is for; 0: none
	now        time.Time     // the time it was written at (its Date)
	msg        []byte        // what goes on the wire
	err        error         // signing failed: not to be sent
}

func newDraft() *draft {
	return &draft{buf: bytes.NewBuffer(make([]byte, 0, 64<<10)), sig: bytes.NewBuffer(make([]byte, 0, 64<<10))}
}

// prepare writes and signs r's message into d. It touches nothing but d,
// so it runs while the previous message is on the wire: the SMTP server's
// answer takes about as long as writing and signing a message, and a
// sender that did both in turn left its connection idle for the whole
// compose and signature (with DKIM, more than the server's own time).
func (s *sender) prepare(d *draft, r *store.Recipient, tracking map[int64]store.Tracking, now time.Time) {
	h := s.h
	d.buf.Reset()
	rcpt := h.compose.Recipient(s.e.camp.ID, s.e.From, *r, now)
	h.compose.Track(rcpt, r.DeliveryID, tracking[r.SubscriberID])
	s.e.Compiled.WriteMessage(d.buf, rcpt, mailtemplates.WriteOptions{})
	d.deliveryID, d.now = r.DeliveryID, now
	d.msg, d.err = h.signedCached(d.sig, d.buf.Bytes(), &s.e.bodies)
}

func newClaimToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// batch claims and sends one batch. It reports whether there may be more.
func (s *sender) batch(ctx context.Context) (bool, error) {
	h, id := s.h, s.e.camp.ID
	token := newClaimToken()
	// The mark is read before the claim looks at the recipients'
	// subscriptions: a withdrawal that commits after the claim's look
	// then moves it past this value, and the first recheck sees it.
	// Read after the claim, it could already include such a withdrawal,
	// which no recheck of the batch would then notice.
	mark, err := h.withdrawalMark(ctx)
	if err != nil {
		return false, fmt.Errorf("campaign %d: %w", id, err)
	}
	claimedAt := time.Now()
	res, err := h.st.ClaimDeliveries(ctx, store.ClaimParams{
		CampaignID: id, Limit: h.cfg.Senders.BatchSize, Spread: h.spread(), Token: token,
		Lease: h.cfg.Senders.ClaimLease, MessageIDSuffix: h.compose.MessageIDSuffix(s.e.From),
	})
	if err != nil {
		return false, fmt.Errorf("campaign %d: %w", id, err)
	}
	if len(res.Recipients) == 0 {
		return res.Withdrawn > 0, nil
	}
	// Keep the lease alive while this batch is worked on, and know until
	// when it surely holds: rows whose lease ran out may be handed to
	// another sender, so none of them is sent after that.
	var heldUntil atomic.Int64
	heldUntil.Store(claimedAt.Add(h.cfg.Senders.ClaimLease).UnixNano())
	stopRenew := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(h.cfg.Senders.ClaimLease / 3)
		defer tick.Stop()
		for {
			select {
			case <-stopRenew:
				return
			case <-tick.C:
				at := time.Now()
				// A renewal that takes a whole lease is no renewal.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.Senders.ClaimLease)
				err := h.st.ExtendClaims(rctx, token, h.cfg.Senders.ClaimLease)
				cancel()
				if err != nil {
					h.log.Warn("extend claim", "campaign_id", id, "err", err)
					continue
				}
				heldUntil.Store(at.Add(h.cfg.Senders.ClaimLease).UnixNano())
			}
		}
	}()
	defer func() { close(stopRenew); <-renewed }()

	rs := res.Recipients
	// The claim checked every recipient's subscription and suppression.
	// Withdrawals that land while this batch is sent move the withdrawal
	// mark (store.WithdrawalMark).
	checkedAt := h.now()
	var withdrawn map[int64]bool
	var tracking map[int64]store.Tracking
	if s.e.Compiled.Tracks() != (mailtemplates.Tracking{}) {
		ids := make([]int64, len(rs))
		for i, r := range rs {
			ids[i] = r.SubscriberID
		}
		if tracking, err = h.st.DeliveryTracking(ctx, id, ids); err != nil {
			s.release(ctx, token, rs)
			return false, err
		}
	}
	for i := range rs {
		r := &rs[i]
		// Stop between messages for a drain, a pause or a cancel; what is
		// not yet tried goes back untouched.
		st, err := h.currentStatus(ctx, s.e)
		if err != nil || st != store.CampaignSending || h.isDraining() || ctx.Err() != nil {
			s.release(ctx, token, rs[i:])
			return false, err
		}
		if now := h.now(); now.Sub(checkedAt) > recheckEvery {
			if withdrawn, mark, err = s.recheck(ctx, rs[i:], mark, withdrawn); err != nil {
				s.release(ctx, token, rs[i:])
				return false, err
			}
			checkedAt = now
		}
		if withdrawn[r.SubscriberID] {
			h.commits.addFor(id, store.Outcome{DeliveryID: r.DeliveryID, Status: store.DeliverySuppressed,
				SMTPMessage: "not sent: unsubscribed or suppressed before sending", At: h.now()})
			h.met.Send(store.DeliverySuppressed, 0)
			continue
		}
		if h.lim != nil {
			if err := h.lim.Wait(ctx); err != nil {
				s.release(ctx, token, rs[i:])
				return false, err
			}
		}
		if time.Until(time.Unix(0, heldUntil.Load())) < h.cfg.Senders.ClaimLease/4 {
			// The database has not taken a renewal for a while: stop
			// before the lease can run out under a message.
			s.release(ctx, token, rs[i:])
			h.log.Warn("claim lease not renewed; sender stops", "campaign_id", id)
			return false, &retryAfter{d: h.cfg.Senders.ClaimLease, reason: "claim lease not renewed"}
		}
		release, err := h.doms.Acquire(ctx, r.Email)
		if err != nil {
			s.release(ctx, token, rs[i:])
			return false, err
		}
		if s.cur.deliveryID != r.DeliveryID {
			s.prepare(s.cur, r, tracking, h.now())
		}
		now, msg, err := s.cur.now, s.cur.msg, s.cur.err
		s.cur.deliveryID = 0
		if err != nil {
			// Only a malformed message fails to sign; sending it unsigned
			// would fail DMARC instead, so it is not sent.
			release()
			h.commits.addFor(id, store.Outcome{DeliveryID: r.DeliveryID, Status: store.DeliveryFailed,
				FailureClass: store.FailPermanent, SMTPMessage: "not sent: " + err.Error(), At: now})
			continue
		}
		// Room first: the outcome must have a place to wait, so that
		// what a crash can resend stays bounded however slow the
		// database is.
		if err := h.commits.reserve(ctx, h.draining); err != nil {
			release()
			s.release(ctx, token, rs[i:])
			if errors.Is(err, errStopWaiting) {
				return false, nil // the process drains: send nothing more
			}
			return false, err
		}
		// The waits since the last look (the rate limit, the domain's
		// turn, room in the crash window) can outlast the recheck
		// interval when the database is slow, as it is under the burst
		// of unsubscribes a send causes: look again before the message
		// goes, so that a withdrawal still holds for every message that
		// starts later than recheckEvery after it.
		if h.now().Sub(checkedAt) > recheckEvery {
			if withdrawn, mark, err = s.recheck(ctx, rs[i:], mark, withdrawn); err != nil {
				h.commits.unreserve()
				release()
				s.release(ctx, token, rs[i:])
				return false, err
			}
			checkedAt = h.now()
			if withdrawn[r.SubscriberID] {
				h.commits.unreserve()
				release()
				h.commits.addFor(id, store.Outcome{DeliveryID: r.DeliveryID, Status: store.DeliverySuppressed,
					SMTPMessage: "not sent: unsubscribed or suppressed before sending", At: h.now()})
				h.met.Send(store.DeliverySuppressed, 0)
				continue
			}
		}
		began := time.Now()
		var ahead chan struct{}
		if i+1 < len(rs) {
			// The next message is written while this one is on the wire.
			ahead = make(chan struct{})
			go func(d *draft, r *store.Recipient) {
				defer close(ahead)
				s.prepare(d, r, tracking, h.now())
			}(s.next, &rs[i+1])
		}
		resp, err := s.smtp.send(ctx, h.compose.ReturnPath(r.DeliveryID), r.Email, msg)
		took := time.Since(began)
		release()
		if ahead != nil {
			<-ahead
			s.cur, s.next = s.next, s.cur
		}
		if ns := (*noSession)(nil); errors.As(err, &ns) {
			// The server is away: put the batch back without counting
			// attempts, and come back later.
			h.commits.unreserve()
			s.release(ctx, token, rs[i:])
			s.dialFailures++
			d := min(h.cfg.Retry.Base*time.Duration(1<<min(s.dialFailures, 10)), h.cfg.Retry.Max)
			h.log.Warn("smtp unavailable", "campaign_id", id, "err", ns.err, "retry_in", d)
			return false, &retryAfter{d: d, reason: "smtp unavailable: " + ns.err.Error()}
		}
		s.dialFailures = 0
		out := h.outcome(r, mailer.Classify(err), resp, now)
		if out.Status == store.DeliverySent {
			h.sent.Add(1)
		}
		h.commits.addSent(id, out)
		h.met.Send(outcomeLabel(out), took)
	}
	return true, nil
}

// spread is how many senders a campaign's claims are shared among: the
// senders that can run at once in this process. Other processes' senders
// still find work, because each claim takes only a share of what is left.
func (h *Handlers) spread() int { return min(h.cfg.Senders.Slots, h.cfg.SMTP.Connections) }

// recheck looks for withdrawals among the rest of the batch if the
// withdrawal mark moved since the last look, and returns the updated set
// and the mark it read (before looking).
func (s *sender) recheck(ctx context.Context, rest []store.Recipient, lastMark int64, withdrawn map[int64]bool) (map[int64]bool, int64, error) {
	mark, err := s.h.withdrawalMark(ctx)
	if err != nil {
		return withdrawn, lastMark, err
	}
	if mark == lastMark {
		return withdrawn, lastMark, nil
	}
	ids := make([]int64, len(rest))
	for i, r := range rest {
		ids[i] = r.SubscriberID
	}
	still, err := s.h.st.StillSubscribed(ctx, s.e.camp.ID, ids)
	if err != nil {
		return withdrawn, lastMark, err
	}
	if withdrawn == nil {
		withdrawn = map[int64]bool{}
	}
	for _, id := range ids {
		if !still[id] {
			withdrawn[id] = true
		}
	}
	return withdrawn, mark, nil
}

// release hands untried rows back.
func (s *sender) release(ctx context.Context, token string, rs []store.Recipient) {
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.DeliveryID
	}
	if err := s.h.st.ReleaseClaims(context.WithoutCancel(ctx), token, ids); err != nil {
		// The lease runs out and reconcile hands them back instead.
		s.h.log.Warn("release claim", "campaign_id", s.e.camp.ID, "rows", len(ids), "err", err)
	}
}

// outcome decides what a classified SMTP result means for the delivery.
func (h *Handlers) outcome(r *store.Recipient, res mailer.Result, resp string, now time.Time) store.Outcome {
	o := store.Outcome{DeliveryID: r.DeliveryID, SMTPCode: res.Code, At: now}
	switch res.Class {
	case mailer.Sent:
		o.Status, o.SMTPMessage = store.DeliverySent, resp
	case mailer.Permanent:
		o.Status, o.FailureClass, o.SMTPMessage = store.DeliveryFailed, store.FailPermanent, res.Text
		switch {
		case res.Policy:
			o.FailureClass = store.FailPolicy // never suppresses: the address is fine
		case res.HardBounce:
			o.Suppress = store.SuppressHardBounce
		}
	default:
		o.SMTPMessage = res.Text
		if r.Attempts >= h.cfg.Retry.MaxAttempts || now.Sub(r.CreatedAt) >= h.cfg.Retry.MaxAge {
			o.Status, o.FailureClass = store.DeliveryFailed, store.FailTemporary
			break
		}
		next := now.Add(h.backoff(r.Attempts))
		o.Status, o.NextAttemptAt = store.DeliveryPending, &next
	}
	return o
}

// backoff is RetryBase·2^(attempt-1), capped at RetryMax, ±20% jitter so
// that deliveries refused together do not come back together.
func (h *Handlers) backoff(attempt int) time.Duration {
	d := h.cfg.Retry.Base << min(max(attempt-1, 0), 20)
	if d > h.cfg.Retry.Max || d <= 0 {
		d = h.cfg.Retry.Max
	}
	jitter := 0.8 + 0.4*mrand.Float64()
	return time.Duration(float64(d) * jitter)
}

// guard pauses campaigns whose permanent failure, policy rejection or
// complaint rate passed the guardrail. The committer calls it after each
// group of outcomes is written, so it judges committed numbers; it reads a
// few counter rows per campaign. Senders of a paused campaign stop before their next message.
func (h *Handlers) guard(campaigns []int64) {
	if h.cfg.Guardrail.MaxFailureRate <= 0 && h.cfg.Guardrail.MaxComplaintRate <= 0 && h.cfg.Guardrail.MaxPolicyRate <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range campaigns {
		if !h.guardDue(id) {
			continue
		}
		reason, err := h.st.CheckGuardrail(ctx, id, h.cfg.Guardrail)
		if err != nil {
			h.log.Warn("guardrail check", "campaign_id", id, "err", err)
			continue
		}
		if reason == "" {
			continue
		}
		h.met.GuardrailPause()
		h.log.Warn("campaign paused by guardrail", "campaign_id", id, "reason", reason)
		h.campaigns.mu.Lock()
		e := h.campaigns.m[id]
		h.campaigns.mu.Unlock()
		if e != nil {
			e.setStatus(store.CampaignPaused, h.now())
		}
	}
}

// guardEvery spaces the guardrail's checks of one campaign: the committer
// writes many times a second, and a pause a quarter of a second later
// changes nothing.
const guardEvery = 250 * time.Millisecond

// guardDue reports whether campaign id is due a guardrail check.
func (h *Handlers) guardDue(id int64) bool {
	h.guarded.Lock()
	defer h.guarded.Unlock()
	now := h.now()
	if now.Sub(h.guarded.at[id]) < guardEvery {
		return false
	}
	h.guarded.at[id] = now
	return true
}

// withdrawalMark is store.WithdrawalMark shared by this process's
// senders for half the recheck interval, so that eight senders do not
// each ask twenty times a second. A shared value is at most that much
// older than a fresh one, so a withdrawal is still noticed within one and
// a half recheck intervals.
func (h *Handlers) withdrawalMark(ctx context.Context) (int64, error) {
	h.mark.Lock()
	defer h.mark.Unlock()
	now := h.now()
	if now.Sub(h.mark.at) < recheckEvery/2 {
		return h.mark.n, nil
	}
	n, err := h.st.WithdrawalMark(ctx)
	if err != nil {
		return 0, err
	}
	h.mark.n, h.mark.at = n, now
	return n, nil
}
