package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/internal/metrics"
	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker/mailer"
)

// Config tunes the worker. cmd/utskick fills it from UTSKICK_* variables;
// a zero field takes the default its comment names. The queues the worker
// serves are the ones its Deps.Queue enqueues on (queue.Client.Queues).
type Config struct {
	SMTP     SMTP     // sessions to the mail server
	Senders  Senders  // how a campaign's senders share out its deliveries
	Retry    Retry    // when a temporary delivery failure is tried again, and until when
	Webhooks Webhooks // deliveries of events to webhooks
	// Guardrail pauses a campaign whose failure or complaint rate passes
	// its thresholds; zero thresholds never pause.
	Guardrail store.Guardrail

	OptinTTL        time.Duration // how long a confirmation link works (7 days)
	ReconcileEvery  time.Duration // how often the rows are checked against the queue (10s)
	ShutdownTimeout time.Duration // how long a graceful stop may take (30s)
}

// SMTP bounds this process's sessions to the mail server.
type SMTP struct {
	Connections     int // SMTP sessions (and campaign senders) per process (8)
	MessagesPerConn int // open a new session after this many messages; 0: never
}

// Senders are how a campaign's deliveries are shared out: Slots senders
// per campaign across all processes, each claiming BatchSize deliveries
// at a time and holding them ClaimLease without renewal.
type Senders struct {
	Slots      int           // (32)
	BatchSize  int           // (100)
	ClaimLease time.Duration // (15s)
}

// Retry is when a temporary failure (a 4xx, a dropped connection) is
// tried again: after Base, doubling per attempt with jitter up to Max;
// after MaxAttempts tries or MaxAge since the delivery was made it is
// final.
type Retry struct {
	MaxAttempts int           // (8)
	MaxAge      time.Duration // (24h)
	Base        time.Duration // (1m)
	Max         time.Duration // (2h)
}

// Webhooks bound the delivery of events to webhooks: Timeout per request
// (10s), MaxRetry retries of a failed one (15), the first after
// RetryBase (30s), doubling per retry up to an hour.
type Webhooks struct {
	Timeout   time.Duration
	MaxRetry  int
	RetryBase time.Duration
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.SMTP.Connections, 8)
	def(&c.Senders.Slots, 32)
	def(&c.Senders.BatchSize, 100)
	defd(&c.Senders.ClaimLease, 15*time.Second)
	def(&c.Retry.MaxAttempts, 8)
	defd(&c.Retry.MaxAge, 24*time.Hour)
	defd(&c.Retry.Base, time.Minute)
	defd(&c.Retry.Max, 2*time.Hour)
	defd(&c.ReconcileEvery, 10*time.Second)
	defd(&c.ShutdownTimeout, 30*time.Second)
	defd(&c.OptinTTL, 7*24*time.Hour)
	defd(&c.Webhooks.Timeout, 10*time.Second)
	def(&c.Webhooks.MaxRetry, 15)
	defd(&c.Webhooks.RetryBase, 30*time.Second)
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// Deps are the worker's collaborators, passed in explicitly.
type Deps struct {
	Store     *store.Store
	Queue     queue.Queue
	Mailer    *mailer.Mailer
	Templates *mailtemplates.Templates
	Composer  *compose.Composer // renders campaigns; shared with the API
	Signer    *links.Signer
	Log       *slog.Logger
	Now       func() time.Time
	// Limiter paces sends across all workers; nil sends as fast as the
	// server takes them.
	Limiter Limiter
	// Domains bounds concurrent sends per recipient domain; nil: no bound.
	Domains *DomainLimits
	// DKIM signs every message (campaigns, tests, opt-ins); nil sends
	// them unsigned.
	DKIM *mailer.DKIM
	// Metrics counts sends; nil counts nothing.
	Metrics *metrics.Metrics
	// HTTPClient sends webhooks; nil uses an outbound (guarded) client
	// with Webhooks.Timeout, which refuses private addresses. Pass the one
	// the API's lint uses, so one allow list governs both.
	HTTPClient *http.Client
	// Heartbeat tells whether the database takes writes; it must beat at
	// least every Senders.ClaimLease/3 (HeartbeatEvery). Nil: Run starts one.
	Heartbeat *store.Heartbeat
	// Sending, if set, counts this process's campaign senders at work,
	// so that the API beside them (utskick all) can pace the opens and
	// clicks it records while they send.
	Sending *atomic.Int64
}

// HeartbeatEvery is how often the heartbeat of a worker with claim lease
// lease must write: often enough that an outage long enough to let
// claims lapse cannot pass unseen, and at most every two seconds.
func HeartbeatEvery(lease time.Duration) time.Duration {
	if lease <= 0 {
		lease = 15 * time.Second // Config's default
	}
	return max(min(2*time.Second, lease/3), 100*time.Millisecond)
}

// Limiter paces sending.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Handlers are the task handlers and their shared state.
type Handlers struct {
	cfg Config

	// The collaborators, from Deps.
	st      *store.Store
	q       queue.Queue
	tmpl    *mailtemplates.Templates
	compose *compose.Composer
	sign    *links.Signer
	log     *slog.Logger
	now     func() time.Time
	lim     Limiter
	doms    *DomainLimits
	dkim    *mailer.DKIM
	met     *metrics.Metrics
	web     *http.Client
	hb      *store.Heartbeat
	sending *atomic.Int64 // nil: nobody asked

	// What this process's handlers share.
	pool      *connPool
	commits   *committer
	campaigns campaignCache
	sent      atomic.Int64 // messages this process had accepted by SMTP
	mark      struct {     // the withdrawal mark, as of at (withdrawalMark)
		sync.Mutex
		n  int64
		at time.Time
	}
	guarded struct { // when each campaign's guardrail was last checked (guardDue)
		sync.Mutex
		at map[int64]time.Time
	}

	// draining is closed when a graceful shutdown begins: senders stop
	// claiming and finish what they hold.
	draining  chan struct{}
	drainOnce sync.Once
}

