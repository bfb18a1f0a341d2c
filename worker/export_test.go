package worker

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/store"
)

// Process runs one task through the mux, as a worker would, for tests.
func (h *Handlers) Process(ctx context.Context, t *asynq.Task) error {
	return NewMux(h).ProcessTask(ctx, t)
}

// Recheck runs a sender's recheck of campaignID's recipients
// subscriberIDs, as after a batch's wait, for tests.
func (h *Handlers) Recheck(ctx context.Context, campaignID int64, subscriberIDs []int64, lastMark int64) (map[int64]bool, int64, error) {
	s := &sender{h: h, e: &campaignEntry{camp: &store.Campaign{ID: campaignID}}}
	rest := make([]store.Recipient, len(subscriberIDs))
	for i, id := range subscriberIDs {
		rest[i] = store.Recipient{SubscriberID: id}
	}
	return s.recheck(ctx, rest, lastMark, nil)
}
