// Package api is utskick's HTTP side: the JSON staff API under /api/v1
// (bearer tokens with admin, editor and viewer roles) and the public pages
// subscribers reach from forms and mail (subscribe, confirm, unsubscribe,
// preferences). It talks to the store and enqueues tasks; it never speaks
// SMTP.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// Deps are the server's collaborators, passed in explicitly: the parts it
// calls at the top, its settings grouped by concern below. A zero group
// gets the defaults its fields name.
type Deps struct {
	Store     *store.Store
	Queue     queue.Queue
	Composer  *compose.Composer
	Templates *mailtemplates.Templates
	Signer    *links.Signer
	Log       *slog.Logger
	Now       func() time.Time
	// Inbound acts on mail handed to POST /api/v1/inbound (cmd passes
	// package inbound's Processor); nil answers 501.
	Inbound InboundFunc
	// MediaBucket keeps new images of the media library in an
	// S3-compatible bucket (cmd passes an internal/s3media.Bucket); nil
	// keeps them in the database.
	MediaBucket MediaBucket

	Site       Site                 // who the server is for: its URL and organisation
	Sessions   Sessions             // how long a staff sign-in lasts
	Limits     Limits               // what one client may send, and who the client is
	Checks     Checks               // what the lint and Settings → Sending domain reach out to
	Monitoring Monitoring           // what /readyz and /metrics answer
	Tracking   store.TrackingPolicy // judges opens and clicks human or machine
}

// Site is who the server is for.
type Site struct {
	// BaseURL is the public URL of this server, for links.
	BaseURL string
	// Org is the organisation's name on the public pages.
	Org string
	// OptinTTL is how long a confirmation link works (default 7 days).
	OptinTTL time.Duration
}

// Sessions bound a staff session: Idle ends it after this long without a
// request (default DefaultSessionIdle), Max this long after sign-in,
// however active (default DefaultSessionMax).
type Sessions struct {
	Idle, Max time.Duration
}

// Limits are what one client may send, and who a client is.
type Limits struct {
	// Limiter counts requests for the rates below; nil means no limits.
	Limiter     *queue.Limiter
	RateIP      queue.Rate // subscribe and confirm pages, per client IP (IPv6 per /64)
	RateAddress queue.Rate // subscribe and resend requests, per address
	RateTest    queue.Rate // test-send mails, per API token
	// RateSignin limits sign-in attempts per account, RateSigninIP per
	// client IP (IPv6 per /64); both also count password-reset requests.
	RateSignin, RateSigninIP queue.Rate
	// ImportMaxBytes bounds one CSV upload (default 1 GiB).
	ImportMaxBytes int64
	// TrackingConcurrency is how many opens and clicks this process
	// records at once; more wait their turn (default: the number of CPUs
	// Go uses). Fifty readers following links as fast as they are
	// answered otherwise take the cores from a send in progress.
	TrackingConcurrency int
	// TrackingRate is how many opens and clicks a second this process
	// records at most while Sending says a campaign is going out beside
	// it (0: no limit); more wait their turn, up to two seconds, and are
	// then answered without being recorded. An API process with no
	// sender beside it (Sending nil) records as fast as it can.
	TrackingRate int
	// Sending reports whether a campaign sender works in this process.
	Sending func() bool
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// for a client's IP (rate limits, consent records); empty trusts none.
	TrustedProxies []*net.IPNet
}

// Checks are what the campaign lint, the webhook registration and
// Settings → Sending domain reach out to.
type Checks struct {
	// DKIM is the worker's signing key as published in DNS, for the lint's
	// alignment and DNS checks; nil when signing is off.
	DKIM *lint.DKIMKey
	// Resolver answers the lint's SPF, DKIM and DMARC lookups; nil skips
	// them (tests, and the embedded capture, where mail goes nowhere).
	Resolver lint.Resolver
	// DNSTimeout bounds each DNS lookup of Settings → Sending domain; 0
	// is lint.LookupTimeout.
	DNSTimeout time.Duration
	// Outbound fetches links for POST /campaigns/{id}/lint?check_links=true
	// and checks webhook URLs when they are registered; it refuses
	// private addresses except allowed hosts. Give the worker the same
	// one (its Client) for webhook deliveries. Nil: a guard with no
	// allowed hosts and the system resolver.
	Outbound *outbound.Guard
}

// Monitoring is what /readyz and /metrics answer.
type Monitoring struct {
	// Ready reports whether the queue's Redis answers, for /readyz.
	Ready func(context.Context) error
	// WriteCheck reports whether the database takes writes, for /readyz
	// (a store.Heartbeat's Err: it remembers its last write, so a probe
	// writes nothing). Nil: only a ping is checked.
	WriteCheck func() error
	// Metrics are served at /metrics (nil: not served); MetricsToken, if
	// set, is the bearer token a scraper must send.
	Metrics      Metrics
	MetricsToken string
}

// InboundFunc acts on one raw RFC 5322 message and returns what the
// response shows. An error wrapping ErrNotMail is the client's: the body
// is not a mail message at all.
type InboundFunc func(ctx context.Context, envelopeRcpts []string, raw io.Reader) (any, error)

// ErrNotMail marks input to InboundFunc that is not a mail message.
var ErrNotMail = errors.New("not a mail message")

// Metrics is what the server records and serves; cmd passes package
// metrics' Prometheus registry.
type Metrics interface {
	Hit(kind, class string) // a tracked open or click, by kind and by human or machine
	Handler() http.Handler  // the scrape endpoint
}

