package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/inbound"
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

// EnvBrowser makes TestPagesInChromium fail instead of skip when Chromium
// or the Node harness is missing; CI sets it.
const EnvBrowser = "UTSKICK_TEST_BROWSER"

type flowResult struct {
	Pages []struct {
		Name, Scheme, Lang, URL string
		Passes, Violations      int
	} `json:"pages"`
	Violations []struct {
		Page, Scheme, ID, Impact, Help string
		Nodes                          []string
	} `json:"violations"`
	Steps  []string `json:"steps"`
	Errors []string `json:"errors"`
	CSP    []string `json:"csp"` // what the pages' Content-Security-Policy refused
	Focus  struct {
		ID, Outline, Width string
	} `json:"focus"`
	ErrorsTied bool `json:"errorsTied"`
}

// TestPagesInChromium runs the real server (API, public pages and a
// worker sending to the embedded SMTP capture) on 127.0.0.1 and lets
// api/pages/a11y/flow.mjs drive subscribe → confirm → preferences →
// unsubscribe → undo in headless Chromium, checking every page with
// axe-core. The confirmation link comes from the real opt-in mail.
func TestPagesInChromium(t *testing.T) {
	required := os.Getenv(EnvBrowser) != ""
	need := func(what string, err error) {
		if err == nil {
			return
		}
		if required {
			t.Fatalf("%s: %v (%s is set)", what, err, EnvBrowser)
		}
		t.Skipf("%s: %v; set %s=1 to make this a failure", what, err, EnvBrowser)
	}
	harness, _ := filepath.Abs(filepath.Join("pages", "a11y"))
	_, err := os.Stat(filepath.Join(harness, "node_modules", "playwright-core"))
	need("npm ci in api/pages/a11y", err)
	node, err := exec.LookPath("node")
	need("node", err)
	chromium := os.Getenv("UTSKICK_TEST_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	_, err = os.Stat(chromium)
	need("chromium", err)

	ctx := context.Background()
	st := storetest.Open(t)
	rd, err := queue.Open(ctx, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	outDir := t.TempDir()
	box, err := outbox.Start(outbox.Config{Addr: "127.0.0.1:0", Dir: outDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	baseURL := "http://" + ln.Addr().String()

	tmpl, _ := mailtemplates.New()
	sign, _ := links.NewSigner(testKey)
	q := queue.Client{C: asynq.NewClientFromRedisClient(rd.Client)}
	wcfg := worker.Config{ReconcileEvery: time.Second, ShutdownTimeout: 5 * time.Second}
	comp := compose.New(compose.Config{BaseURL: baseURL, From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}, tmpl, sign)
	m, err := mailer.New(mailer.Config{Host: "127.0.0.1", Port: box.Addr().Port, TLS: mailer.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	h, err := worker.NewHandlers(wcfg, worker.Deps{Store: st, Queue: q, Mailer: m, Templates: tmpl, Signer: sign, Composer: comp, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); h.Run(wctx, rd.Client) }()
	t.Cleanup(func() { stopWorker(); <-workerDone })

	srv, err := api.New(api.Deps{Store: st, Queue: q, Composer: comp, Templates: tmpl,
		Signer: sign, BaseURL: baseURL, Org: "Förbundet", Inbound: inbound.New(st, sign, nil).HandleFunc(api.ErrNotMail)})
	if err != nil {
		t.Fatal(err)
	}
	var bus, nytt store.List
	for _, l := range []*store.List{
		{Slug: "bus", Name: "BUS", Description: "Nyheter om barn- och ungdomssatsningar.", Visibility: store.VisibilityPublic, Optin: store.OptinDouble},
		{Slug: "senaste-nytt", Name: "Senaste nytt", Visibility: store.VisibilityPublic, Optin: store.OptinDouble},
	} {
		if err := st.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := st.ListBySlug(ctx, "bus")
	n, _ := st.ListBySlug(ctx, "senaste-nytt")
	bus, nytt = *b, *n

	// /__test/links hands the harness the confirmation link from the
	// opt-in mail in the capture, and the preference and unsubscribe
	// links a campaign mail's footer would carry.
	confirmRE := regexp.MustCompile(`https?://[^\s"<>]+/confirm/[a-z2-7]+`)
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("/__test/links", func(w http.ResponseWriter, r *http.Request) {
		email := r.URL.Query().Get("email")
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			files, _ := filepath.Glob(filepath.Join(outDir, "*.eml"))
			for _, f := range files {
				raw, _ := os.ReadFile(f)
				msg, err := mail.ReadMessage(bytes.NewReader(raw))
				if err != nil || !strings.Contains(msg.Header.Get("To"), email) {
					continue
				}
				body := strings.ReplaceAll(string(raw), "=\r\n", "") // quoted-printable soft breaks
				confirm := confirmRE.FindString(body)
				sub, err := st.SubscriberByEmail(r.Context(), email)
				if confirm == "" || err != nil {
					continue
				}
				json.NewEncoder(w).Encode(map[string]any{
					"confirm":     confirm,
					"preferences": baseURL + "/preferences/" + sign.PreferencesToken(sub.ID),
					"unsubscribe": baseURL + "/unsubscribe/" + sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID}),
					"bus_id":      strconv.FormatInt(bus.ID, 10),
				})
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		http.Error(w, "no opt-in mail for "+email, http.StatusNotFound)
	})
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "flow.mjs")
	cmd.Dir = harness
	cmd.Env = append(os.Environ(), "BASE_URL="+baseURL, "CHROMIUM="+chromium, "SCREENSHOTS="+os.Getenv("UTSKICK_TEST_SCREENSHOTS"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || cctx.Err() != nil {
			t.Fatalf("flow.mjs: %v\n%s\n%s", err, stdout, stderr.String())
		}
		t.Fatal(err)
	}
	var res flowResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("flow.mjs output: %v\n%s\n%s", err, stdout, stderr.String())
	}
	for _, s := range res.Steps {
		t.Log(s)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("flow stopped: %s", strings.Join(res.Errors, "\n"))
	}
	checked := map[string]bool{}
	for _, p := range res.Pages {
		t.Logf("axe %-18s %-5s lang=%s passes=%d violations=%d", p.Name, p.Scheme, p.Lang, p.Passes, p.Violations)
		checked[p.Name] = true
		// Swedish by default; English when asked for, and for the person
		// once they chose English on the preference page.
		want := "sv"
		switch p.Name {
		case "subscribe-en", "unsubscribe", "unsubscribed-all", "undone":
			want = "en"
		}
		if p.Lang != want {
			t.Errorf("%s: lang=%q, want %q", p.Name, p.Lang, want)
		}
	}
	for _, name := range []string{"subscribe", "subscribe-errors", "check-inbox", "confirm", "confirmed", "preferences",
		"preferences-saved", "unsubscribe", "unsubscribed-all", "undone", "subscribe-en", "invalid-link"} {
		if !checked[name] {
			t.Errorf("page %s was not checked", name)
		}
	}
	for _, v := range res.Violations {
		t.Errorf("axe: %s (%s) on %s [%s]: %s\n  %s", v.ID, v.Impact, v.Page, v.Scheme, v.Help, strings.Join(v.Nodes, "\n  "))
	}
	for _, c := range res.CSP {
		t.Errorf("CSP violation: %s", c)
	}
	if res.Focus.ID != "email" || res.Focus.Outline == "none" || res.Focus.Width == "0px" {
		t.Errorf("first Tab: focus %+v, want a visible outline on #email", res.Focus)
	}
	if !res.ErrorsTied {
		t.Error("form errors are not tied to their fields (aria-invalid, aria-describedby)")
	}

	// What the clicks did, in the database.
	sub, err := st.SubscriberByEmail(ctx, "testa.person@example.se")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, m := range sub.Subscriptions {
		got[m.ListID] = m.Status
	}
	if sub.Name != "Testa Person" || sub.Language != "en" || got[bus.ID] != store.SubUnsubscribed || got[nytt.ID] != store.SubConfirmed {
		t.Errorf("after the flow: name %q language %q lists %v", sub.Name, sub.Language, got)
	}
	if ok, _ := st.IsSuppressed(ctx, sub.Email); ok {
		t.Error("undo left the address suppressed")
	}
	evs, _, _ := st.Events(ctx, store.EventQuery{SubscriberID: sub.ID})
	sources := map[string]bool{}
	for _, ev := range evs {
		sources[ev.Kind+"/"+ev.Source] = ev.IP != "" && ev.UserAgent != ""
	}
	for _, k := range []string{"subscribed/form", "confirmed/confirm-link", "unsubscribed/preferences", "unsubscribed/unsubscribe-page", "confirmed/unsubscribe-page"} {
		if !sources[k] {
			t.Errorf("no %s event with IP and user agent (have %v)", k, sources)
		}
	}
}
