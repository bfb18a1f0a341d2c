package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/store"
)

// dispatch fans a scheduled campaign out into deliveries and starts its
// sender slots. Safe to rerun: deliveries are UNIQUE(campaign_id,
// subscriber_id) and a rerun finds the campaign no longer scheduled.
func (h *Handlers) dispatch(ctx context.Context, t *asynq.Task) error {
	var p DispatchPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
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
	for slot := 0; slot < h.cfg.Slots; slot++ {
		if err := h.q.Enqueue(ctx, NewSendTask(h.cfg.Queues, id, slot)); err != nil {
			return fmt.Errorf("start campaign %d slot %d: %w", id, slot, err)
		}
	}
	return nil
}
