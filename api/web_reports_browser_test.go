package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

type reportsResult struct {
	flowResult
	SentSeen    []int64 `json:"sentSeen"`    // the sent figure as the page showed it, without reloads
	Reloads     int     `json:"reloads"`     // page loads while it was watched moving
	FinalStatus string  `json:"finalStatus"` // the campaign page after the send
	Charts      int     `json:"charts"`      // SVG charts on the report
	ChartTables int     `json:"chartTables"` // their tables
	PrintHides  bool    `json:"printHides"`  // the print view hides navigation and forms
	LogRows     int     `json:"logRows"`     // delivery log rows after filtering by address
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

// TestReportsInChromium sends a campaign of 40 over loopback SMTP (through
// a deliberately slow link) with the real worker, and lets
// api/pages/a11y/reports.mjs follow it in headless Chromium as an editor:
// the campaign page's progress moves without a reload, the page turns to
// "sent" by itself, the report shows figures, three SVG charts with their
// tables and a filterable delivery log, then the list report and the
// printable monthly summary. Every page is checked with axe-core in light
// and dark under its real CSP. With UTSKICK_TEST_SCREENSHOTS set it writes
// docs/screenshots/reports-*.png.
func TestReportsInChromium(t *testing.T) {
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
	relay := slowSMTP(t, box.Addr().String(), 100*time.Millisecond)
	_, port, _ := net.SplitHostPort(relay)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	baseURL := "http://" + ln.Addr().String()

	tmpl, _ := mailtemplates.New()
	sign, _ := links.NewSigner(testKey)
	tq := queue.Client{C: asynq.NewClientFromRedisClient(rd.Client)}
	wcfg := worker.Config{ReconcileEvery: time.Second, ShutdownTimeout: 5 * time.Second, SMTPConnections: 1, Slots: 1, BatchSize: 3}
	comp := compose.New(compose.Config{BaseURL: baseURL, From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}, tmpl, sign)
	var p int
	fmt.Sscan(port, &p)
	m, err := mailer.New(mailer.Config{Host: "127.0.0.1", Port: p, TLS: mailer.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	h, err := worker.NewHandlers(wcfg, worker.Deps{Store: st, Queue: tq, Mailer: m, Templates: tmpl, Signer: sign, Composer: comp, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); h.Run(wctx, rd.Client) }()
	t.Cleanup(func() { stopWorker(); <-workerDone })

	srv, err := api.New(api.Deps{Store: st, Queue: tq, Composer: comp, Templates: tmpl,
		Signer: sign, BaseURL: baseURL, Org: "Storstockholms kommunförbund"})
	if err != nil {
		t.Fatal(err)
	}

	// A tracked list of 40 (staff-added, confirmed), and a draft to it.
	l := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Visibility: store.VisibilityPublic, Optin: store.OptinDouble,
		TrackOpens: true, TrackClicks: true}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	yes := true
	for i := range 40 {
		sub := &store.Subscriber{Email: fmt.Sprintf("mottagare%02d@example.se", i), Language: "sv"}
		if err := st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed,
			ConsentBasis: "staff", TrackingConsent: &yes}}, store.Actor{Source: "web", UserID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	camp := &store.Campaign{Name: "Nyhetsbrev december", Subject: "Nytt från förbundet i december",
		Body:    "# Nytt i december\n\nLäs mer i [kalendern](https://example.se/kalender) och [artikeln](https://example.se/artikel).\n",
		ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	const pw = "ett långt lösenord"
	u := &store.User{Email: "redaktor@example.se", Name: "Rut Redaktör", Role: store.RoleEditor}
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

	// /__test/send schedules the draft for now and rings the worker, as
	// the editor's send button (another screen) does; /__test/engage
	// records opens and clicks on the sent mail, as readers would.
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("/__test/send", func(w http.ResponseWriter, r *http.Request) {
		c, err := st.ScheduleCampaign(r.Context(), camp.ID, time.Now())
		if err == nil {
			err = tq.Enqueue(r.Context(), queue.NewWakeTask(c.ID, c.Revision, time.Now()))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/__test/engage", func(w http.ResponseWriter, r *http.Request) {
		rows, _, err := st.Deliveries(r.Context(), store.DeliveryQuery{CampaignID: camp.ID, Limit: 100})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		const ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
		pol := store.TrackingPolicy{MachineWindow: time.Nanosecond, BurstWindow: time.Nanosecond}
		for i, d := range rows {
			hits := []store.Hit{}
			switch {
			case i%2 == 0:
				hits = append(hits, store.Hit{DeliveryID: d.ID, Link: -1, UserAgent: ua})
			case i%5 == 1:
				hits = append(hits, store.Hit{DeliveryID: d.ID, Link: -1, UserAgent: "Mozilla/5.0 (compatible; Barracuda Sentinel)"})
			}
			if i%3 == 0 {
				hits = append(hits, store.Hit{DeliveryID: d.ID, Link: i % 2, UserAgent: ua})
			}
			for _, hit := range hits {
				if _, err := st.RecordHit(r.Context(), hit, pol); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
		}
	})
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	cctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "reports.mjs")
	cmd.Dir = harness
	cmd.Env = append(os.Environ(), "BASE_URL="+baseURL, "CHROMIUM="+chromium, "SCREENSHOTS="+os.Getenv("UTSKICK_TEST_SCREENSHOTS"),
		"EMAIL="+u.Email, "PASSWORD="+pw, fmt.Sprintf("CAMPAIGN=%d", camp.ID), fmt.Sprintf("LIST=%d", l.ID),
		"MONTH="+time.Now().In(mailtemplates.Stockholm()).Format("2006-01"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || cctx.Err() != nil {
			t.Fatalf("reports.mjs: %v\n%s\n%s", err, stdout, stderr.String())
		}
		t.Fatal(err)
	}
	var res reportsResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("reports.mjs output: %v\n%s\n%s", err, stdout, stderr.String())
	}
	for _, s := range res.Steps {
		t.Log(s)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("walk stopped: %s", strings.Join(res.Errors, "\n"))
	}
	checked := map[string]int{}
	for _, p := range res.Pages {
		t.Logf("axe %-18s %-5s lang=%s passes=%d violations=%d %s", p.Name, p.Scheme, p.Lang, p.Passes, p.Violations, p.URL)
		checked[p.Name]++
	}
	for _, name := range []string{"campaign-draft", "campaign-sending", "campaign-sent", "report", "report-filtered",
		"confirm", "list-report", "monthly"} {
		if checked[name] != 2 {
			t.Errorf("page %s checked %d times, want light and dark", name, checked[name])
		}
	}
	for _, v := range res.Violations {
		t.Errorf("axe: %s (%s) on %s [%s]: %s\n  %s", v.ID, v.Impact, v.Page, v.Scheme, v.Help, strings.Join(v.Nodes, "\n  "))
	}
	for _, c := range res.CSP {
		t.Errorf("CSP violation: %s", c)
	}

	// The progress moved on the page by itself: at least two different
	// figures below the total, rising, with no page load in between.
	distinct := map[int64]bool{}
	for i, n := range res.SentSeen {
		if i > 0 && n < res.SentSeen[i-1] {
			t.Errorf("sent went down: %v", res.SentSeen)
		}
		if n > 0 && n < 40 {
			distinct[n] = true
		}
	}
	if len(distinct) < 2 || res.Reloads != 0 {
		t.Errorf("progress seen %v with %d reloads; want it moving in place", res.SentSeen, res.Reloads)
	}
	if res.FinalStatus != "Skickad" {
		t.Errorf("campaign page after the send says %q", res.FinalStatus)
	}
	if res.Charts != 3 || res.ChartTables != 3 {
		t.Errorf("report has %d charts and %d chart tables, want 3 and 3", res.Charts, res.ChartTables)
	}
	if res.LogRows != 1 {
		t.Errorf("address search shows %d rows, want 1", res.LogRows)
	}
	if !res.PrintHides {
		t.Error("the print view shows the navigation or forms")
	}
	if n := box.Received(); n != 40 {
		t.Errorf("the SMTP capture received %d messages, want 40", n)
	}
	// The duplicate the walk made is a draft, attributed in nothing but
	// its existence; the original is sent.
	if c, _ := st.Campaign(ctx, camp.ID); c.Status != store.CampaignSent {
		t.Errorf("campaign is %s after the walk", c.Status)
	}
	if cs, _, _ := st.Campaigns(ctx, store.CampaignQuery{Status: store.CampaignDraft}); len(cs) != 1 {
		t.Errorf("%d drafts after duplicating, want 1", len(cs))
	}
}
