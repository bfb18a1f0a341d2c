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
)

type permissionsResult struct {
	flowResult
	AuditErrorShown bool `json:"auditErrorShown"`
	ApprovalButtons int  `json:"approvalButtons"`
	QRLoaded        bool `json:"qrLoaded"`
}

// TestPermissionsInChromium runs the real server on 127.0.0.1 and lets
// api/pages/a11y/permissions.mjs walk the audit log, a member's list
// roles, a campaign waiting for approval and the two-factor enrolment as
// an admin, each checked with axe-core in light and dark under the real
// CSP; with UTSKICK_TEST_SCREENSHOTS set it writes docs/screenshots/audit.png
// and others.
func TestPermissionsInChromium(t *testing.T) {
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
	users := map[string]*store.User{}
	for _, u := range []struct{ email, name, role string }{{"chef@example.se", "Karin Chef", store.RoleAdmin},
		{"skribent@example.se", "Sam Skribent", store.RoleMember}} {
		nu := &store.User{Email: u.email, Name: u.name, Role: u.role, Lang: "sv"}
		if err := st.CreateUser(ctx, nu, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		secret, _, err := st.CreateUserToken(ctx, nu.ID, store.PurposeInvite)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UseUserToken(ctx, secret, store.SetPassword{Password: pw}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		users[u.email] = nu
	}
	author := users["skribent@example.se"]
	bus := &store.List{Slug: "bus-i14", Name: "BUS med fyra ögon", RequiresApproval: true}
	if err := st.CreateList(ctx, bus); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetGrants(ctx, author.ID, map[int64][]string{bus.ID: {store.GrantAuthor}}); err != nil {
		t.Fatal(err)
	}
	camp := &store.Campaign{Name: "BUS april", Subject: "Nytt från BUS", Body: "Hej", ListIDs: []int64{bus.ID}}
	if err := st.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	actx := store.WithActor(ctx, store.Actor{Source: "web", UserID: author.ID})
	actx = store.WithAccess(actx, mustAccess(t, st, author))
	if c, err := st.ScheduleCampaign(actx, camp.ID, time.Time{}); err != nil || c.Status != store.CampaignPending {
		t.Fatalf("the author's send: %v %v", c, err)
	}

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

	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "permissions.mjs")
	cmd.Dir = harness
	cmd.Env = append(os.Environ(), "BASE_URL="+baseURL, "CHROMIUM="+chromium, "SCREENSHOTS="+os.Getenv("UTSKICK_TEST_SCREENSHOTS"),
		"MEMBER_ID="+itoa(author.ID), "CAMPAIGN_ID="+itoa(camp.ID))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || cctx.Err() != nil {
			t.Fatalf("permissions.mjs: %v\n%s\n%s", err, stdout, stderr.String())
		}
		t.Fatal(err)
	}
	var res permissionsResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("permissions.mjs output: %v\n%s\n%s", err, stdout, stderr.String())
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
	for _, name := range []string{"audit", "audit-filtered", "audit-errors", "grants", "campaign-approval", "twofactor"} {
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
	if !res.AuditErrorShown {
		t.Error("a bad date on the audit screen is not shown next to its field")
	}
	if res.ApprovalButtons != 1 {
		t.Errorf("the admin sees %d approve buttons on the waiting campaign, want 1", res.ApprovalButtons)
	}
	if !res.QRLoaded {
		t.Error("the QR code did not load under the page's CSP")
	}
}
