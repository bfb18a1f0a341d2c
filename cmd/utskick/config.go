package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/internal/s3media"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/worker"
	"github.com/storsthlm/utskick/worker/mailer"
)

// config is every setting, read from UTSKICK_* variables. Nothing else in
// utskick reads the environment.
type config struct {
	HTTPAddr     string
	DataDir      string
	BaseURL      string
	DatabaseURL  string
	DBMaxConns   int
	AutoMigrate  bool
	RedisURL     string // "" = embedded
	SMTPURL      string // "" = embedded capture
	SMTP         mailer.Config
	CaptureAddr  string
	From         mail.Address
	Org          string
	ReturnPath   string
	MailtoDomain string
	Secret       string // "" = generated in the data dir
	AdminToken   string

	SMTPConnections int
	MessagesPerConn int
	SendRate        float64
	DomainLimits    string
	Slots           int
	BatchSize       int
	MaxAttempts     int
	RetryBase       time.Duration
	RetryMax        time.Duration
	MaxAge          time.Duration
	ClaimLease      time.Duration
	ReconcileEvery  time.Duration
	ShutdownTimeout time.Duration
	OptinTTL        time.Duration

	DKIMDomain    string // "" = signing off
	DKIMSelector  string
	DKIMKeyPEM    []byte // "" = the key file in the data dir
	DKIMAlgorithm string // "" = the key's; rsa when generating
	// A second key for dual signing: "" = none.
	DKIMSecondSelector  string
	DKIMSecondKeyPEM    []byte
	DKIMRSA             string // auto, libcrypto or go: what signs with an RSA key
	RateIP              queue.Rate
	RateAddress         queue.Rate
	RateTest            queue.Rate
	ImportMaxBytes      int64
	TrackingConcurrency int
	TrackingRate        int
	// MediaS3 is the bucket of the media library; Bucket "" keeps the
	// images in the database.
	MediaS3 s3media.Config

	SessionIdle  time.Duration
	SessionMax   time.Duration
	RateSignin   queue.Rate
	RateSigninIP queue.Rate

	TrustedProxies []*net.IPNet
	LogLevel       slog.Level
	LogFormat      string
	CPUProfile     string

	BounceDomain     string
	VERP             bool
	InboundAddr      string        // "" = no inbound SMTP listener
	InboundPOP3      string        // "" = no mailbox polling
	InboundPOP3Every time.Duration // also the IMAP polling interval
	InboundIMAP      string        // "" = no IMAP polling
	InboundIMAPDone  string        // folder for handled mail, or inbound.IMAPDelete
	SoftBounceLimit  int
	SoftBounceWindow time.Duration
	MachineWindow    time.Duration
	BurstWindow      time.Duration
	GuardMinSample   int
	GuardFailureRate float64
	GuardComplaint   float64
	GuardPolicy      float64
	Metrics          bool
	MetricsToken     string
	MetricsAddr      string // for `utskick work`, which has no HTTP server
	WebhookTimeout   time.Duration
	DNSTimeout       time.Duration
	WebhookMaxRetry  int
	AllowPrivate     []string // hosts the link check and webhooks may reach on private addresses
}

// setting documents one variable; the table drives parsing, docs/configuration.md
// list and -dump-config.
type setting struct {
	name     string
	def      string
	computed bool // def describes a default computed elsewhere; it is not a value
	secret   bool // has a _FILE variant and is redacted in dumps
	help     string
	apply    func(c *config, v string) error
}

