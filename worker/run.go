package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/queue"
)

// Run serves tasks until ctx ends, then shuts down gracefully: senders stop
// claiming, finish the message in hand, and hand back what they hold;
// outcomes are written; all within ShutdownTimeout.
func (h *Handlers) Run(ctx context.Context, rc redis.UniversalClient) error {
	stopCommit := make(chan struct{})
	commitDone := make(chan struct{})
	go func() {
		h.commits.run(stopCommit)
		close(commitDone)
	}()

	alog := asynqLogger{h.log.With("component", "asynq")}
	common := func(concurrency int, queues map[string]int) asynq.Config {
		return asynq.Config{
			Concurrency:     concurrency,
			Queues:          queues,
			StrictPriority:  true,
			RetryDelayFunc:  h.retryDelay,
			IsFailure:       IsFailure,
			ShutdownTimeout: h.cfg.ShutdownTimeout * 8 / 10, // the rest is for writing outcomes
			// How long an idle worker waits before it looks for tasks
			// again: the doorbell of a send, then its sender slots, each
			// waited up to this. At 200 ms a 10,000-recipient send lost
			// ~150 ms between the send call and its fan-out (0.66-0.71 of
			// smtpblast counted from the call; at 50 ms 0.75-0.79), for
			// ~20 more Redis polls a second per idle process.
			TaskCheckInterval:        50 * time.Millisecond,
			DelayedTaskCheckInterval: time.Second,
			Logger:                   alog,
			LogLevel:                 asynq.WarnLevel,
			ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
				retried, _ := asynq.GetRetryCount(ctx)
				maxRetry, _ := asynq.GetMaxRetry(ctx)
				if IsFailure(err) {
					h.log.Warn("task failed", "type", t.Type(), "task_id", taskID(ctx), "retried", retried, "max_retry", maxRetry, "err", err)
				}
			}),
		}
	}
	// Campaign senders hold their task for as long as the campaign
	// sends, so they get their own server; opt-in and test mail never
	// wait behind them.
	// The worker serves the queues its Queue enqueues on.
	qs := queue.NamesOf(h.q)
	bulk := asynq.NewServerFromRedisClient(rc, common(h.cfg.SMTP.Connections, map[string]int{qs.Bulk: 1}))
	other := asynq.NewServerFromRedisClient(rc, common(4, map[string]int{qs.Critical: 6, qs.Default: 3}))
	mux := NewMux(h)
	if err := bulk.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if err := other.Start(mux); err != nil {
		bulk.Shutdown()
		return fmt.Errorf("start worker: %w", err)
	}
	rctx, stopReconcile := context.WithCancel(context.WithoutCancel(ctx))
	beating := make(chan struct{})
	if h.hb == nil {
		h.hb = h.st.NewHeartbeat(HeartbeatEvery(h.cfg.Senders.ClaimLease))
		go func() {
			h.hb.Run(rctx)
			close(beating)
		}()
	} else {
		close(beating)
	}
	reconciled := make(chan struct{})
	go func() {
		h.reconcileLoop(rctx)
		close(reconciled)
	}()
	pumped := make(chan struct{})
	go func() {
		h.webhookLoop(rctx)
		close(pumped)
	}()
	h.log.Info("worker started", "smtp_connections", h.cfg.SMTP.Connections, "slots", h.cfg.Senders.Slots)

	<-ctx.Done()
	start := time.Now()
	h.log.Info("worker shutting down", "timeout", h.cfg.ShutdownTimeout)
	h.Drain()
	stopReconcile()
	var wg sync.WaitGroup
	for _, s := range []*asynq.Server{bulk, other} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Shutdown() }()
	}
	wg.Wait()
	<-reconciled
	<-pumped
	<-beating
	close(stopCommit)
	select {
	case <-commitDone:
	case <-time.After(max(h.cfg.ShutdownTimeout-time.Since(start), time.Second)):
		// The database is away; the rows' leases run out and another
		// process resends them.
		h.log.Error("shutdown: outcomes not written in time")
	}
	h.pool.close()
	h.log.Info("worker stopped", "took", time.Since(start).Round(time.Millisecond), "sent", h.Sent())
	return nil
}

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
