package worker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// Webhook request headers.
const (
	HeaderSignature = "Utskick-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	HeaderEvent     = "Utskick-Event"
	HeaderDelivery  = "Utskick-Delivery" // the delivery id; the same on every retry
)

// SignWebhook returns the signature header value of body sent at t. The
// timestamp is signed with the body so a captured request cannot be
// replayed later with a fresh date.
func SignWebhook(secret string, t int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(t, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is returned by VerifyWebhook.
var ErrBadSignature = errors.New("webhook signature does not match")

// VerifyWebhook checks a received webhook: the signature over the body,
// and a timestamp within tolerance of now. Receivers written in Go can use
// it as it is; docs/api.md shows the same in a few lines of shell.
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts int64
	var sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			sig = v
		}
	}
	if ts == 0 || sig == "" {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook timestamp %d is too far from now: %w", ts, ErrBadSignature)
	}
	want := SignWebhook(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte("t="+strconv.FormatInt(ts, 10)+",v1="+sig)) {
		return ErrBadSignature
	}
	return nil
}

// pumpWebhooks hands pending webhook deliveries to the queue. The outbox
// rows are written with the events, so the queue only has to be told; a
// delivery handed over but lost (an embedded Redis restarted) is handed
// over again after requeueAfter, and the TaskID keeps a live one from
// doubling.
func (h *Handlers) pumpWebhooks(ctx context.Context) error {
	const requeueAfter = 30 * time.Minute
	for {
		ids, err := h.st.DueWebhookDeliveries(ctx, 500, requeueAfter)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := h.q.Enqueue(ctx, queue.NewWebhookTask(id, h.cfg.Webhooks.MaxRetry)); err != nil {
				return fmt.Errorf("enqueue webhook delivery %d: %w", id, err)
			}
		}
		if len(ids) < 500 {
			return nil
		}
	}
}

// webhookLoop pumps webhooks every second until ctx ends.
func (h *Handlers) webhookLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := h.pumpWebhooks(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("webhook pump", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// deliverWebhook POSTs one event to one webhook and logs the attempt. A
// 2xx is delivered; a 4xx other than 408 and 429 will not get better and
// fails for good; anything else is retried by asynq with backoff, and
// fails for good after the last retry.
func (h *Handlers) deliverWebhook(ctx context.Context, t *asynq.Task) error {
	var p queue.WebhookPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	hs, err := h.st.WebhookDeliveryForSend(ctx, p.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // delivered, failed, or its webhook deleted
	}
	if err != nil {
		return err
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, ok := asynq.GetMaxRetry(ctx)
	if !ok {
		maxRetry = h.cfg.Webhooks.MaxRetry
	}
	body := []byte(hs.Delivery.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hs.URL, bytes.NewReader(body))
	if err != nil {
		_ = h.st.RecordWebhookAttempt(ctx, p.DeliveryID, store.WebhookAttempt{Attempt: retried + 1, Error: err.Error()}, false, true)
		return fmt.Errorf("webhook delivery %d: %v: %w", p.DeliveryID, err, asynq.SkipRetry)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "utskick-webhooks")
	req.Header.Set(HeaderEvent, hs.Delivery.Event)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(p.DeliveryID, 10))
	req.Header.Set(HeaderSignature, SignWebhook(hs.Secret, h.now().Unix(), body))
	began := time.Now()
	resp, err := h.web.Do(req)
	a := store.WebhookAttempt{Attempt: retried + 1, DurationMS: int(time.Since(began).Milliseconds())}
	var permanent bool
	var blocked *outbound.BlockedError
	if err != nil {
		a.Error = err.Error()
		// A private address will not become public by retrying: staff
		// must change the URL (or allow the host).
		permanent = errors.As(err, &blocked)
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		a.StatusCode = resp.StatusCode
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			a.Error = resp.Status
			permanent = resp.StatusCode >= 400 && resp.StatusCode < 500 &&
				resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests
		}
	}
	delivered := a.Error == ""
	final := !delivered && (permanent || retried >= maxRetry)
	if rerr := h.st.RecordWebhookAttempt(context.WithoutCancel(ctx), p.DeliveryID, a, delivered, final); rerr != nil {
		return rerr
	}
	log := h.log.With("webhook_delivery_id", p.DeliveryID, "event", hs.Delivery.Event, "attempt", a.Attempt, "task_id", taskID(ctx))
	switch {
	case delivered:
		h.met.Webhook("delivered")
		log.Info("webhook delivered", "status", a.StatusCode)
		return nil
	case final:
		h.met.Webhook("failed")
		log.Warn("webhook failed for good", "err", a.Error)
		return fmt.Errorf("webhook delivery %d: %s: %w", p.DeliveryID, a.Error, asynq.SkipRetry)
	default:
		h.met.Webhook("retry")
		return fmt.Errorf("webhook delivery %d: %s", p.DeliveryID, a.Error)
	}
}