var settings = []setting{
	{name: "UTSKICK_HTTP_ADDR", def: "127.0.0.1:8080", help: "where the HTTP API and public pages listen",
		apply: func(c *config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("want host:port: %v", err)
			}
			c.HTTPAddr = v
			return nil
		}},
	{name: "UTSKICK_DATA_DIR", def: "./data", help: "SQLite file, generated secret, embedded SMTP outbox",
		apply: func(c *config, v string) error { c.DataDir = v; return nil }},
	{name: "UTSKICK_BASE_URL", computed: true, def: "http:// + UTSKICK_HTTP_ADDR", help: "public URL used in links in mail",
		apply: func(c *config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("want an absolute http(s) URL")
			}
			c.BaseURL = strings.TrimRight(v, "/")
			return nil
		}},
	{name: "UTSKICK_DATABASE_URL", computed: true, def: "sqlite:<data dir>/utskick.db", secret: true, help: "sqlite:<path> or postgres://user:pass@host/db",
		apply: func(c *config, v string) error {
			if !strings.HasPrefix(v, "sqlite:") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
				return errors.New("want sqlite:<path> or postgres://…")
			}
			c.DatabaseURL = v
			return nil
		}},
	{name: "UTSKICK_DB_MAX_CONNS", def: "16", help: "database connections per process (Postgres; SQLite readers)",
		apply: func(c *config, v string) error { return positiveInt(v, &c.DBMaxConns) }},
	{name: "UTSKICK_AUTO_MIGRATE", def: "true", help: "apply schema migrations at start; false: run `utskick migrate` yourself",
		apply: func(c *config, v string) error { return boolean(v, &c.AutoMigrate) }},
	{name: "UTSKICK_REDIS_URL", computed: true, def: "embedded in-process Redis", secret: true, help: "redis://[:pass@]host:6379/0 shared by all processes",
		apply: func(c *config, v string) error {
			if !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") && !strings.HasPrefix(v, "unix://") {
				return errors.New("want redis://, rediss:// or unix://")
			}
			c.RedisURL = v
			return nil
		}},
	{name: "UTSKICK_SMTP_URL", computed: true, def: "embedded capture to <data dir>/outbox", secret: true, help: "smtp://user:pass@host:port?tls=starttls|tls|none",
		apply: func(c *config, v string) error {
			sc, err := parseSMTPURL(v)
			if err != nil {
				return err
			}
			c.SMTPURL, c.SMTP = v, sc
			return nil
		}},
	{name: "UTSKICK_SMTP_CAPTURE_ADDR", def: "127.0.0.1:0", help: "loopback address of the embedded capture (port 0: any free port)",
		apply: func(c *config, v string) error {
			host, _, err := net.SplitHostPort(v)
			if err != nil {
				return fmt.Errorf("want host:port: %v", err)
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return errors.New("the capture listens on loopback only")
			}
			c.CaptureAddr = v
			return nil
		}},
	{name: "UTSKICK_FROM", def: "Utskick <utskick@example.org>", help: "default sender of campaigns and system mail",
		apply: func(c *config, v string) error {
			a, err := mail.ParseAddress(v)
			if err != nil {
				return fmt.Errorf("want an address like \"Förbundet <nyhetsbrev@example.se>\": %v", err)
			}
			c.From = *a
			return nil
		}},
	{name: "UTSKICK_ORG", computed: true, def: "the name in UTSKICK_FROM", help: "organisation name in mail and on public pages",
		apply: func(c *config, v string) error { c.Org = v; return nil }},
	{name: "UTSKICK_RETURN_PATH", computed: true, def: "the address in UTSKICK_FROM", help: "envelope sender (MAIL FROM) of campaign mail",
		apply: func(c *config, v string) error {
			if _, err := mail.ParseAddress(v); err != nil {
				return fmt.Errorf("want an address: %v", err)
			}
			c.ReturnPath = v
			return nil
		}},
	{name: "UTSKICK_MAILTO_DOMAIN", computed: true, def: "the domain of UTSKICK_FROM", help: "domain of the unsubscribe+token@ mailto address (its MX must reach utskick)",
		apply: func(c *config, v string) error { c.MailtoDomain = strings.ToLower(v); return nil }},
	{name: "UTSKICK_SECRET", computed: true, def: "generated into <data dir>/secret", secret: true, help: "HMAC key for links in mail (32+ characters)",
		apply: func(c *config, v string) error {
			if len(v) < 32 {
				return errors.New("must be at least 32 characters")
			}
			c.Secret = v
			return nil
		}},
	{name: "UTSKICK_ADMIN_TOKEN", computed: true, def: "generated and printed once at first start", secret: true, help: "bootstrap admin API token",
		apply: func(c *config, v string) error {
			if len(v) < 20 {
				return errors.New("must be at least 20 characters")
			}
			c.AdminToken = v
			return nil
		}},
	{name: "UTSKICK_SMTP_CONNECTIONS", def: "8", help: "SMTP sessions (and campaign senders) per worker process",
		apply: func(c *config, v string) error { return positiveInt(v, &c.SMTPConnections) }},
	{name: "UTSKICK_SMTP_MESSAGES_PER_CONN", def: "0", help: "open a new SMTP session after this many messages (0: never)",
		apply: func(c *config, v string) error { return nonNegativeInt(v, &c.MessagesPerConn) }},
	{name: "UTSKICK_SMTP_TIMEOUT", def: "30s", help: "timeout of one SMTP command",
		apply: func(c *config, v string) error { return duration(v, &c.SMTP.Timeout) }},
	{name: "UTSKICK_SMTP_CHUNKING", def: "true", help: "send with BDAT (CHUNKING, RFC 3030) to a server that offers it: one round trip a message instead of two; false: DATA only",
		apply: func(c *config, v string) error {
			var on bool
			err := boolean(v, &on)
			c.SMTP.DataOnly = !on
			return err
		}},
	{name: "UTSKICK_SEND_RATE", def: "0", help: "campaign messages per second across all workers (0: unlimited)",
		apply: func(c *config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return errors.New("want a number ≥ 0")
			}
			c.SendRate = f
			return nil
		}},
	{name: "UTSKICK_DOMAIN_CONCURRENCY", computed: true, def: "none", help: "concurrent sends per recipient domain in one worker, e.g. gmail.com=4,outlook.com=4,*=8",
		apply: func(c *config, v string) error {
			if _, err := worker.ParseDomainLimits(v); err != nil {
				return err
			}
			c.DomainLimits = v
			return nil
		}},
	{name: "UTSKICK_WORKER_SLOTS", def: "32", help: "sender tasks per campaign, shared by all worker processes",
		apply: func(c *config, v string) error { return positiveInt(v, &c.Slots) }},
	{name: "UTSKICK_BATCH_SIZE", def: "100", help: "deliveries a sender claims at a time",
		apply: func(c *config, v string) error { return positiveInt(v, &c.BatchSize) }},
	{name: "UTSKICK_MAX_ATTEMPTS", def: "8", help: "tries before a temporary SMTP failure is final",
		apply: func(c *config, v string) error { return positiveInt(v, &c.MaxAttempts) }},
	{name: "UTSKICK_RETRY_BASE", def: "1m", help: "first retry delay after a temporary failure; doubles each try, ±20% jitter",
		apply: func(c *config, v string) error { return duration(v, &c.RetryBase) }},
	{name: "UTSKICK_RETRY_MAX", def: "2h", help: "longest retry delay",
		apply: func(c *config, v string) error { return duration(v, &c.RetryMax) }},
	{name: "UTSKICK_MAX_AGE", def: "24h", help: "after this, a temporary failure is final",
		apply: func(c *config, v string) error { return duration(v, &c.MaxAge) }},
	{name: "UTSKICK_CLAIM_LEASE", def: "15s", help: "how long claimed deliveries of a dead sender wait before another sends them",
		apply: func(c *config, v string) error { return duration(v, &c.ClaimLease) }},
	{name: "UTSKICK_RECONCILE_INTERVAL", def: "10s", help: "how often workers rebuild the queue from the database",
		apply: func(c *config, v string) error { return duration(v, &c.ReconcileEvery) }},
	{name: "UTSKICK_SHUTDOWN_TIMEOUT", def: "30s", help: "graceful shutdown budget after SIGTERM",
		apply: func(c *config, v string) error { return duration(v, &c.ShutdownTimeout) }},
	{name: "UTSKICK_OPTIN_TTL", def: "7d", help: "how long a double opt-in link works",
		apply: func(c *config, v string) error { return duration(v, &c.OptinTTL) }},
	{name: "UTSKICK_DKIM_DOMAIN", computed: true, def: "off (messages are not signed)", help: "DKIM signing domain (d=); set it to sign every message",
		apply: func(c *config, v string) error {
			v = strings.ToLower(strings.TrimSuffix(v, "."))
			if !domainRE.MatchString(v) {
				return errors.New("want a domain name like example.se")
			}
			c.DKIMDomain = v
			return nil
		}},
	{name: "UTSKICK_DKIM_SELECTOR", def: "utskick", help: "DKIM selector (s=): the key is published at <selector>._domainkey.<domain>",
		apply: func(c *config, v string) error {
			if !selectorRE.MatchString(v) {
				return errors.New("want a DNS label of a-z, 0-9 and -")
			}
			c.DKIMSelector = v
			return nil
		}},
	{name: "UTSKICK_DKIM_PRIVATE_KEY", computed: true, def: "<data dir>/dkim-<selector>.pem, made by `utskick dkim`", secret: true, help: "DKIM private key, PEM (PKCS#8 RSA or Ed25519, or PKCS#1 RSA)",
		apply: func(c *config, v string) error {
			if !strings.Contains(v, "\n") && strings.Contains(v, `\n`) {
				// A one-line PEM from an env file, with "\n" written out.
				v = strings.ReplaceAll(v, `\n`, "\n")
			}
			if _, err := mailer.ParseDKIMKey([]byte(v)); err != nil {
				return err
			}
			c.DKIMKeyPEM = []byte(v)
			return nil
		}},
	{name: "UTSKICK_DKIM_ALGORITHM", computed: true, def: "the key's; rsa for a new key", help: "rsa (RSA-2048) or ed25519: the key `utskick dkim` makes, and what a configured key must be",
		apply: func(c *config, v string) error {
			if v != mailer.DKIMRSA && v != mailer.DKIMEd25519 {
				return errors.New("want rsa or ed25519")
			}
			c.DKIMAlgorithm = v
			return nil
		}},
	{name: "UTSKICK_DKIM_SECOND_SELECTOR", computed: true, def: "off", help: "a second DKIM key's selector, for dual signing (RSA and Ed25519): every message gets a signature from each key",
		apply: func(c *config, v string) error {
			if !selectorRE.MatchString(v) {
				return errors.New("want a DNS label of a-z, 0-9 and -")
			}
			c.DKIMSecondSelector = v
			return nil
		}},
	{name: "UTSKICK_DKIM_SECOND_PRIVATE_KEY", computed: true, def: "<data dir>/dkim-<second selector>.pem, made by `utskick dkim`", secret: true, help: "the second DKIM key, PEM; its algorithm must differ from the first's",
		apply: func(c *config, v string) error {
			if !strings.Contains(v, "\n") && strings.Contains(v, `\n`) {
				v = strings.ReplaceAll(v, `\n`, "\n")
			}
			if _, err := mailer.ParseDKIMKey([]byte(v)); err != nil {
				return err
			}
			c.DKIMSecondKeyPEM = []byte(v)
			return nil
		}},
	{name: "UTSKICK_DKIM_RSA", def: "auto", help: "what computes RSA signatures: auto (the system's libcrypto.so.3, about three times faster than Go's, when it can be opened; else Go), libcrypto (refuse to start without it) or go",
		apply: func(c *config, v string) error {
			if v != "auto" && v != "libcrypto" && v != "go" {
				return errors.New("want auto, libcrypto or go")
			}
			c.DKIMRSA = v
			return nil
		}},
	{name: "UTSKICK_RATE_IP", def: "30/1m", help: "subscribe and confirm requests per client IP (IPv6: per /64), as N/duration; 0: no limit",
		apply: func(c *config, v string) error { return rate(v, &c.RateIP) }},
	{name: "UTSKICK_RATE_ADDRESS", def: "5/1h", help: "subscribe, resend and password-reset requests per email address, as N/duration; 0: no limit",
		apply: func(c *config, v string) error { return rate(v, &c.RateAddress) }},
	{name: "UTSKICK_SESSION_IDLE", def: "8h", help: "a staff session ends after this long without a request",
		apply: func(c *config, v string) error { return duration(v, &c.SessionIdle) }},
	{name: "UTSKICK_SESSION_MAX", def: "7d", help: "a staff session ends this long after sign-in, however active",
		apply: func(c *config, v string) error { return duration(v, &c.SessionMax) }},
	{name: "UTSKICK_RATE_SIGNIN", def: "10/15m", help: "sign-in attempts per staff account, as N/duration; 0: no limit",
		apply: func(c *config, v string) error { return rate(v, &c.RateSignin) }},
	{name: "UTSKICK_RATE_SIGNIN_IP", def: "50/15m", help: "sign-in and password-reset attempts per client IP (IPv6: per /64); 0: no limit",
		apply: func(c *config, v string) error { return rate(v, &c.RateSigninIP) }},
	{name: "UTSKICK_RATE_TEST", def: "100/1h", help: "test-send mails per API token, as N/duration; 0: no limit",
		apply: func(c *config, v string) error { return rate(v, &c.RateTest) }},
	{name: "UTSKICK_IMPORT_MAX_BYTES", def: "1073741824", help: "largest CSV upload to POST /api/v1/imports, in bytes",
		apply: func(c *config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return errors.New("want a positive number of bytes")
			}
			c.ImportMaxBytes = n
			return nil
		}},
	{name: "UTSKICK_TRACKING_CONCURRENCY", computed: true, def: "the number of CPUs", help: "opens and clicks one process records at once; more wait their turn, so a burst of readers does not starve a send",
		apply: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return errors.New("want a positive number")
			}
			c.TrackingConcurrency = n
			return nil
		}},
	{name: "UTSKICK_TRACKING_RATE", computed: true, def: "250 a second per CPU", help: "opens and clicks a process records per second at most while a campaign sends beside it (utskick all); more wait their turn, up to 2s, then are answered without being counted, so readers clicking during a send do not starve it (0: no limit)",
		apply: func(c *config, v string) error { return nonNegativeInt(v, &c.TrackingRate) }},
	{name: "UTSKICK_TRUSTED_PROXIES", computed: true, def: "none", help: "comma-separated CIDRs whose X-Forwarded-For is trusted",
		apply: func(c *config, v string) error {
			c.TrustedProxies = nil
			for _, f := range strings.Split(v, ",") {
				_, n, err := net.ParseCIDR(strings.TrimSpace(f))
				if err != nil {
					return fmt.Errorf("%q: want a CIDR like 10.0.0.0/8", f)
				}
				c.TrustedProxies = append(c.TrustedProxies, n)
			}
			return nil
		}},
	{name: "UTSKICK_BOUNCE_DOMAIN", computed: true, def: "UTSKICK_MAILTO_DOMAIN", help: "domain of the per-delivery VERP envelope sender bounces+<token>@ (its MX must reach utskick)",
		apply: func(c *config, v string) error {
			if strings.ContainsAny(v, "@ /") || !strings.Contains(v, ".") && v != "localhost" {
				return errors.New("want a domain name like bounces.example.se")
			}
			c.BounceDomain = strings.ToLower(v)
			return nil
		}},
	{name: "UTSKICK_VERP", def: "true", help: "send each message with its own bounces+<token>@ envelope sender; false: UTSKICK_RETURN_PATH for all",
		apply: func(c *config, v string) error { return boolean(v, &c.VERP) }},
	{name: "UTSKICK_INBOUND_ADDR", computed: true, def: "off", help: "host:port of the inbound SMTP listener for bounces, complaints and mailto unsubscribes (e.g. :25)",
		apply: func(c *config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("want host:port: %v", err)
			}
			c.InboundAddr = v
			return nil
		}},
	{name: "UTSKICK_INBOUND_POP3_URL", computed: true, def: "off", secret: true, help: "poll this mailbox for bounces and complaints: pop3s://user:pass@host:995",
		apply: func(c *config, v string) error {
			if _, err := inbound.ParsePOP3URL(v); err != nil {
				return err
			}
			c.InboundPOP3 = v
			return nil
		}},
	{name: "UTSKICK_INBOUND_IMAP_URL", computed: true, def: "off", secret: true, help: "poll this IMAP folder for bounces and complaints: imaps://user:pass@host:993/INBOX (imap:// uses STARTTLS)",
		apply: func(c *config, v string) error {
			if _, err := inbound.ParseIMAPURL(v); err != nil {
				return err
			}
			c.InboundIMAP = v
			return nil
		}},
	{name: "UTSKICK_INBOUND_IMAP_PROCESSED", def: inbound.DefaultIMAPProcessed, help: "IMAP folder handled mail is moved to (created if missing); `delete` deletes it instead",
		apply: func(c *config, v string) error {
			if strings.ContainsAny(v, "\r\n\x00") {
				return errors.New("want a folder name")
			}
			c.InboundIMAPDone = v
			return nil
		}},
	{name: "UTSKICK_INBOUND_POLL_INTERVAL", def: "1m", help: "how often the POP3 or IMAP mailbox is polled",
		apply: func(c *config, v string) error { return duration(v, &c.InboundPOP3Every) }},
	{name: "UTSKICK_SOFT_BOUNCE_LIMIT", def: "3", help: "soft-bounced deliveries that suppress an address…",
		apply: func(c *config, v string) error { return positiveInt(v, &c.SoftBounceLimit) }},
	{name: "UTSKICK_SOFT_BOUNCE_WINDOW", def: "30d", help: "…within this long",
		apply: func(c *config, v string) error { return duration(v, &c.SoftBounceWindow) }},
	{name: "UTSKICK_TRACKING_MACHINE_WINDOW", def: "10s", help: "an open or click this soon after delivery counts as a machine's",
		apply: func(c *config, v string) error { return duration(v, &c.MachineWindow) }},
	{name: "UTSKICK_TRACKING_BURST_WINDOW", def: "2s", help: "clicks on different links of one message this close together count as a scanner's",
		apply: func(c *config, v string) error { return duration(v, &c.BurstWindow) }},
	{name: "UTSKICK_GUARD_MIN_SAMPLE", def: "200", help: "messages a campaign sends before the guardrail judges its rates",
		apply: func(c *config, v string) error { return positiveInt(v, &c.GuardMinSample) }},
	{name: "UTSKICK_GUARD_MAX_FAILURE_RATE", def: "0.1", help: "pause a campaign when permanent failures and hard bounces pass this share of messages (0: off)",
		apply: func(c *config, v string) error { return share(v, &c.GuardFailureRate) }},
	{name: "UTSKICK_GUARD_MAX_COMPLAINT_RATE", def: "0.003", help: "pause a campaign when complaints pass this share of delivered messages (0: off)",
		apply: func(c *config, v string) error { return share(v, &c.GuardComplaint) }},
	{name: "UTSKICK_GUARD_MAX_POLICY_RATE", def: "0.05", help: "pause a campaign when refusals for the sender's sake (DMARC/SPF, block lists, content filters) pass this share of messages (0: off)",
		apply: func(c *config, v string) error { return share(v, &c.GuardPolicy) }},
	{name: "UTSKICK_METRICS", def: "true", help: "serve Prometheus metrics at /metrics",
		apply: func(c *config, v string) error { return boolean(v, &c.Metrics) }},
	{name: "UTSKICK_METRICS_TOKEN", computed: true, def: "none: /metrics is open", secret: true, help: "bearer token a scraper must send to /metrics",
		apply: func(c *config, v string) error { c.MetricsToken = v; return nil }},
	{name: "UTSKICK_METRICS_ADDR", computed: true, def: "off", help: "host:port of a /metrics listener for `utskick work`, which has no HTTP API",
		apply: func(c *config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("want host:port: %v", err)
			}
			c.MetricsAddr = v
			return nil
		}},
	{name: "UTSKICK_MEDIA_S3_BUCKET", computed: true, def: "none: images in the database", help: "S3-compatible bucket for new images of the media library; they are still served at UTSKICK_BASE_URL/media/…",
		apply: func(c *config, v string) error { c.MediaS3.Bucket = v; return nil }},
	{name: "UTSKICK_MEDIA_S3_ENDPOINT", def: "s3.amazonaws.com", help: "host[:port] of the S3 API, without scheme",
		apply: func(c *config, v string) error {
			if strings.Contains(v, "://") || strings.Contains(v, "/") {
				return errors.New("want host or host:port, without scheme (UTSKICK_MEDIA_S3_TLS says https or http)")
			}
			c.MediaS3.Endpoint = v
			return nil
		}},
	{name: "UTSKICK_MEDIA_S3_REGION", computed: true, def: "asked of the server", help: "region of the bucket (e.g. eu-north-1)",
		apply: func(c *config, v string) error { c.MediaS3.Region = v; return nil }},
	{name: "UTSKICK_MEDIA_S3_ACCESS_KEY", computed: true, def: "none", secret: true, help: "access key id for the bucket",
		apply: func(c *config, v string) error { c.MediaS3.AccessKey = v; return nil }},
	{name: "UTSKICK_MEDIA_S3_SECRET_KEY", computed: true, def: "none", secret: true, help: "secret access key for the bucket",
		apply: func(c *config, v string) error { c.MediaS3.SecretKey = v; return nil }},
	{name: "UTSKICK_MEDIA_S3_PREFIX", computed: true, def: "none", help: "put before every object name, e.g. utskick/media/",
		apply: func(c *config, v string) error {
			if strings.HasPrefix(v, "/") {
				return errors.New("want a key prefix without a leading /")
			}
			c.MediaS3.Prefix = v
			return nil
		}},
	{name: "UTSKICK_MEDIA_S3_PATH_STYLE", def: "false", help: "address the bucket as host/bucket (MinIO, Garage, most self-hosted servers) instead of bucket.host",
		apply: func(c *config, v string) error { return boolean(v, &c.MediaS3.PathStyle) }},
	{name: "UTSKICK_MEDIA_S3_TLS", def: "true", help: "talk https to the endpoint; false only for a server on loopback",
		apply: func(c *config, v string) error { return boolean(v, &c.MediaS3.TLS) }},
	{name: "UTSKICK_WEBHOOK_TIMEOUT", def: "10s", help: "timeout of one webhook request",
		apply: func(c *config, v string) error { return duration(v, &c.WebhookTimeout) }},
	{name: "UTSKICK_DNS_TIMEOUT", def: "5s", help: "bound of one DNS lookup of the SPF, DKIM and DMARC checks (lint, Settings → Sending domain)",
		apply: func(c *config, v string) error { return duration(v, &c.DNSTimeout) }},
	{name: "UTSKICK_WEBHOOK_MAX_RETRY", def: "15", help: "retries of a failed webhook delivery, with backoff, before it is marked failed",
		apply: func(c *config, v string) error { return nonNegativeInt(v, &c.WebhookMaxRetry) }},
	{name: "UTSKICK_ALLOW_PRIVATE_HOSTS", computed: true, def: "none", help: "comma-separated host names that the lint's link check and webhooks may reach although they resolve to private, loopback or link-local addresses",
		apply: func(c *config, v string) error {
			c.AllowPrivate = nil
			for _, h := range strings.Split(v, ",") {
				h = strings.TrimSpace(h)
				if h == "" || strings.ContainsAny(h, "/:@ ") && net.ParseIP(strings.Trim(h, "[]")) == nil {
					return fmt.Errorf("%q: want host names like intranet.example.se, without scheme or port", h)
				}
				c.AllowPrivate = append(c.AllowPrivate, h)
			}
			return nil
		}},
	{name: "UTSKICK_LOG_LEVEL", def: "info", help: "debug, info, warn or error",
		apply: func(c *config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{name: "UTSKICK_CPU_PROFILE", computed: true, def: "off", help: "write a Go CPU profile of the whole run to this file (for performance work)",
		apply: func(c *config, v string) error { c.CPUProfile = v; return nil }},
	{name: "UTSKICK_LOG_FORMAT", def: "json", help: "json or text",
		apply: func(c *config, v string) error {
			if v != "json" && v != "text" {
				return errors.New("want json or text")
			}
			c.LogFormat = v
			return nil
		}},
}

var (
	domainRE   = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	selectorRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func rate(v string, dst *queue.Rate) error {
	r, err := queue.ParseRate(v)
	if err != nil {
		return err
	}
	*dst = r
	return nil
}

func positiveInt(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return errors.New("want a positive integer")
	}
	*dst = n
	return nil
}

func nonNegativeInt(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return errors.New("want an integer ≥ 0")
	}
	*dst = n
	return nil
}

