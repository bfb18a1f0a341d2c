package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/csvimport"
)

// importBatchSize is how many rows one transaction of an import writes:
// large enough that the index pages a batch dirties are shared by many
// rows (the main cost on SQLite), small enough that a batch's rows and
// maps stay a few megabytes.
const importBatchSize = 5000

// importBatchBytes also ends a batch: rows with many attribute columns
// are bigger, and what one batch holds must not grow with them.
const importBatchBytes = 8 << 20

// importFailure is a problem with the file itself: the import fails
// without retrying.
type importFailure struct{ msg string }

func (e *importFailure) Error() string { return e.msg }

// runImport processes an uploaded CSV as a stream: the file is read from
// the database a chunk at a time, parsed row by row, and written in
// batches, each batch committed with the import's checkpoint. A retry
// (after a crash or a database error) resumes after the last committed
// line; rows before it are read but not applied again.
func (h *Handlers) runImport(ctx context.Context, t *asynq.Task) error {
	var p queue.ImportPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	imp, err := h.st.StartImport(ctx, p.ImportID)
	if errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrNotFound) {
		return nil // finished or deleted
	}
	if err != nil {
		return fmt.Errorf("import %d: %w", p.ImportID, err)
	}
	log := h.log.With("import_id", imp.ID, "task_id", taskID(ctx))
	start := time.Now()
	err = h.importFile(ctx, imp)
	var fail *importFailure
	if errors.As(err, &fail) {
		log.Warn("import failed", "err", err)
		if ferr := h.st.FinishImport(ctx, imp.ID, store.ImportFailed, fail.msg); ferr != nil {
			return fmt.Errorf("import %d: %w", imp.ID, ferr)
		}
		return fmt.Errorf("import %d: %v: %w", imp.ID, err, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("import %d: %w", imp.ID, err)
	}
	if err := h.st.FinishImport(ctx, imp.ID, store.ImportDone, ""); err != nil {
		return fmt.Errorf("import %d: %w", imp.ID, err)
	}
	log.Info("import done", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (h *Handlers) importFile(ctx context.Context, imp *store.Import) error {
	cols, cr, err := csvimport.ReadHeader(h.st.ImportFile(ctx, imp.ID))
	var he *csvimport.HeaderError
	if errors.As(err, &he) {
		return &importFailure{he.Msg}
	}
	if err != nil {
		return err
	}
	// Opt-in mails are owed for new unconfirmed subscriptions: a
	// subscribe import without a consent basis.
	optins := imp.Mode == store.ImportSubscribe && imp.ConsentBasis == ""
	rows := make([]store.ImportRow, 0, importBatchSize)
	var replay []string
	var last int64
	held := 0 // estimated bytes of rows
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		held = 0
		cp := store.ImportCheckpoint{Line: last, Bytes: cr.InputOffset() + int64(cols.BOMLen)}
		res, err := h.st.ApplyImportBatch(ctx, imp, rows, cp)
		if err != nil {
			return err
		}
		rows = rows[:0]
		if optins {
			if err := h.enqueueImportOptins(ctx, imp.ID, res.Optins); err != nil {
				return err
			}
			if err := h.st.SetImportOptinDone(ctx, imp.ID, last); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		if h.isDraining() {
			return errors.New("worker shutting down; the import resumes from its checkpoint")
		}
		rec, line, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var tl *csvimport.RowTooLongError
		if err != nil && !errors.As(err, &tl) {
			return err
		}
		if line <= imp.LineDone {
			// Applied by an earlier run. If that run stopped between a
			// commit and enqueueing the batch's opt-in mails, enqueue them
			// now: the task ids make a second enqueue a no-op.
			if optins && line > imp.OptinDone && tl == nil {
				if r := cols.Row(rec, line); r.Invalid == "" {
					replay = append(replay, r.Email)
				}
				if len(replay) >= importBatchSize {
					if err := h.replayOptins(ctx, imp, replay); err != nil {
						return err
					}
					replay = replay[:0]
				}
			}
			continue
		}
		row := cols.Row(rec, line)
		if tl != nil {
			row = cols.TooLong(rec, tl)
		}
		rows = append(rows, row)
		last = line
		held += row.Size()
		if len(rows) >= importBatchSize || held >= importBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := h.replayOptins(ctx, imp, replay); err != nil {
		return err
	}
	return flush()
}

func (h *Handlers) replayOptins(ctx context.Context, imp *store.Import, emails []string) error {
	needs, err := h.st.PendingOptins(ctx, emails, imp.ListIDs)
	if err != nil {
		return err
	}
	return h.enqueueImportOptins(ctx, imp.ID, needs)
}

func (h *Handlers) enqueueImportOptins(ctx context.Context, importID int64, needs []store.OptinNeed) error {
	for _, n := range needs {
		t := queue.NewImportOptinTask(importID, queue.OptinPayload{SubscriberID: n.SubscriberID, ListIDs: n.ListIDs})
		if err := h.q.Enqueue(ctx, t); err != nil {
			return fmt.Errorf("enqueue opt-in of subscriber %d: %w", n.SubscriberID, err)
		}
	}
	return nil
}
