// Command utskick runs the newsletter service: the HTTP API and public
// pages, the campaign workers, or both in one process.
//
//	utskick [all]   API and worker in one process (the default)
//	utskick serve   API only
//	utskick work    worker only
//	utskick migrate apply database migrations and exit
//	utskick dkim    make a DKIM key in the data dir if none is set, print its DNS record
//	utskick users   add, list, or print a one-time link for staff users of the web workspace
//	utskick version
//
// Settings come from UTSKICK_* environment variables; see docs/configuration.md or
// `utskick -dump-config`.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/internal/metrics"
	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/internal/outbox"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker"
	"github.com/storsthlm/utskick/worker/mailer"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if os.Getenv("GOGC") == "" {
		// The send path allocates little per message but sends many: a
		// GC target of 200% instead of 100% cut the worker's CPU per
		// message by a sixth in the send benchmark, with peak RSS still
		// well under 100 MB. GOGC and GOMEMLIMIT still rule when set.
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is main without the process: testable with its own arguments,
// output and environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("utskick", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dump := fs.Bool("dump-config", false, "print the effective settings (secrets redacted) and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: utskick [-dump-config] [all|serve|work|migrate|dkim|users|version]")
	}
	cmd := "all"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 && cmd == "all" {
		cmd = fs.Arg(0)
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "utskick", version)
		return 0
	case "all", "serve", "work", "migrate", "dkim", "users":
	default:
		fs.Usage()
		return 2
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "utskick: invalid settings:\n%v\n", err)
		return 2
	}
	if *dump {
		cfg.dump(stdout, getenv)
		return 0
	}
	if cmd == "users" {
		return runUsers(ctx, cfg, fs.Args(), stdout, stderr)
	}
	if cmd == "dkim" {
		if err := runDKIM(cfg, stdout); err != nil {
			fmt.Fprintf(stderr, "utskick dkim: %v\n", err)
			return 1
		}
		return 0
	}
	log := newLogger(cfg, stderr)
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "utskick: UTSKICK_CPU_PROFILE: %v\n", err)
			return 2
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := start(ctx, cmd, cfg, log, stdout); err != nil {
		log.Error("utskick stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// start wires the parts for cmd and runs until ctx ends.
func start(ctx context.Context, cmd string, cfg *config, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	secret, err := loadSecret(cfg)
	if err != nil {
		return err
	}
	addrKey := store.DeriveAddressKey(secret)
	if cmd == "migrate" {
		st, err := store.OpenNoMigrate(store.Options{DSN: cfg.DatabaseURL, Log: log, AddressKey: addrKey})
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
	if err := cfg.validateFor(cmd); err != nil {
		return err
	}

	sign, err := links.NewSigner(secret)
	if err != nil {
		return err
	}
	dk, err := loadDKIM(cfg)
	if err != nil {
		return err
	}
	if dk != nil {
		for _, k := range dk.Keys() {
			log.Info("DKIM signing on", "domain", k.Domain(), "selector", k.Selector(), "algorithm", k.Algorithm())
		}
	} else {
		log.Warn("DKIM signing off: set UTSKICK_DKIM_DOMAIN (see `utskick dkim`); unsigned bulk mail is filtered by large mailbox providers")
	}
	stOpts := store.Options{DSN: cfg.DatabaseURL, Log: log, MaxOpenConns: cfg.DBMaxConns, AddressKey: addrKey}
	var st *store.Store
	if cfg.AutoMigrate {
		st, err = store.Open(ctx, stOpts)
	} else {
		st, err = store.OpenNoMigrate(stOpts)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	inst, err := st.InstanceID(ctx)
	if err != nil {
		return fmt.Errorf("%w (with UTSKICK_AUTO_MIGRATE=false, run `utskick migrate` first)", err)
	}
	// Queue names carry the database's identity: tasks another database
	// left in this Redis are never taken for this one's.
	queues := queue.DefaultQueues.WithPrefix("utskick-" + inst[:8] + "-")
	log.Info("database ready", "dialect", st.Dialect(), "instance", inst)

	rd, err := queue.Open(ctx, cfg.RedisURL, log)
	if err != nil {
		return err
	}
	defer rd.Close()
	client := asynq.NewClientFromRedisClient(rd.Client)
	tasks := queue.Client{C: client, Queues: queues}
	tmpl, err := mailtemplates.New()
	if err != nil {
		return err
	}
	var met *metrics.Metrics
	if cfg.Metrics {
		met = metrics.New()
		if err := met.Register(metrics.QueueCollector{Inspector: asynq.NewInspectorFromRedisClient(rd.Client), Log: log}); err != nil {
			return err
		}
		if err := met.Register(metrics.CampaignCollector{Store: st, Log: log}); err != nil {
			return err
		}
	}
	guard := store.Guardrail{MinSample: int64(cfg.GuardMinSample), MaxFailureRate: cfg.GuardFailureRate, MaxComplaintRate: cfg.GuardComplaint,
		MaxPolicyRate: cfg.GuardPolicy}
	in := inbound.New(st, sign, log).Configure(inbound.Config{
		Bounces:   store.BouncePolicy{SoftLimit: cfg.SoftBounceLimit, SoftWindow: cfg.SoftBounceWindow},
		Guardrail: guard, Metrics: met,
	})
	// One Composer renders campaigns for the API's lint, preview and
	// archive and for the worker's senders alike.
	comp := compose.New(compose.Config{BaseURL: cfg.BaseURL, From: cfg.From, Org: cfg.Org, ReturnPath: cfg.ReturnPath,
		MailtoDomain: cfg.MailtoDomain, BounceDomain: cfg.BounceDomain, NoVERP: !cfg.VERP}, tmpl, sign)
	wcfg := worker.Config{
		Queues:          queues,
		SMTPConnections: cfg.SMTPConnections, MessagesPerConn: cfg.MessagesPerConn, Slots: cfg.Slots,
		BatchSize: cfg.BatchSize, ClaimLease: cfg.ClaimLease, MaxAttempts: cfg.MaxAttempts, MaxAge: cfg.MaxAge,
		RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax, ReconcileEvery: cfg.ReconcileEvery,
		ShutdownTimeout: cfg.ShutdownTimeout, OptinTTL: cfg.OptinTTL,
		Guardrail:      guard,
		WebhookTimeout: cfg.WebhookTimeout, WebhookMaxRetry: cfg.WebhookMaxRetry,
	}

	// One guarded client for every request to a URL staff typed in: the
	// lint's link check and the webhooks.
	web := outbound.New(outbound.Config{AllowHosts: cfg.AllowPrivate, Timeout: cfg.WebhookTimeout})

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One heartbeat per process proves the database takes writes, for
	// /readyz and for the worker's hand-back of lapsed claims.
	hb := st.NewHeartbeat(worker.HeartbeatEvery(cfg.ClaimLease))
	wg.Add(1)
	go func() {
		defer wg.Done()
		hb.Run(runCtx)
	}()

	if cmd == "all" || cmd == "serve" {
		if err := bootstrapToken(ctx, st, cfg, log, stdout); err != nil {
			return err
		}
		if err := bootstrapUsers(ctx, st, cfg, log, stdout); err != nil {
			return err
		}
		deps := api.Deps{
			Store: st, Queue: tasks, Composer: comp, Templates: tmpl, Signer: sign,
			Log: log, BaseURL: cfg.BaseURL, Ready: rd.Ping, WriteCheck: hb.Err, OptinTTL: cfg.OptinTTL, Org: cfg.Org,
			TrustedProxies: cfg.TrustedProxies, Inbound: in.HandleFunc(api.ErrNotMail), DKIM: lintDKIM(dk),
			Limiter: queue.NewLimiter(rd.Client, ""), RateIP: cfg.RateIP, RateAddress: cfg.RateAddress, RateTest: cfg.RateTest,
			ImportMaxBytes: cfg.ImportMaxBytes,
			Tracking:       store.TrackingPolicy{MachineWindow: cfg.MachineWindow, BurstWindow: cfg.BurstWindow},
			MetricsToken:   cfg.MetricsToken, Outbound: web,
			SessionIdle: cfg.SessionIdle, SessionMax: cfg.SessionMax,
			RateSignin: cfg.RateSignin, RateSigninIP: cfg.RateSigninIP,
		}
		if met != nil { // a nil *metrics.Metrics in the interface would not read as nil
			deps.Metrics = met
		}
		if cfg.SMTPURL != "" {
			// Mail really goes out: check the From domain's SPF, DKIM and
			// DMARC before sending. The embedded capture needs none.
			deps.Resolver = net.DefaultResolver
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
		log.Info("http listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-runCtx.Done()
			sctx, c := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer c()
			hs.Shutdown(sctx)
		}()
	}

	if cmd == "all" || cmd == "work" {
		mcfg := cfg.SMTP
		if cfg.SMTPURL == "" {
			addr := cfg.CaptureAddr
			if addr == "" {
				addr = "127.0.0.1:0"
			}
			dir := filepath.Join(cfg.DataDir, "outbox")
			box, err := outbox.Start(outbox.Config{Addr: addr, Dir: dir, Log: log, Inbound: inboundHook(in, log)})
			if err != nil {
				return err
			}
			defer box.Close()
			log.Warn("using the EMBEDDED SMTP capture: mail is kept as .eml files, not delivered; set UTSKICK_SMTP_URL to send",
				"addr", box.Addr().String(), "dir", dir)
			mcfg = mailer.Config{Host: "127.0.0.1", Port: box.Addr().Port, TLS: mailer.TLSNone, Timeout: cfg.SMTP.Timeout}
		}
		m, err := mailer.New(mcfg)
		if err != nil {
			return err
		}
		deps := worker.Deps{Store: st, Queue: tasks, Mailer: m, Templates: tmpl, Signer: sign, Composer: comp, Log: log, DKIM: dk, Metrics: met,
			HTTPClient: web.Client(), Heartbeat: hb}
		if cfg.SendRate > 0 {
			deps.Limiter = queue.NewPacer(rd.Client, "utskick:"+inst[:8]+":send-rate", cfg.SendRate)
			if rd.Embedded == nil {
				log.Info("send rate shared by all workers", "messages_per_second", cfg.SendRate)
			}
		}
		if cfg.DomainLimits != "" {
			deps.Domains, _ = worker.ParseDomainLimits(cfg.DomainLimits) // checked by loadConfig
		}
		h, err := worker.NewHandlers(wcfg, deps)
		if err != nil {
			return err
		}
		if cfg.InboundAddr != "" {
			domain := cfg.BounceDomain
			if domain == "" {
				domain = cfg.MailtoDomain
			}
			l, err := inbound.Listen(inbound.ListenerConfig{Addr: cfg.InboundAddr, Domain: domain, Log: log}, in)
			if err != nil {
				return err
			}
			defer l.Close()
			log.Info("inbound smtp listening", "addr", l.Addr().String())
		}
		if cfg.InboundPOP3 != "" {
			pc, _ := inbound.ParsePOP3URL(cfg.InboundPOP3) // validated with the settings
			pc.Every, pc.Log = cfg.InboundPOP3Every, log
			wg.Add(1)
			go func() {
				defer wg.Done()
				in.RunPOP3(runCtx, pc)
			}()
			log.Info("polling a POP3 mailbox for inbound mail", "addr", pc.Addr, "every", pc.Every)
		}
		if cfg.InboundIMAP != "" {
			ic, _ := inbound.ParseIMAPURL(cfg.InboundIMAP) // validated with the settings
			ic.Processed, ic.Every, ic.Log = cfg.InboundIMAPDone, cfg.InboundPOP3Every, log
			wg.Add(1)
			go func() {
				defer wg.Done()
				in.RunIMAP(runCtx, ic)
			}()
			log.Info("polling an IMAP folder for inbound mail", "addr", ic.Addr, "mailbox", ic.Mailbox, "processed", ic.Processed, "every", ic.Every)
		}
		if cmd == "work" && met != nil && cfg.MetricsAddr != "" {
			ms := &http.Server{Addr: cfg.MetricsAddr, Handler: metricsOnly(met, cfg.MetricsToken), ReadHeaderTimeout: 10 * time.Second}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := ms.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					errc <- fmt.Errorf("metrics: %w", err)
				}
			}()
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-runCtx.Done()
				ms.Close()
			}()
			log.Info("metrics listening", "addr", cfg.MetricsAddr)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.Run(runCtx, rd.Client); err != nil {
				errc <- err
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case runErr = <-errc:
	}
	cancel()
	wg.Wait()
	return runErr
}

// loadSecret returns UTSKICK_SECRET, or the key kept in the data dir,
// creating it on first start.
func loadSecret(cfg *config) ([]byte, error) {
	if cfg.Secret != "" {
		return []byte(cfg.Secret), nil
	}
	path := filepath.Join(cfg.DataDir, "secret")
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= 32 {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("%s is shorter than 32 characters; delete it to have a new one made", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(k[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadSecret(cfg) // another process made it first
	}
	if err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	return []byte(s), f.Close()
}

// bootstrapToken makes sure an admin can get in: UTSKICK_ADMIN_TOKEN is
// always valid; without it, the first start makes a token and prints it
// once.
func bootstrapToken(ctx context.Context, st *store.Store, cfg *config, log *slog.Logger, stdout io.Writer) error {
	if cfg.AdminToken != "" {
		added, err := st.EnsureToken(ctx, "bootstrap (UTSKICK_ADMIN_TOKEN)", store.RoleAdmin, cfg.AdminToken)
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		if added {
			log.Info("admin token from UTSKICK_ADMIN_TOKEN registered")
		}
		return nil
	}
	n, err := st.CountTokens(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	secret := store.NewTokenSecret()
	if _, err := st.CreateToken(ctx, "bootstrap", store.RoleAdmin, secret); err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	fmt.Fprintf(stdout, "\nFirst start: an admin API token was created. It is shown only this once; keep it:\n\n    %s\n\n", secret)
	log.Warn("created the first admin API token and printed it on stdout; it is not shown again")
	return nil
}

// inboundHook lets the embedded SMTP server hand mail for utskick's own
// addresses (unsubscribe+token@, bounces+token@) to the inbound processor
// instead of the outbox.
func inboundHook(in *inbound.Processor, log *slog.Logger) outbox.InboundFunc {
	return func(ctx context.Context, from string, to []string, data []byte) bool {
		if !inbound.ForUs(to) {
			return false
		}
		if _, err := in.Handle(ctx, to, bytes.NewReader(data)); err != nil {
			log.Warn("inbound mail", "err", err)
		}
		return true
	}
}

// metricsOnly serves /metrics of a worker process.
func metricsOnly(met *metrics.Metrics, token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="utskick metrics"`)
			http.Error(w, "metrics need the metrics token", http.StatusUnauthorized)
			return
		}
		met.Handler().ServeHTTP(w, r)
	})
	return mux
}
