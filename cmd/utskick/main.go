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
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/internal/metrics"
	"github.com/storsthlm/utskick/internal/outbox"
	"github.com/storsthlm/utskick/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit on Go's memory, so that peak RSS stays under 100
		// MB with the binary's own pages (~40 MB resident) and SQLite's
		// caches. It only binds when the live heap grows (a burst of
		// clicks and unsubscribes beside a send); below it the GC paces
		// itself by GOGC. 32 MiB was too tight: the live heap of a
		// Postgres send under such a burst came close to it and the GC
		// took 41% of the CPU (the send kept 0.33 of its rate, with 48
		// MiB 0.53). GOGC is Go's default again: with the smaller live
		// heap, GOGC=200 saved no CPU and cost RSS.
		debug.SetMemoryLimit(48 << 20)
	}
	if !mallocTuned(os.Getenv) {
		fixMmapThreshold(mmapThreshold)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// mmapThreshold is the size from which C allocations get a mapping of
// their own (fixMmapThreshold): twice glibc's starting value, above
// SQLite's page-sized allocations; the value measured.
const mmapThreshold = 256 << 10

// mallocTuned reports that the operator set glibc's mmap threshold
// themselves, which then stands.
func mallocTuned(getenv func(string) string) bool {
	return getenv("MALLOC_MMAP_THRESHOLD_") != "" || strings.Contains(getenv("GLIBC_TUNABLES"), "malloc.mmap_threshold")
}

// run is main without the process: testable with its own arguments,
// output and environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("utskick", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dump := fs.Bool("dump-config", false, "print the effective settings (secrets redacted) and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: utskick [-dump-config] [all|serve|work|migrate|dkim|users|media|version]")
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
	case "all", "serve", "work", "migrate", "dkim", "users", "media":
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
	if cmd == "media" {
		return runMedia(ctx, cfg, fs.Args(), stdout, stderr)
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
		// Where goroutines wait (channels, locks, select) for more than
		// 100 µs at a time, next to the CPU profile.
		runtime.SetBlockProfileRate(100000)
		defer func() {
			if bf, err := os.Create(cfg.CPUProfile + ".block"); err == nil {
				pprof.Lookup("block").WriteTo(bf, 0)
				bf.Close()
			}
			pprof.StopCPUProfile()
			f.Close()
			// The allocations of the whole run, next to the CPU profile.
			if af, err := os.Create(cfg.CPUProfile + ".allocs"); err == nil {
				pprof.Lookup("allocs").WriteTo(af, 0)
				af.Close()
			}
		}()
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
