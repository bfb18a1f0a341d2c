package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/internal/metrics"
	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/internal/outbox"
	"github.com/storsthlm/utskick/internal/s3media"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker"
	"github.com/storsthlm/utskick/worker/mailer"
)

// app is one process: the parts the API and the worker share, each built
// once by a named step of start, and the goroutines it runs.
type app struct {
	cfg *config
	log *slog.Logger

	st    *store.Store
	inst  string // the database's identity
	rd    *queue.Redis
	tasks queue.Client // also names the queues the worker serves

	tmpl *mailtemplates.Templates
	sign *links.Signer
	comp *compose.Composer
	dk   *mailer.DKIM
	met  *metrics.Metrics // nil: metrics off
	in   *inbound.Processor
	web  *outbound.Guard
	hb   *store.Heartbeat
	// sending counts the campaign senders at work in this process; the
	// API paces opens and clicks while there are any (utskick all).
	sending atomic.Int64

	closers []func() // run in reverse by close
	run     runGroup
}

// runGroup runs the process's long-lived goroutines; the first error of
// one of them stops the rest.
type runGroup struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
}

// goRun runs f until the process stops; an error from it stops the process.
func (g *runGroup) goRun(f func(ctx context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(g.ctx); err != nil {
			select {
			case g.errc <- err:
			default:
			}
		}
	}()
}

func (a *app) onClose(f func()) { a.closers = append(a.closers, f) }

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// start runs cmd ("all", "serve", "work" or "migrate") until ctx ends or
// a part fails.
func start(ctx context.Context, cmd string, cfg *config, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	secret, err := loadSecret(cfg)
	if err != nil {
		return err
	}
	if cmd == "migrate" {
		return migrate(ctx, cfg, log, secret, stdout)
	}
	if err := cfg.validateFor(cmd); err != nil {
		return err
	}
	a := &app{cfg: cfg, log: log}
	defer a.close()
	if err := a.openStore(ctx, secret); err != nil {
		return err
	}
	if err := a.openQueue(ctx); err != nil {
		return err
	}
	if err := a.openMail(secret); err != nil {
		return err
	}
	if err := a.openMetrics(); err != nil {
		return err
	}
	a.openShared()

	a.run.ctx, a.run.cancel = context.WithCancel(ctx)
	a.run.errc = make(chan error, 1)
	defer a.run.cancel()
	a.runHeartbeat()
	if cmd == "all" || cmd == "serve" {
		if err := a.serveAPI(ctx, stdout); err != nil {
			return err
		}
	}
	if cmd == "all" || cmd == "work" {
		if err := a.runWorker(); err != nil {
			return err
		}
		if err := a.receiveInbound(); err != nil {
			return err
		}
		if cmd == "work" {
			a.serveMetrics()
		}
	}
	return a.wait(ctx)
}

