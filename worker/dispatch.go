package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// wake answers the API's one doorbell for a campaign (and reconcile's):
// the worker alone decides the fan-out from the campaign's row. A
// scheduled campaign of the rung revision is fanned out into deliveries
// (dispatch); a sending one gets its sender slots, as many as this
// deployment's Config.Slots. Anything else (rescheduled, cancelled,
// paused, deleted) makes the ring a no-op.
func (h *Handlers) wake(ctx context.Context, t *asynq.Task) error {
	var p queue.WakePayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	c, err := h.st.Campaign(ctx, p.CampaignID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.log.Info("wake skipped", "campaign_id", p.CampaignID, "reason", err)
		return nil
	case err != nil:
		return fmt.Errorf("wake campaign %d: %w", p.CampaignID, err)
	case c.Revision != p.Revision:
		h.log.Info("wake skipped", "campaign_id", p.CampaignID, "revision", p.Revision, "reason", "stale revision")
		return nil
	case c.Status == store.CampaignSending:
		return h.startSlots(ctx, c.ID)
	case c.Status == store.CampaignScheduled:
		return h.dispatch(ctx, p)
	}
	h.log.Info("wake skipped", "campaign_id", p.CampaignID, "status", c.Status)
	return nil
}

// dispatch fans a scheduled campaign out into deliveries and starts its
// sender slots. Safe to rerun: deliveries are UNIQUE(campaign_id,
// subscriber_id), and the status moves to sending in the same transaction.
func (h *Handlers) dispatch(ctx context.Context, p queue.WakePayload) error {
	n, err := h.st.MaterializeDeliveries(ctx, p.CampaignID, p.Revision)
	switch {
	case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrNotFound):
		// Rescheduled, cancelled, deleted or already dispatched: this
		// task has nothing to do. If it was dispatched, the slots were
		// started then or reconcile starts them.
		h.log.Info("dispatch skipped", "campaign_id", p.CampaignID, "revision", p.Revision, "reason", err)
		return nil
	case err != nil:
		return fmt.Errorf("dispatch campaign %d: %w", p.CampaignID, err)
	}
	h.log.Info("campaign dispatched", "campaign_id", p.CampaignID, "deliveries", n)
	return h.startSlots(ctx, p.CampaignID)
}

// startSlots enqueues the campaign's sender slots. Slots already queued or
// running keep their place (same TaskID).
func (h *Handlers) startSlots(ctx context.Context, id int64) error {
	for slot := 0; slot < h.cfg.Senders.Slots; slot++ {
		if err := h.q.Enqueue(ctx, queue.NewSendTask(id, slot)); err != nil {
			return fmt.Errorf("start campaign %d slot %d: %w", id, slot, err)
		}
	}
	return nil
}