// NewHandlers wires the handlers. Call Start before serving tasks and
// Stop after.
func NewHandlers(cfg Config, d Deps) (*Handlers, error) {
	cfg.setDefaults()
	if d.Store == nil || d.Queue == nil || d.Mailer == nil || d.Templates == nil || d.Signer == nil || d.Composer == nil {
		return nil, errors.New("worker: Store, Queue, Mailer, Templates, Signer and Composer are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &Handlers{
		cfg: cfg, st: d.Store, q: d.Queue, tmpl: d.Templates, sign: d.Signer,
		compose: d.Composer, log: d.Log, now: d.Now, lim: d.Limiter, doms: d.Domains, dkim: d.DKIM, met: d.Metrics, web: d.HTTPClient,
		hb: d.Heartbeat, sending: d.Sending, draining: make(chan struct{}),
	}
	if h.web == nil {
		h.web = outbound.New(outbound.Config{Timeout: cfg.Webhooks.Timeout}).Client()
	}
	h.pool = newConnPool(d.Mailer, cfg.SMTP.Connections, cfg.SMTP.MessagesPerConn)
	// Outcomes a failed write holds back are retried often enough to land
	// well inside a claim lease once the database is back.
	h.commits = newCommitter(d.Store, d.Log, cfg.SMTP.Connections*UnrecordedPerConn, min(5*time.Second, cfg.Senders.ClaimLease/4))
	h.commits.written = h.guard
	h.campaigns.m = map[int64]*campaignEntry{}
	h.guarded.at = map[int64]time.Time{}
	return h, nil
}

// NewMux registers every task type.
func NewMux(h *Handlers) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeCampaignWake, h.wake)
	mux.HandleFunc(queue.TypeCampaignDispatch, h.wake) // queued by an older version; same payload
	mux.HandleFunc(queue.TypeCampaignSend, h.send)
	mux.HandleFunc(queue.TypeCampaignTest, h.testSend)
	mux.HandleFunc(queue.TypeSubscriberOptin, h.optin)
	mux.HandleFunc(queue.TypeImportRun, h.runImport)
	mux.HandleFunc(queue.TypeWebhookDeliver, h.deliverWebhook)
	mux.HandleFunc(queue.TypeUserMail, h.userMail)
	return mux
}

// Sent is how many campaign messages this process had accepted.
func (h *Handlers) Sent() int64 { return h.sent.Load() }

// signed returns msg as it goes on the wire: DKIM-signed into dst when
// signing is on, else msg itself. It runs on the final bytes, after
// rendering, so the signature covers exactly what is sent.
func (h *Handlers) signed(dst *bytes.Buffer, msg []byte) ([]byte, error) {
	return h.signedCached(dst, msg, nil)
}

// signedCached is signed for a campaign's messages, which share the body
// hash of their common part through c.
func (h *Handlers) signedCached(dst *bytes.Buffer, msg []byte, c *mailer.BodyCache) ([]byte, error) {
	if h.dkim == nil {
		return msg, nil
	}
	dst.Reset()
	sign := h.dkim.Sign
	if c != nil {
		// A campaign's messages come from Compiled.WriteMessage, whose
		// bodies are quoted-printable with CRLF line ends only.
		sign = h.dkim.SignComposed
	}
	if err := sign(dst, msg, c); err != nil {
		return nil, err
	}
	return dst.Bytes(), nil
}

// Drain tells senders to stop claiming new deliveries.
func (h *Handlers) Drain() { h.drainOnce.Do(func() { close(h.draining) }) }

func (h *Handlers) isDraining() bool {
	select {
	case <-h.draining:
		return true
	default:
		return false
	}
}

// retryAfter asks asynq to run the task again after d without counting a
// failure: there is work that is not due yet.
type retryAfter struct {
	d      time.Duration
	reason string
}

func (e *retryAfter) Error() string { return fmt.Sprintf("retry in %s: %s", e.d, e.reason) }

// RetryDelay is asynq's RetryDelayFunc: a retryAfter's own delay, or
// exponential backoff capped at five minutes for real failures (the
// database or SMTP server being away).
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var ra *retryAfter
	if errors.As(err, &ra) {
		return max(ra.d, time.Second)
	}
	d := asynq.DefaultRetryDelayFunc(n, err, t)
	return min(d, 5*time.Minute)
}

// retryDelay is the worker's RetryDelayFunc: webhooks back off from
// WebhookRetryBase, doubling, to at most an hour (a receiver may be down
// for a while); everything else as RetryDelay.
func (h *Handlers) retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if t.Type() == queue.TypeWebhookDeliver && IsFailure(err) {
		return min(h.cfg.Webhooks.RetryBase<<min(n, 16), time.Hour)
	}
	return RetryDelay(n, err, t)
}

// IsFailure is asynq's IsFailure: waiting for due work is not a failure.
func IsFailure(err error) bool {
	var ra *retryAfter
	return err != nil && !errors.As(err, &ra)
}

// decodePayload reads a task payload; a payload that does not decode is a
// permanent failure.
func decodePayload(t *asynq.Task, v any) error {
	if err := jsonUnmarshal(t.Payload(), v); err != nil {
		return fmt.Errorf("decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}