// migrate applies the schema and says where it is.
func migrate(ctx context.Context, cfg *config, log *slog.Logger, secret []byte, stdout io.Writer) error {
	st, err := store.OpenNoMigrate(store.Options{DSN: cfg.DatabaseURL, Log: log, AddressKey: store.DeriveAddressKey(secret)})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	ids, err := st.AppliedMigrations(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema is at %s (%d migrations)\n", ids[len(ids)-1], len(ids))
	return nil
}

// openStore opens the database (migrating it unless told not to) and
// reads its identity.
func (a *app) openStore(ctx context.Context, secret []byte) error {
	cfg := a.cfg
	opts := store.Options{DSN: cfg.DatabaseURL, Log: a.log, MaxOpenConns: cfg.DBMaxConns, AddressKey: store.DeriveAddressKey(secret)}
	var err error
	if cfg.AutoMigrate {
		a.st, err = store.Open(ctx, opts)
	} else {
		a.st, err = store.OpenNoMigrate(opts)
	}
	if err != nil {
		return err
	}
	a.onClose(func() { a.st.Close() })
	a.inst, err = a.st.InstanceID(ctx)
	if err != nil {
		return fmt.Errorf("%w (with UTSKICK_AUTO_MIGRATE=false, run `utskick migrate` first)", err)
	}
	a.log.Info("database ready", "dialect", a.st.Dialect(), "instance", a.inst)
	return nil
}

// openQueue connects to Redis (or starts the embedded one).
func (a *app) openQueue(ctx context.Context) error {
	// Queue names carry the database's identity: tasks another database
	// left in this Redis are never taken for this one's.
	queues := queue.DefaultQueues.WithPrefix("utskick-" + a.inst[:8] + "-")
	rd, err := queue.Open(ctx, a.cfg.RedisURL, a.log)
	if err != nil {
		return err
	}
	a.rd = rd
	a.onClose(func() { rd.Close() })
	a.tasks = queue.Client{C: asynq.NewClientFromRedisClient(rd.Client), Queues: queues}
	return nil
}

// openMail builds what mail is made with: templates, the link signer, the
// DKIM key and the one Composer that the API's lint, preview and archive
// and the worker's senders all render with.
func (a *app) openMail(secret []byte) error {
	cfg := a.cfg
	var err error
	if a.sign, err = links.NewSigner(secret); err != nil {
		return err
	}
	if a.dk, err = loadDKIM(cfg); err != nil {
		return err
	}
	if a.dk != nil {
		for _, k := range a.dk.Keys() {
			a.log.Info("DKIM signing on", "domain", k.Domain(), "selector", k.Selector(), "algorithm", k.Algorithm(), "engine", k.Engine())
		}
	} else {
		a.log.Warn("DKIM signing off: set UTSKICK_DKIM_DOMAIN (see `utskick dkim`); unsigned bulk mail is filtered by large mailbox providers")
	}
	if a.tmpl, err = mailtemplates.New(); err != nil {
		return err
	}
	a.comp = compose.New(compose.Config{BaseURL: cfg.BaseURL, From: cfg.From, Org: cfg.Org, ReturnPath: cfg.ReturnPath,
		MailtoDomain: cfg.MailtoDomain, BounceDomain: cfg.BounceDomain, NoVERP: !cfg.VERP}, a.tmpl, a.sign)
	return nil
}

// openMetrics makes the Prometheus registry when metrics are on.
func (a *app) openMetrics() error {
	if !a.cfg.Metrics {
		return nil
	}
	a.met = metrics.New()
	if err := a.met.Register(metrics.QueueCollector{Inspector: asynq.NewInspectorFromRedisClient(a.rd.Client), Log: a.log}); err != nil {
		return err
	}
	if err := a.met.DKIMFallbacks(mailer.LibcryptoFallbacks); err != nil {
		return err
	}
	return a.met.Register(metrics.CampaignCollector{Store: a.st, Log: a.log})
}

// guardrail is the pause-on-bad-signals policy, used by the worker and
// by inbound mail.
func (a *app) guardrail() store.Guardrail {
	cfg := a.cfg
	return store.Guardrail{MinSample: int64(cfg.GuardMinSample), MaxFailureRate: cfg.GuardFailureRate,
		MaxComplaintRate: cfg.GuardComplaint, MaxPolicyRate: cfg.GuardPolicy}
}

// openShared builds the inbound mail processor and the guarded HTTP
// client, which the API and the worker both use.
func (a *app) openShared() {
	cfg := a.cfg
	a.in = inbound.New(a.st, a.sign, a.log).Configure(inbound.Config{
		Bounces:   store.BouncePolicy{SoftLimit: cfg.SoftBounceLimit, SoftWindow: cfg.SoftBounceWindow},
		Guardrail: a.guardrail(), Metrics: a.met,
	})
	// One guarded client for every request to a URL staff typed in: the
	// lint's link check and the webhooks.
	a.web = outbound.New(outbound.Config{AllowHosts: cfg.AllowPrivate, Timeout: cfg.WebhookTimeout})
}

// runHeartbeat proves the database takes writes, once per process, for
// /readyz and for the worker's hand-back of lapsed claims.
func (a *app) runHeartbeat() {
	a.hb = a.st.NewHeartbeat(worker.HeartbeatEvery(a.cfg.ClaimLease))
	a.run.goRun(func(ctx context.Context) error { a.hb.Run(ctx); return nil })
}

// serveAPI bootstraps the first token and users and serves HTTP.
func (a *app) serveAPI(ctx context.Context, stdout io.Writer) error {
	cfg := a.cfg
	if err := bootstrapToken(ctx, a.st, cfg, a.log, stdout); err != nil {
		return err
	}
	if err := bootstrapUsers(ctx, a.st, cfg, a.log, stdout); err != nil {
		return err
	}
	deps := api.Deps{
		Store: a.st, Queue: a.tasks, Composer: a.comp, Templates: a.tmpl, Signer: a.sign,
		Log: a.log, Inbound: a.in.HandleFunc(api.ErrNotMail),
		Site:     api.Site{BaseURL: cfg.BaseURL, Org: cfg.Org, OptinTTL: cfg.OptinTTL},
		Sessions: api.Sessions{Idle: cfg.SessionIdle, Max: cfg.SessionMax},
		Limits: api.Limits{
			Limiter: queue.NewLimiter(a.rd.Client, ""),
			RateIP:  cfg.RateIP, RateAddress: cfg.RateAddress, RateTest: cfg.RateTest,
			RateSignin: cfg.RateSignin, RateSigninIP: cfg.RateSigninIP,
			ImportMaxBytes: cfg.ImportMaxBytes, TrackingConcurrency: cfg.TrackingConcurrency, TrackingRate: cfg.TrackingRate, TrustedProxies: cfg.TrustedProxies,
		},
		Checks:     api.Checks{DKIM: lintDKIM(a.dk), DNSTimeout: cfg.DNSTimeout, Outbound: a.web},
		Monitoring: api.Monitoring{Ready: a.rd.Ping, WriteCheck: a.hb.Err, MetricsToken: cfg.MetricsToken},
		Tracking:   store.TrackingPolicy{MachineWindow: cfg.MachineWindow, BurstWindow: cfg.BurstWindow},
	}
	if a.met != nil { // a nil *metrics.Metrics in the interface would not read as nil
		deps.Monitoring.Metrics = a.met
	}
	// Only a worker in this process (utskick all) counts senders here;
	// a serve-only process never paces.
	deps.Limits.Sending = func() bool { return a.sending.Load() > 0 }
	if cfg.SMTPURL != "" {
		// Mail really goes out: check the From domain's SPF, DKIM and
		// DMARC before sending. The embedded capture needs none.
		deps.Checks.Resolver = net.DefaultResolver
	}
	if cfg.MediaS3.Bucket != "" {
		b, err := openMediaBucket(ctx, cfg.MediaS3, a.log)
		if err != nil {
			return err
		}
		deps.MediaBucket = b
	}
	srv, err := api.New(deps)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	a.log.Info("http listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL)
	a.serveUntilStopped("http", func() error { return hs.Serve(ln) }, func() {
		sctx, c := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer c()
		hs.Shutdown(sctx)
	})
	return nil
}

// serveUntilStopped runs serve and calls stop when the process stops.
func (a *app) serveUntilStopped(name string, serve func() error, stop func()) {
	a.run.goRun(func(context.Context) error {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	a.run.goRun(func(ctx context.Context) error { <-ctx.Done(); stop(); return nil })
}

// mailer opens the SMTP pool: to UTSKICK_SMTP_URL, or to the embedded
// capture, which keeps mail as .eml files and hands mail to utskick's own
// addresses to inbound.
func (a *app) mailer() (*mailer.Mailer, error) {
	cfg := a.cfg
	mcfg := cfg.SMTP
	if cfg.SMTPURL == "" {
		addr := cfg.CaptureAddr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		dir := filepath.Join(cfg.DataDir, "outbox")
		box, err := outbox.Start(outbox.Config{Addr: addr, Dir: dir, Log: a.log, Inbound: inboundHook(a.in, a.log)})
		if err != nil {
			return nil, err
		}
		a.onClose(func() { box.Close() })
		a.log.Warn("using the EMBEDDED SMTP capture: mail is kept as .eml files, not delivered; set UTSKICK_SMTP_URL to send",
			"addr", box.Addr().String(), "dir", dir)
		mcfg = mailer.Config{Host: "127.0.0.1", Port: box.Addr().Port, TLS: mailer.TLSNone, Timeout: cfg.SMTP.Timeout, DataOnly: cfg.SMTP.DataOnly}
	}
	return mailer.New(mcfg)
}

// runWorker starts the task handlers.
func (a *app) runWorker() error {
	cfg := a.cfg
	m, err := a.mailer()
	if err != nil {
		return err
	}
	wcfg := worker.Config{
		SMTP:      worker.SMTP{Connections: cfg.SMTPConnections, MessagesPerConn: cfg.MessagesPerConn},
		Senders:   worker.Senders{Slots: cfg.Slots, BatchSize: cfg.BatchSize, ClaimLease: cfg.ClaimLease},
		Retry:     worker.Retry{MaxAttempts: cfg.MaxAttempts, MaxAge: cfg.MaxAge, Base: cfg.RetryBase, Max: cfg.RetryMax},
		Webhooks:  worker.Webhooks{Timeout: cfg.WebhookTimeout, MaxRetry: cfg.WebhookMaxRetry},
		Guardrail: a.guardrail(),
		OptinTTL:  cfg.OptinTTL, ReconcileEvery: cfg.ReconcileEvery, ShutdownTimeout: cfg.ShutdownTimeout,
	}
	deps := worker.Deps{Store: a.st, Queue: a.tasks, Mailer: m, Templates: a.tmpl, Signer: a.sign, Composer: a.comp,
		Log: a.log, DKIM: a.dk, Metrics: a.met, HTTPClient: a.web.Client(), Heartbeat: a.hb, Sending: &a.sending}
	if cfg.SendRate > 0 {
		deps.Limiter = queue.NewPacer(a.rd.Client, "utskick:"+a.inst[:8]+":send-rate", cfg.SendRate)
		if a.rd.Embedded == nil {
			a.log.Info("send rate shared by all workers", "messages_per_second", cfg.SendRate)
		}
	}
	if cfg.DomainLimits != "" {
		deps.Domains, _ = worker.ParseDomainLimits(cfg.DomainLimits) // checked by loadConfig
	}
	h, err := worker.NewHandlers(wcfg, deps)
	if err != nil {
		return err
	}
	a.run.goRun(func(ctx context.Context) error { return h.Run(ctx, a.rd.Client) })
	return nil
}

// receiveInbound starts what the settings ask for of the SMTP listener
// and the POP3 and IMAP pollers for bounces and complaints.
func (a *app) receiveInbound() error {
	cfg := a.cfg
	if cfg.InboundAddr != "" {
		domain := cfg.BounceDomain
		if domain == "" {
			domain = cfg.MailtoDomain
		}
		l, err := inbound.Listen(inbound.ListenerConfig{Addr: cfg.InboundAddr, Domain: domain, Log: a.log}, a.in)
		if err != nil {
			return err
		}
		a.onClose(func() { l.Close() })
		a.log.Info("inbound smtp listening", "addr", l.Addr().String())
	}
	if cfg.InboundPOP3 != "" {
		pc, _ := inbound.ParsePOP3URL(cfg.InboundPOP3) // validated with the settings
		pc.Every, pc.Log = cfg.InboundPOP3Every, a.log
		a.run.goRun(func(ctx context.Context) error { a.in.RunPOP3(ctx, pc); return nil })
		a.log.Info("polling a POP3 mailbox for inbound mail", "addr", pc.Addr, "every", pc.Every)
	}
	if cfg.InboundIMAP != "" {
		ic, _ := inbound.ParseIMAPURL(cfg.InboundIMAP) // validated with the settings
		ic.Processed, ic.Every, ic.Log = cfg.InboundIMAPDone, cfg.InboundPOP3Every, a.log
		a.run.goRun(func(ctx context.Context) error { a.in.RunIMAP(ctx, ic); return nil })
		a.log.Info("polling an IMAP folder for inbound mail", "addr", ic.Addr, "mailbox", ic.Mailbox, "processed", ic.Processed, "every", ic.Every)
	}
	return nil
}

// serveMetrics serves /metrics on its own address in a worker-only
// process, which has no API to serve it.
func (a *app) serveMetrics() {
	if a.met == nil || a.cfg.MetricsAddr == "" {
		return
	}
	ms := &http.Server{Addr: a.cfg.MetricsAddr, Handler: metricsOnly(a.met, a.cfg.MetricsToken), ReadHeaderTimeout: 10 * time.Second}
	a.serveUntilStopped("metrics", ms.ListenAndServe, func() { ms.Close() })
	a.log.Info("metrics listening", "addr", a.cfg.MetricsAddr)
}

// wait runs until ctx ends or a part fails, then stops every part and
// waits for them.
func (a *app) wait(ctx context.Context) error {
	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	case runErr = <-a.run.errc:
	}
	a.run.cancel()
	a.run.wg.Wait()
	return runErr
}

// openMediaBucket makes the media library's bucket client and asks the
// server once: a bucket that does not answer at start is a warning, not
// a refusal to start (the database's images are still served, and the
// bucket's answer 503 until it is back).
func openMediaBucket(ctx context.Context, cfg s3media.Config, log *slog.Logger) (*s3media.Bucket, error) {
	b, err := s3media.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("UTSKICK_MEDIA_S3_*: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := b.Check(cctx); err != nil {
		log.Warn("the media bucket does not answer; new images and those in it answer 503 until it does", "bucket", b.String(), "err", err)
	} else {
		log.Info("media library in an S3 bucket", "bucket", b.String())
	}
	return b, nil
}
