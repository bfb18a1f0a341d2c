package worker

import (
	"context"

	"github.com/hibiken/asynq"
)

// Process runs one task through the mux, as a worker would, for tests.
func (h *Handlers) Process(ctx context.Context, t *asynq.Task) error {
	return NewMux(h).ProcessTask(ctx, t)
}
