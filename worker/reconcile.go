package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// Reconcile makes the queue agree with the database. It runs at start and
// every ReconcileEvery in each worker process; it is idempotent, so any
// number of processes may run it at once.
//
//   - Deliveries still "sending" after their claim's lease ran out belong
//     to a sender that died: they go back to pending (and are resent with
//     the same Message-ID; see store.RequeueExpiredClaims).
//   - Every scheduled campaign has its wake task at its send_at.
//   - Every sending campaign has its sender slots, or is finished if
//     nothing is left to send.
//   - Every queued or running import has its task (it resumes from its
//     checkpoint), and uploads abandoned mid-way are deleted.
//
// An embedded Redis that lost everything in a restart, a flushed Redis, a
// crash between a commit and an enqueue: all end up here.
func (h *Handlers) Reconcile(ctx context.Context) error {
	if err := h.requeueExpired(ctx); err != nil {
		return err
	}
	cs, err := h.st.DueCampaigns(ctx, 100*365*24*time.Hour)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		switch c.Status {
		case store.CampaignScheduled:
			if c.SendAt == nil || !c.SendAt.After(h.now()) {
				// Due by this worker's clock: dispatch it here rather than
				// ring a wake task, which may already wait under the same
				// TaskID for the queue's own clock to reach send_at. The
				// two agree in production; a clock injected in tests, or
				// a queue that lost its schedule, is served all the same.
				// dispatch is conditional on status and revision, so a
				// wake task doing the same at once does no harm.
				if err := h.dispatch(ctx, queue.WakePayload{CampaignID: c.ID, Revision: c.Revision}); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			if err := h.q.Enqueue(ctx, queue.NewWakeTask(c.ID, c.Revision, *c.SendAt)); err != nil {
				errs = append(errs, err)
			}
		case store.CampaignSending:
			done, err := h.st.FinishCampaign(ctx, c.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if done {
				h.log.Info("campaign sent", "campaign_id", c.ID)
				h.forget(c.ID)
				continue
			}
			if err := h.startSlots(ctx, c.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	imps, err := h.st.UnfinishedImports(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range imps {
		if err := h.q.Enqueue(ctx, queue.NewImportTask(id)); err != nil {
			errs = append(errs, err)
		}
	}
	if n, err := h.st.DeleteStaleUploads(ctx, staleUpload); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		h.log.Warn("deleted abandoned import uploads", "imports", n)
	}
	if len(errs) > 0 {
		return fmt.Errorf("reconcile: %w", errors.Join(errs...))
	}
	return nil
}

// requeueExpired hands back the rows of senders whose claim lapsed, once
// the database has taken this process's writes for a whole lease.
//
// A lease lapses when its sender stopped (it died), but also when nobody
// could write for a while: during a database outage every sender's
// renewals fail, and its outcomes — for mail already sent — wait in the
// committer. The moment the database is back, all those leases look
// expired; handing the rows back then would race the outcome writes and
// mail them a second time. A sender that is alive renews or records
// within a lease of the database's return, so after that a lapsed lease
// does mean a stopped sender. The cost is that a restarted process waits
// one lease before it takes over its predecessor's rows.
func (h *Handlers) requeueExpired(ctx context.Context) error {
	if h.hb != nil {
		if up := h.hb.WritableFor(); up < h.cfg.Senders.ClaimLease {
			h.log.Debug("lapsed claims wait: the database has not taken writes for a whole lease yet", "writable_for", up)
			return nil
		}
	}
	requeued, err := h.st.RequeueExpiredClaims(ctx)
	if err != nil {
		return err
	}
	for id, n := range requeued {
		h.log.Warn("requeued deliveries of a sender that stopped", "campaign_id", id, "deliveries", n)
	}
	return nil
}

// staleUpload is how long an import may stay "uploading" before reconcile
// takes it for abandoned: far longer than the HTTP server lets one request
// body take to arrive.
const staleUpload = time.Hour

// reconcileLoop runs Reconcile now and then every ReconcileEvery until ctx
// ends.
func (h *Handlers) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(h.cfg.ReconcileEvery)
	defer t.Stop()
	for {
		if err := h.Reconcile(ctx); err != nil && ctx.Err() == nil {
			h.log.Error("reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
