package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

type audienceResult struct {
	flowResult
	Progress      []float64 `json:"progress"`      // the bar's values as the walk saw them
	RejectLines   int       `json:"rejectLines"`   // lines of the downloaded report, header included
	ViewerForms   []string  `json:"viewerForms"`   // write forms a viewer saw
	ViewerForged  int       `json:"viewerForged"`  // status of a viewer's forged POST
	SearchResults int       `json:"searchResults"` // rows found for the surname
}

// TestAudienceInChromium runs the server and a worker on 127.0.0.1 and
// lets api/pages/a11y/audience.mjs walk the audience screens as an
// editor: create the BUS list (a mistake first) → import a CSV of 20 000
// rows, watching the progress bar move → download the rejects → search
// a person → change their subscriptions → erase them; then as a viewer:
// no write controls, and a forged POST is refused. Every screen is
// checked with axe-core in light and dark. With UTSKICK_TEST_SCREENSHOTS
// set it writes docs/screenshots/audience-*.png.
func TestAudienceInChromium(t *testing.T) {
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
	for email, role := range map[string]string{"redaktor@example.se": store.RoleEditor, "lasare@example.se": store.RoleViewer} {
		u := &store.User{Email: email, Name: strings.Split(email, "@")[0], Role: role}
		if err := st.CreateUser(ctx, u, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		secret, _, err := st.CreateUserToken(ctx, u.ID, store.PurposeInvite)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UseUserToken(ctx, secret, store.SetPassword{Password: "ett långt lösenord"}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	// A second list, for the edit of a person's subscriptions.
	if err := st.CreateList(ctx, &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Visibility: store.VisibilityPublic, Optin: store.OptinDouble}); err != nil {
		t.Fatal(err)
	}

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
	tq := queue.Client{C: asynq.NewClientFromRedisClient(rd.Client)}
	wcfg := worker.Config{ReconcileEvery: time.Second, ShutdownTimeout: 5 * time.Second}
	comp := compose.New(compose.Config{BaseURL: baseURL, From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}, tmpl, sign)
	m, err := mailer.New(mailer.Config{Host: "127.0.0.1", Port: box.Addr().Port, TLS: mailer.TLSNone})
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
		Signer: sign, BaseURL: baseURL, Org: "Storstockholms kommunförbund", ImportMaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	// The file: 20 000 people, three bad addresses and two repeats, so
	// that the report has five rows.
	csvPath := filepath.Join(t.TempDir(), "medlemmar.csv")
	var csv bytes.Buffer
	csv.WriteString("e-post;namn;kommun\n")
	first := []string{"Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Per", "Sara", "Anders"}
	last := []string{"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Gustafsson"}
	for i := range 20000 {
		fmt.Fprintf(&csv, "person%05d@kommun%02d.example.se;%s %s;Kommun %d\n", i, i%26, first[i%10], last[(i/10)%10], i%26)
	}
	csv.WriteString("Lena.Lindqvist@Solna.example.se;Lena Lindqvist;Solna\n")
	for _, bad := range []string{"inte-en-adress", "saknar@", "två@@example.se", "person00001@kommun01.example.se", "person00002@kommun02.example.se"} {
		fmt.Fprintf(&csv, "%s;Fel Rad;X\n", bad)
	}
	if err := os.WriteFile(csvPath, csv.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "audience.mjs")
	cmd.Dir = harness
	cmd.Env = append(os.Environ(), "BASE_URL="+baseURL, "CHROMIUM="+chromium, "CSV="+csvPath,
		"SCREENSHOTS="+os.Getenv("UTSKICK_TEST_SCREENSHOTS"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || cctx.Err() != nil {
			t.Fatalf("audience.mjs: %v\n%s\n%s", err, stdout, stderr.String())
		}
		t.Fatal(err)
	}
	var res audienceResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("audience.mjs output: %v\n%s\n%s", err, stdout, stderr.String())
	}
	for _, s := range res.Steps {
		t.Log(s)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("walk stopped: %s", strings.Join(res.Errors, "\n"))
	}
	checked := map[string]int{}
	for _, p := range res.Pages {
		t.Logf("axe %-18s %-5s passes=%d violations=%d %s", p.Name, p.Scheme, p.Passes, p.Violations, p.URL)
		checked[p.Name]++
	}
	for _, name := range []string{"lists-empty", "list-new", "list-errors", "list-sender-error", "list", "lists", "imports-empty", "import-review",
		"import-running", "import-done", "imports", "subscribers", "person", "person-saved", "erase", "subscribers-erased",
		"suppressions", "person-new", "viewer-lists", "viewer-list", "viewer-person", "viewer-imports"} {
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
	// The bar moved: a value strictly between the start and the end was
	// seen, and the values never went back.
	moved := false
	for i, p := range res.Progress {
		if p > 0 && p < 100 {
			moved = true
		}
		if i > 0 && p < res.Progress[i-1] {
			t.Errorf("the bar went back: %v", res.Progress)
		}
	}
	if !moved || len(res.Progress) == 0 || res.Progress[len(res.Progress)-1] != 100 {
		t.Errorf("progress seen %v: want it to move and end at 100", res.Progress)
	}
	if res.RejectLines != 6 {
		t.Errorf("the downloaded report has %d lines, want a header and 5 rejects", res.RejectLines)
	}
	if res.SearchResults != 1 {
		t.Errorf("search for the surname found %d rows", res.SearchResults)
	}
	if len(res.ViewerForms) > 0 {
		t.Errorf("a viewer saw write forms: %v", res.ViewerForms)
	}
	if res.ViewerForged != http.StatusForbidden {
		t.Errorf("a viewer's forged POST answered %d", res.ViewerForged)
	}

	// What the clicks did, in the database.
	bus, err := st.ListBySlug(ctx, "bus")
	if err != nil {
		t.Fatal(err)
	}
	full, _ := st.List(ctx, bus.ID)
	if full.Counts.Confirmed != 20000 || full.Name != "BUS" || full.Visibility != store.VisibilityPublic {
		t.Errorf("BUS after the import and the erasure: %+v", full)
	}
	if _, err := st.SubscriberByEmail(ctx, "lena.lindqvist@solna.example.se"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the erased person is still there: %v", err)
	}
	if ok, _ := st.IsSuppressed(ctx, "lena.lindqvist@solna.example.se"); !ok {
		t.Error("the erased address is not suppressed")
	}
	if ok, _ := st.IsSuppressed(ctx, "klagade@example.se"); !ok {
		t.Error("the address added on the suppression screen is not suppressed")
	}
	// Her subscription was changed in the browser before the erasure:
	// the event stays (without her) and names the editor.
	nytt, _ := st.ListBySlug(ctx, "senaste-nytt")
	editor, _ := st.UserByEmail(ctx, "redaktor@example.se")
	evs, _, err := st.Events(ctx, store.EventQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	edited := 0
	for _, ev := range evs {
		if ev.Kind == store.EventConfirmed && ev.ListID != nil && *ev.ListID == nytt.ID && ev.UserID != nil && *ev.UserID == editor.ID {
			edited++
		}
	}
	if edited != 1 {
		t.Errorf("%d confirmations on Senaste nytt by the editor, want 1", edited)
	}
}