// share reads a share between 0 and 1.
func share(v string, dst *float64) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return errors.New("want a share between 0 and 1, e.g. 0.05")
	}
	*dst = f
	return nil
}

func boolean(v string, dst *bool) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	*dst = b
	return nil
}

// duration accepts Go durations and a whole number of days ("7d").
func duration(v string, dst *time.Duration) error {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n > 0 {
			*dst = time.Duration(n) * 24 * time.Hour
			return nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("want a positive duration like 30s, 5m, 2h or 7d")
	}
	*dst = d
	return nil
}

// parseSMTPURL reads smtp://user:pass@host:port?tls=starttls|tls|none.
func parseSMTPURL(v string) (mailer.Config, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return mailer.Config{}, errors.New("want smtp://user:pass@host:port?tls=starttls|tls|none")
	}
	c := mailer.Config{Host: u.Hostname(), TLS: mailer.TLSStartTLS}
	if u.Scheme == "smtps" {
		c.TLS = mailer.TLSImplicit
	}
	if t := u.Query().Get("tls"); t != "" {
		if t != mailer.TLSStartTLS && t != mailer.TLSImplicit && t != mailer.TLSNone {
			return mailer.Config{}, fmt.Errorf("tls=%q: want starttls, tls or none", t)
		}
		c.TLS = t
	}
	c.Port = map[string]int{mailer.TLSImplicit: 465}[c.TLS]
	if c.Port == 0 {
		c.Port = 587
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return mailer.Config{}, fmt.Errorf("port %q is not a port", p)
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if c.TLS == mailer.TLSNone && c.Username != "" {
		if ip := net.ParseIP(c.Host); c.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return mailer.Config{}, errors.New("refusing to send a password without TLS to a non-loopback server")
		}
	}
	if h := u.Query().Get("helo"); h != "" {
		c.HELO = h
	}
	return c, nil
}