// Staff sessions end after DefaultSessionIdle without a request (a
// working day: signed in in the morning, still in after lunch, out by the
// next morning) and DefaultSessionMax after sign-in whatever the activity
// (a working week), unless the settings say otherwise.
const (
	DefaultSessionIdle = 8 * time.Hour
	DefaultSessionMax  = 7 * 24 * time.Hour
)

// Server is the HTTP application.
type Server struct {
	e        *echo.Echo
	st       *store.Store
	q        queue.Queue
	compose  *compose.Composer
	tmpl     *mailtemplates.Templates
	sign     *links.Signer
	log      *slog.Logger
	now      func() time.Time
	baseURL  string
	ready    func(context.Context) error
	writable func() error
	optinTTL time.Duration
	org      string
	inbound  InboundFunc
	pages    *pageSet
	doc      apiDoc // GET /api/v1/openapi.json
	dkim     *lint.DKIMKey
	resolver lint.Resolver
	// dnsTimeout bounds each lookup of the settings' DNS checks.
	dnsTimeout time.Duration
	// outbound fetches links for the lint, on request only, and checks
	// webhook URLs.
	outbound *outbound.Guard

	limiter        *queue.Limiter
	rateIP, rateAd queue.Rate
	rateTest       queue.Rate
	importMax      int64
	media          MediaBucket // nil: images in the database
	tracking       store.TrackingPolicy
	// trackSlots holds one token per open or click being recorded.
	trackSlots chan struct{}
	// trackPace spaces the recording of opens and clicks (TrackingRate).
	trackPace *pacer
	met       Metrics

	metricsToken string

	web                     *webUI
	sessionIdle, sessionMax time.Duration
	rateSignin, rateSignIP  queue.Rate

	touchMu sync.Mutex
	touched map[int64]time.Time // tokens' last_used_at, written at most once a minute
}

// New builds the server and its routes.
func New(d Deps) (*Server, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Site.OptinTTL <= 0 {
		d.Site.OptinTTL = 7 * 24 * time.Hour
	}
	if d.Checks.Outbound == nil {
		d.Checks.Outbound = outbound.New(outbound.Config{})
	}
	if d.Limits.ImportMaxBytes <= 0 {
		d.Limits.ImportMaxBytes = 1 << 30
	}
	if d.Limits.TrackingConcurrency <= 0 {
		d.Limits.TrackingConcurrency = runtime.GOMAXPROCS(0)
	}
	if d.Sessions.Idle <= 0 {
		d.Sessions.Idle = DefaultSessionIdle
	}
	if d.Sessions.Max <= 0 {
		d.Sessions.Max = DefaultSessionMax
	}
	pages, err := loadPages(d.Templates)
	if err != nil {
		return nil, err
	}
	doc, err := loadAPIDoc()
	if err != nil {
		return nil, err
	}
	web, err := loadWebUI(d.Now)
	if err != nil {
		return nil, err
	}
	s := &Server{
		st: d.Store, q: d.Queue, compose: d.Composer, tmpl: d.Templates, sign: d.Signer,
		log: d.Log, now: d.Now, inbound: d.Inbound, media: d.MediaBucket, pages: pages, doc: doc, web: web, touched: map[int64]time.Time{},
		baseURL: strings.TrimRight(d.Site.BaseURL, "/"), org: d.Site.Org, optinTTL: d.Site.OptinTTL,
		ready: d.Monitoring.Ready, writable: d.Monitoring.WriteCheck, met: d.Monitoring.Metrics, metricsToken: d.Monitoring.MetricsToken,
		dkim: d.Checks.DKIM, resolver: d.Checks.Resolver, dnsTimeout: d.Checks.DNSTimeout, outbound: d.Checks.Outbound,
		limiter: d.Limits.Limiter, rateIP: d.Limits.RateIP, rateAd: d.Limits.RateAddress, rateTest: d.Limits.RateTest,
		rateSignin: d.Limits.RateSignin, rateSignIP: d.Limits.RateSigninIP, importMax: d.Limits.ImportMaxBytes,
		tracking: d.Tracking, trackSlots: make(chan struct{}, d.Limits.TrackingConcurrency),
		trackPace:   newPacer(d.Limits.TrackingRate, 2*time.Second, d.Limits.Sending),
		sessionIdle: d.Sessions.Idle, sessionMax: d.Sessions.Max,
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	if len(d.Limits.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range d.Limits.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	e.HTTPErrorHandler = s.handleError
	e.Pre(nosniff, headAsGet)
	e.Use(s.secureHeaders)
	e.Use(middleware.RequestID())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true}))
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogMethod: true, LogURIPath: true, LogRequestID: true, LogLatency: true, LogError: true,
		HandleError: true, // the logged status is the one the error handler sends
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			method := v.Method
			if isHead(c) {
				method = http.MethodHead
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", v.RequestID), slog.String("method", method),
				slog.String("path", c.Path()), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency))
			return nil
		},
	}))
	// A CSV upload is streamed into the database chunk by chunk under its
	// own size limit and may take longer than a minute to arrive; every
	// other request is small and quick.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "10M", Skipper: func(c echo.Context) bool { return isUpload(c) || isMediaUpload(c) }}))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: 60 * time.Second, Skipper: isUpload}))
	s.e = e
	s.routes()
	return s, nil
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }
