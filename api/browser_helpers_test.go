package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/internal/outbox"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
	"github.com/storsthlm/utskick/worker/mailer"
)

// EnvBrowser makes the *InChromium tests fail instead of skip when
// Chromium or the Node harness is missing; CI sets it.
const EnvBrowser = "UTSKICK_TEST_BROWSER"

// harness is what a walk in headless Chromium needs: the harness folder
// (api/pages/a11y, with its node_modules), node and the Chromium binary.
type harness struct {
	harness, node, chromium string
}

// needBrowser finds the harness, node and Chromium, and skips the test
// when one is missing — or fails it when EnvBrowser is set.
func needBrowser(t *testing.T) harness {
	t.Helper()
	required := os.Getenv(EnvBrowser) != ""
	need := func(what string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		if required {
			t.Fatalf("%s: %v (%s is set)", what, err, EnvBrowser)
		}
		t.Skipf("%s: %v; set %s=1 to make this a failure", what, err, EnvBrowser)
	}
	var b harness
	b.harness, _ = filepath.Abs(filepath.Join("pages", "a11y"))
	_, err := os.Stat(filepath.Join(b.harness, "node_modules", "playwright-core"))
	need("npm ci in api/pages/a11y", err)
	b.node, err = exec.LookPath("node")
	need("node", err)
	b.chromium = os.Getenv("UTSKICK_TEST_CHROMIUM")
	if b.chromium == "" {
		b.chromium = "/usr/bin/chromium"
	}
	_, err = os.Stat(b.chromium)
	need("chromium", err)
	return b
}

// walkResult is a harness script's answer: every script's JSON holds
// flowResult's fields, and some more of its own.
type walkResult interface{ walk() *flowResult }

func (r *flowResult) walk() *flowResult { return r }

// walk runs script in the harness against baseURL with env added, for at
// most timeout, and decodes its JSON into res. It logs the steps, stops
// the test when the walk stopped, and reports every axe-core violation
// and every CSP refusal. It returns the script's stderr.
func (b harness) walk(t *testing.T, script, baseURL string, timeout time.Duration, res walkResult, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.node, script)
	cmd.Dir = b.harness
	cmd.Env = append(os.Environ(), "BASE_URL="+baseURL, "CHROMIUM="+b.chromium, "SCREENSHOTS="+os.Getenv("UTSKICK_TEST_SCREENSHOTS"))
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || ctx.Err() != nil {
			t.Fatalf("%s: %v\n%s\n%s", script, err, stdout, stderr.String())
		}
		t.Fatal(err)
	}
	if err := json.Unmarshal(stdout, res); err != nil {
		t.Fatalf("%s output: %v\n%s\n%s", script, err, stdout, stderr.String())
	}
	r := res.walk()
	for _, s := range r.Steps {
		t.Log(s)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("walk stopped: %s\n%s", strings.Join(r.Errors, "\n"), stderr.String())
	}
	for _, v := range r.Violations {
		t.Errorf("axe: %s (%s) on %s [%s]: %s\n  %s", v.ID, v.Impact, v.Page, v.Scheme, v.Help, strings.Join(v.Nodes, "\n  "))
	}
	for _, c := range r.CSP {
		t.Errorf("CSP violation: %s", c)
	}
	return stderr.String()
}

// checkedLightAndDark logs the pages axe-core checked and fails the test
// for each of names not checked exactly twice, in light and in dark.
func checkedLightAndDark(t *testing.T, res walkResult, names ...string) {
	t.Helper()
	checked := map[string]int{}
	for _, p := range res.walk().Pages {
		t.Logf("axe %-18s %-5s lang=%s passes=%d violations=%d %s", p.Name, p.Scheme, p.Lang, p.Passes, p.Violations, p.URL)
		checked[p.Name]++
	}
	for _, name := range names {
		if checked[name] != 2 {
			t.Errorf("page %s checked %d times, want light and dark", name, checked[name])
		}
	}
}

// liveOptions is what differs between the servers the browser tests run.
type liveOptions struct {
	// Org is the organisation's name the pages show; "Storstockholms
	// kommunförbund" when empty.
	Org string
	// Worker runs the real worker, sending to an SMTP capture (Outbox).
	Worker bool
	// WorkerConfig adjusts the worker's configuration.
	WorkerConfig func(*worker.Config)
	// SMTPDelay, when set, puts a relay between the worker and the
	// capture that holds each chunk of the client's for that long.
	SMTPDelay time.Duration
	// Deps adjusts the API's dependencies (Store, Queue, Signer … are set).
	Deps func(*api.Deps)
	// Routes adds test-only routes beside the server's, on the same host.
	Routes func(lv *liveServer, mux *http.ServeMux)
	// Now is the clock of the store, the API and the worker alike; nil
	// is the store's default and time.Now.
	Now func() time.Time
}

// liveServer is the real server (API, pages and, when asked, a worker)
// listening on 127.0.0.1, over a store of the test's own.
type liveServer struct {
	BaseURL   string
	Store     *store.Store
	Queue     queue.Client
	Signer    *links.Signer
	Outbox    *outbox.Server // nil without a worker
	OutboxDir string
}

// startLiveServer starts the server on 127.0.0.1 and stops it, and all
// it started, when the test ends.
func startLiveServer(t *testing.T, o liveOptions) *liveServer {
	t.Helper()
	ctx := context.Background()
	lv := &liveServer{Store: storetest.OpenDSN(t, storetest.SQLiteDSN(t), storetest.Options{Now: o.Now})}
	log := warningsToTestLog(t)
	rd, err := queue.Open(ctx, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	lv.Queue = queue.Client{C: asynq.NewClientFromRedisClient(rd.Client)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lv.BaseURL = "http://" + ln.Addr().String()
	tmpl, _ := mailtemplates.New()
	lv.Signer, _ = links.NewSigner(testKey)
	comp := compose.New(compose.Config{BaseURL: lv.BaseURL, From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}, tmpl, lv.Signer)

	if o.Worker {
		lv.OutboxDir = t.TempDir()
		lv.Outbox, err = outbox.Start(outbox.Config{Addr: "127.0.0.1:0", Dir: lv.OutboxDir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lv.Outbox.Close() })
		port := lv.Outbox.Addr().Port
		if o.SMTPDelay > 0 {
			_, p, _ := net.SplitHostPort(slowSMTP(t, lv.Outbox.Addr().String(), o.SMTPDelay))
			port, _ = strconv.Atoi(p)
		}
		m, err := mailer.New(mailer.Config{Host: "127.0.0.1", Port: port, TLS: mailer.TLSNone})
		if err != nil {
			t.Fatal(err)
		}
		wcfg := worker.Config{ReconcileEvery: time.Second, ShutdownTimeout: 5 * time.Second}
		if o.WorkerConfig != nil {
			o.WorkerConfig(&wcfg)
		}
		h, err := worker.NewHandlers(wcfg, worker.Deps{Store: lv.Store, Queue: lv.Queue, Mailer: m, Templates: tmpl, Signer: lv.Signer,
			Composer: comp, Log: log, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		wctx, stopWorker := context.WithCancel(ctx)
		workerDone := make(chan struct{})
		go func() { defer close(workerDone); h.Run(wctx, rd.Client) }()
		t.Cleanup(func() { stopWorker(); <-workerDone })
	}

	deps := api.Deps{Store: lv.Store, Queue: lv.Queue, Composer: comp, Templates: tmpl, Signer: lv.Signer, Log: log, Now: o.Now,
		Site: api.Site{BaseURL: lv.BaseURL, Org: o.Org}}
	if deps.Site.Org == "" {
		deps.Site.Org = "Storstockholms kommunförbund"
	}
	if o.Deps != nil {
		o.Deps(&deps)
	}
	srv, err := api.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = srv
	if o.Routes != nil {
		mux := http.NewServeMux()
		mux.Handle("/", srv)
		o.Routes(lv, mux)
		handler = mux
	}
	hs := &http.Server{Handler: handler}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return lv
}

// addStaff makes an active staff account with the password pw, as an
// accepted invitation does.
func addStaff(t *testing.T, st *store.Store, u *store.User, pw string) {
	t.Helper()
	ctx := context.Background()
	if err := st.CreateUser(ctx, u, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := st.CreateUserToken(ctx, u.ID, store.PurposeInvite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UseUserToken(ctx, secret, store.SetPassword{Password: pw}, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
}

// slowSMTP forwards SMTP to target, holding each chunk from the client
// for delay, so that a campaign takes seconds and its progress can be
// watched moving.
func slowSMTP(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(c, s)
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						if _, werr := s.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// warningsToTestLog is a logger for a live server that puts its warnings
// and errors in the test's log, so a walk that meets "Något gick fel"
// shows the cause. Records after the test's cleanups are dropped: the
// server's goroutines may outlive it by a moment, and t.Log then panics.
func warningsToTestLog(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(w.close) // registered before the server and worker start, so it runs after they stop
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testLogWriter struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log("server: " + strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *testLogWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