// loadConfig reads the environment through getenv (os.Getenv in main,
// a map in tests). Every invalid value is reported, each naming its
// variable.
func loadConfig(getenv func(string) string) (*config, error) {
	c := &config{TrackingRate: -1}
	var errs []error
	for _, s := range settings {
		v := strings.TrimSpace(getenv(s.name))
		if s.secret {
			if f := getenv(s.name + "_FILE"); f != "" {
				if v != "" {
					errs = append(errs, fmt.Errorf("%s and %s_FILE are both set; use one", s.name, s.name))
					continue
				}
				b, err := os.ReadFile(f)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s_FILE: %v", s.name, err))
					continue
				}
				v = strings.TrimSpace(string(b))
			}
		}
		if v == "" {
			if s.computed {
				continue
			}
			v = s.def
		}
		if err := s.apply(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", s.name, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.HTTPAddr
	}
	if c.TrackingRate < 0 {
		// Beside a send on two cores, 500 a second let it keep 0.53-0.54
		// of its rate while fifty readers clicked as fast as answered
		// (1,000: 0.49; no limit: 0.26).
		c.TrackingRate = 250 * runtime.GOMAXPROCS(0)
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "utskick.db")
	}
	if c.Org == "" {
		c.Org = c.From.Name
	}
	if c.Org == "" {
		c.Org = "utskick"
	}
	if err := c.checkMediaS3(); err != nil {
		return nil, err
	}
	if c.SessionIdle > c.SessionMax {
		return nil, fmt.Errorf("UTSKICK_SESSION_IDLE (%s) is longer than UTSKICK_SESSION_MAX (%s)", c.SessionIdle, c.SessionMax)
	}
	return c, nil
}

