// Package metrics holds utskick's Prometheus metrics: counters and a
// latency histogram that the send path bumps (an atomic add each, nothing
// more per message), and collectors that read queue depth and campaign
// progress only when /metrics is scraped.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/storsthlm/utskick/store"
)

// Metrics are one process's metrics. A nil *Metrics is valid and records
// nothing, so tests and tools can leave it out.
type Metrics struct {
	reg         *prometheus.Registry
	sends       *prometheus.CounterVec
	smtpSeconds prometheus.Histogram
	inbound     *prometheus.CounterVec
	hits        *prometheus.CounterVec
	webhooks    *prometheus.CounterVec
	paused      prometheus.Counter
}

// New registers the metrics, and the Go runtime's, in a new registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "utskick_sends_total",
			Help: "Campaign messages handed to SMTP, by outcome (sent, failed_permanent, failed_temporary, retry, suppressed)."},
			[]string{"outcome"}),
		smtpSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "utskick_smtp_send_seconds",
			Help:    "Time from MAIL FROM to the server's answer after DATA, per message.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "utskick_inbound_messages_total",
			Help: "Inbound mail (bounces, complaints, unsubscribes) by kind and what was done."},
			[]string{"kind", "action"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "utskick_tracking_hits_total",
			Help: "Open pixel and click redirect requests, by kind and class (human, machine, untracked, busy)."},
			[]string{"kind", "class"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "utskick_webhook_attempts_total",
			Help: "Webhook delivery attempts by result (delivered, retry, failed)."},
			[]string{"result"}),
		paused: prometheus.NewCounter(prometheus.CounterOpts{Name: "utskick_guardrail_pauses_total",
			Help: "Campaigns paused by the failure or complaint rate guardrail."}),
	}
	m.reg.MustRegister(m.sends, m.smtpSeconds, m.inbound, m.hits, m.webhooks, m.paused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Register adds a collector, such as QueueCollector or CampaignCollector.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// DKIMFallbacks exports n, the RSA signatures the system's libcrypto
// failed and Go made instead (mailer.LibcryptoFallbacks), read at scrape.
func (m *Metrics) DKIMFallbacks(n func() int64) error {
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "utskick_dkim_libcrypto_fallbacks_total",
		Help: "RSA DKIM signatures the system's libcrypto failed, made instead by Go's crypto/rsa (slower, same bytes)."},
		func() float64 { return float64(n()) }))
}

// Send counts one campaign message's outcome and its SMTP time.
func (m *Metrics) Send(outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.sends.WithLabelValues(outcome).Inc()
	if took > 0 {
		m.smtpSeconds.Observe(took.Seconds())
	}
}

// Inbound counts one inbound message.
func (m *Metrics) Inbound(kind, action string) {
	if m != nil {
		m.inbound.WithLabelValues(kind, action).Inc()
	}
}

// Hit counts one open or click request.
func (m *Metrics) Hit(kind, class string) {
	if m != nil {
		m.hits.WithLabelValues(kind, class).Inc()
	}
}

// Webhook counts one webhook attempt.
func (m *Metrics) Webhook(result string) {
	if m != nil {
		m.webhooks.WithLabelValues(result).Inc()
	}
}

// GuardrailPause counts a campaign paused by the guardrail.
func (m *Metrics) GuardrailPause() {
	if m != nil {
		m.paused.Inc()
	}
}

// scrapeTimeout bounds the database and Redis reads of one scrape.
const scrapeTimeout = 5 * time.Second

var (
	queueDesc = prometheus.NewDesc("utskick_queue_tasks", "Tasks in each asynq queue by state.",
		[]string{"queue", "state"}, nil)
	progressDesc = prometheus.NewDesc("utskick_campaign_deliveries",
		"Deliveries of scheduled, sending and paused campaigns by delivery status.",
		[]string{"campaign_id", "status"}, nil)
	queueErrDesc = prometheus.NewDesc("utskick_queue_scrape_error", "1 when this scrape could not read the queues.",
		nil, nil)
	campaignErrDesc = prometheus.NewDesc("utskick_campaign_scrape_error", "1 when this scrape could not read campaign progress.",
		nil, nil)
)

// QueueCollector reports queue depth from asynq's Inspector at scrape time.
type QueueCollector struct {
	Inspector *asynq.Inspector
	Log       *slog.Logger
}

// Describe implements prometheus.Collector.
func (q QueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc; ch <- queueErrDesc }

// Collect implements prometheus.Collector.
func (q QueueCollector) Collect(ch chan<- prometheus.Metric) {
	queues, err := q.Inspector.Queues()
	if err != nil {
		q.fail(ch, err)
		return
	}
	for _, name := range queues {
		info, err := q.Inspector.GetQueueInfo(name)
		if err != nil {
			q.fail(ch, err)
			return
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), name, state)
		}
	}
	ch <- prometheus.MustNewConstMetric(queueErrDesc, prometheus.GaugeValue, 0)
}

func (q QueueCollector) fail(ch chan<- prometheus.Metric, err error) {
	if q.Log != nil {
		q.Log.Warn("metrics: read queues", "err", err)
	}
	ch <- prometheus.MustNewConstMetric(queueErrDesc, prometheus.GaugeValue, 1)
}

// CampaignCollector reports the progress of active campaigns from the
// trigger-kept delivery counters: a few rows per campaign.
type CampaignCollector struct {
	Store *store.Store
	Log   *slog.Logger
}

// Describe implements prometheus.Collector.
func (c CampaignCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- progressDesc
	ch <- campaignErrDesc
}

// Collect implements prometheus.Collector.
func (c CampaignCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	rows, err := c.Store.ActiveCampaignProgress(ctx)
	if err != nil {
		if c.Log != nil {
			c.Log.Warn("metrics: read campaign progress", "err", err)
		}
		ch <- prometheus.MustNewConstMetric(campaignErrDesc, prometheus.GaugeValue, 1)
		return
	}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(progressDesc, prometheus.GaugeValue, float64(r.N),
			strconv.FormatInt(r.CampaignID, 10), r.Status)
	}
	ch <- prometheus.MustNewConstMetric(campaignErrDesc, prometheus.GaugeValue, 0)
}
