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
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
)

type workspaceResult struct {
	flowResult
	Focus struct {
		Cls, Outline, Width string
		Top                 float64
	} `json:"focus"`
	SetupErrorTied bool   `json:"setupErrorTied"`
	ConfirmText    string `json:"confirmText"`
	AfterDismiss   string `json:"afterDismiss"`
	AfterSignOut   string `json:"afterSignOut"`
}

// TestWorkspaceInChromium runs the real server on 127.0.0.1 and lets
// api/pages/a11y/workspace.mjs walk the staff workspace as a new admin:
// first-run link → create the account → sign in → overview → account →
// settings → invite → sign out → forgot password → wrong password. Every
// page is checked with axe-core in light and dark, under its real CSP.
// With UTSKICK_TEST_SCREENSHOTS set it writes the README's screenshots
// there (docs/screenshots).
func TestWorkspaceInChromium(t *testing.T) {
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
	seedWorkspace(t, st)
	rd, err := queue.Open(ctx, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	baseURL := "http://" + ln.Addr().String()
	tmpl, _ := mailtemplates.New()
	sign, _ := links.NewSigner(testKey)
	ccfg := compose.Config{BaseURL: baseURL, From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}
	srv, err := api.New(api.Deps{Store: st, Queue: queue.Client{C: asynq.NewClientFromRedisClient(rd.Client)},
		Composer: compose.New(ccfg, tmpl, sign), Templates: tmpl, Signer: sign, BaseURL: baseURL,
		Org: "Storstockholms kommunförbund"})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	secret, _, err := st.CreateUserToken(ctx, 0, store.PurposeSetup)
	if err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "workspace.mjs")
	cmd.Dir = harness
	shots := os.Getenv("UTSKICK_TEST_SCREENSHOTS")
	cmd.Env = append(os.Environ(), "BASE_URL="+baseURL, "SETUP_LINK="+worker.SetPasswordURL(baseURL, secret),
		"CHROMIUM="+chromium, "SCREENSHOTS="+shots)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || cctx.Err() != nil {
			t.Fatalf("workspace.mjs: %v\n%s\n%s", err, stdout, stderr.String())
		}
		t.Fatal(err)
	}
	var res workspaceResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("workspace.mjs output: %v\n%s\n%s", err, stdout, stderr.String())
	}
	for _, s := range res.Steps {
		t.Log(s)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("flow stopped: %s", strings.Join(res.Errors, "\n"))
	}
	checked := map[string]int{}
	for _, p := range res.Pages {
		t.Logf("axe %-16s %-5s lang=%s passes=%d violations=%d %s", p.Name, p.Scheme, p.Lang, p.Passes, p.Violations, p.URL)
		checked[p.Name]++
		want := "sv"
		if p.Name == "signin-wrong-en" {
			want = "en"
		}
		if p.Lang != want {
			t.Errorf("%s: lang=%q, want %q", p.Name, p.Lang, want)
		}
	}
	for _, name := range []string{"setup", "setup-errors", "signin", "overview", "account", "settings", "users", "users-invited",
		"coming", "signed-out", "forgot", "forgot-errors", "forgot-sent", "signin-wrong-en"} {
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
	if res.Focus.Cls != "skip" || res.Focus.Outline == "none" || res.Focus.Width == "0px" || res.Focus.Top < 0 {
		t.Errorf("first Tab: focus %+v, want the visible skip link", res.Focus)
	}
	if !res.SetupErrorTied {
		t.Error("the setup form's password error is not tied to its field")
	}
	if !strings.Contains(res.ConfirmText, "Stänga av") || res.AfterDismiss != "/admin/settings/users" {
		t.Errorf("deactivation's confirmation %q, then after cancelling at %s", res.ConfirmText, res.AfterDismiss)
	}
	if !strings.HasPrefix(res.AfterSignOut, "/admin/signin") {
		t.Errorf("after sign-out /admin/account showed %s", res.AfterSignOut)
	}

	// What the clicks did, in the database.
	chef, err := st.UserByEmail(ctx, "chef@example.se")
	if err != nil || chef.Role != store.RoleAdmin || chef.Status != store.UserActive || chef.Name != "Karin Chef" {
		t.Fatalf("first admin: %v %+v", err, chef)
	}
	ny, err := st.UserByEmail(ctx, "ny.kollega@example.se")
	if err != nil || ny.Role != store.RoleViewer || ny.Status != store.UserInvited {
		t.Fatalf("invited colleague: %v %+v", err, ny)
	}
	if ss, _ := st.Sessions(ctx, chef.ID); len(ss) != 0 {
		t.Errorf("%d sessions after sign-out", len(ss))
	}
}

// seedWorkspace fills the store as a few months of use would, for the
// overview: two lists, a sent campaign, one sending, one scheduled.
func seedWorkspace(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	nytt := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Visibility: store.VisibilityPublic, Optin: store.OptinDouble, TrackOpens: true}
	bus := &store.List{Slug: "bus", Name: "BUS", Visibility: store.VisibilityPublic, Optin: store.OptinDouble}
	must(st.CreateList(ctx, nytt))
	must(st.CreateList(ctx, bus))
	yes := true
	for i := range 60 {
		l := nytt.ID
		if i%3 == 0 {
			l = bus.ID
		}
		sub := &store.Subscriber{Email: fmt.Sprintf("person%02d@kommun.example.se", i), Language: "sv"}
		must(st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l, Status: store.SubConfirmed, ConsentBasis: "test", TrackingConsent: &yes}},
			store.Actor{Source: "test"}))
	}
	send := func(name string, list int64, n int, finish bool) {
		c := &store.Campaign{Name: name, Subject: name, Body: "b", ListIDs: []int64{list}}
		must(st.CreateCampaign(ctx, c))
		c, err := st.ScheduleCampaign(ctx, c.ID, st.Now())
		must(err)
		_, err = st.MaterializeDeliveries(ctx, c.ID, c.Revision)
		must(err)
		res, err := st.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: n, Token: name, Lease: time.Minute, MessageIDSuffix: "@example.se"})
		must(err)
		var outs []store.Outcome
		for _, r := range res.Recipients {
			outs = append(outs, store.Outcome{DeliveryID: r.DeliveryID, Status: store.DeliverySent, SMTPCode: 250, SMTPMessage: "ok", At: st.Now()})
		}
		must(st.RecordOutcomes(ctx, outs))
		if finish {
			_, err = st.FinishCampaign(ctx, c.ID)
			must(err)
		}
	}
	send("Senaste nytt februari", nytt.ID, 1000, true)
	send("BUS vårnummer", bus.ID, 12, false)
	c := &store.Campaign{Name: "Senaste nytt mars", Subject: "s", Body: "b", ListIDs: []int64{nytt.ID}}
	must(st.CreateCampaign(ctx, c))
	// Tuesday 08:00 Swedish time, some days ahead.
	d := time.Now().In(mailtemplates.Stockholm()).AddDate(0, 0, 3)
	for d.Weekday() != time.Tuesday {
		d = d.AddDate(0, 0, 1)
	}
	_, err := st.ScheduleCampaign(ctx, c.ID, time.Date(d.Year(), d.Month(), d.Day(), 8, 0, 0, 0, mailtemplates.Stockholm()))
	must(err)
}