// checkMediaS3 checks the bucket's settings as a whole: keys go with a
// bucket, and secrets go over TLS unless the server is on loopback.
func (c *config) checkMediaS3() error {
	m := c.MediaS3
	if m.Bucket == "" {
		if m.AccessKey != "" || m.SecretKey != "" || m.Prefix != "" || m.Region != "" {
			return errors.New("UTSKICK_MEDIA_S3_* is set but UTSKICK_MEDIA_S3_BUCKET is not: name the bucket, or unset the others to keep images in the database")
		}
		return nil
	}
	if m.AccessKey == "" || m.SecretKey == "" {
		return errors.New("UTSKICK_MEDIA_S3_BUCKET needs UTSKICK_MEDIA_S3_ACCESS_KEY and UTSKICK_MEDIA_S3_SECRET_KEY (or their _FILE variants)")
	}
	if !m.TLS {
		host, _, err := net.SplitHostPort(m.Endpoint)
		if err != nil {
			host = m.Endpoint
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("UTSKICK_MEDIA_S3_TLS=false: refusing to send the bucket's keys without TLS to a server not on loopback")
		}
	}
	return nil
}

// validateFor checks what the subcommand cmd needs beyond valid settings.
func (c *config) validateFor(cmd string) error {
	if (cmd == "serve" || cmd == "work") && c.RedisURL == "" {
		return fmt.Errorf("utskick %s needs UTSKICK_REDIS_URL: the embedded Redis lives inside one process, so separate API and worker processes cannot share it (use `utskick all`)", cmd)
	}
	return nil
}

// dump prints the effective settings with secrets redacted.
func (c *config) dump(w io.Writer, getenv func(string) string) {
	lines := make([]string, 0, len(settings))
	for _, s := range settings {
		v := getenv(s.name)
		src := "set"
		if s.secret && getenv(s.name+"_FILE") != "" {
			v, src = "(from "+getenv(s.name+"_FILE")+")", "file"
		}
		if v == "" {
			v, src = s.def, "default"
		}
		if s.secret && src != "default" {
			v = "(redacted)"
		}
		lines = append(lines, fmt.Sprintf("%-32s %-8s %s", s.name, src, v))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
