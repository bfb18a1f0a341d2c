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
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker/mailer"
)

type settingsResult struct {
	flowResult
	SenderErrorTied  bool   `json:"senderErrorTied"`
	WebhookErrorTied bool   `json:"webhookErrorTied"`
	TokenSecret      string `json:"tokenSecret"`
	EnglishError     string `json:"englishError"`
	PostalFocus      struct {
		Outline, Width string
	} `json:"postalFocus"`
}

// settingsDNS answers the domain page as a half-configured domain does:
// the DKIM key published, SPF there, and the DMARC lookup timing out, so
// the page shows a pass, and "could not check" with its reason.
type settingsDNS struct{ dkim string }

func (d settingsDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	switch name {
	case "nyhet._domainkey.example.se":
		return []string{d.dkim}, nil
	case "example.se":
		return []string{"v=spf1 mx include:_spf.example.net -all"}, nil
	}
	<-ctx.Done()
	return nil, &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true}
}

// TestSettingsInChromium runs the real server on 127.0.0.1 and lets
// api/pages/a11y/settings.mjs walk Settings as an admin: the sender
// identity (a mistake, then saved), the sending domain, API tokens
// (created, secret shown once, revoked), webhooks (a private address
// refused next to the field, then added), the deactivation confirmation,
// and a form error in English for an English-speaking admin. Every page
// is checked with axe-core in light and dark under its real CSP; with
// UTSKICK_TEST_SCREENSHOTS set it writes docs/screenshots/settings-*.png.
func TestSettingsInChromium(t *testing.T) {
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
	for _, u := range []struct{ email, name, lang string }{{"chef@example.se", "Karin Chef", "sv"}, {"boss@example.se", "Kim Boss", "en"},
		{"anna@example.se", "Anna Andersson", "sv"}} {
		role := store.RoleAdmin
		if u.email == "anna@example.se" {
			role = store.RoleEditor
		}
		nu := &store.User{Email: u.email, Name: u.name, Role: role, Lang: u.lang}
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
	}
	// The bootstrap admin token, as a first start makes it.
	if _, err := st.CreateToken(ctx, "bootstrap", store.RoleAdmin, store.NewTokenSecret()); err != nil {
		t.Fatal(err)
	}
	key, _, err := mailer.GenerateDKIMKey(mailer.DKIMRSA)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := mailer.NewDKIM("example.se", "nyhet", key)
	if err != nil {
		t.Fatal(err)
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
		Org: "Storstockholms kommunförbund", DKIM: &lint.DKIMKey{Domain: dk.Domain(), Selector: dk.Selector(), Record: dk.TXTRecord()}, Resolver: settingsDNS{dkim: dk.TXTRecord()}, DNSTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "settings.mjs")
	cmd.Dir = harness
	cmd.Env = append(os.Environ(), "BASE_URL="+baseURL, "CHROMIUM="+chromium, "SCREENSHOTS="+os.Getenv("UTSKICK_TEST_SCREENSHOTS"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || cctx.Err() != nil {
			t.Fatalf("settings.mjs: %v\n%s\n%s", err, stdout, stderr.String())
		}
		t.Fatal(err)
	}
	var res settingsResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("settings.mjs output: %v\n%s\n%s", err, stdout, stderr.String())
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
	for _, name := range []string{"settings", "sender", "sender-errors", "sender-saved", "domain", "tokens", "tokens-errors",
		"tokens-created", "tokens-revoked", "webhooks", "webhooks-errors", "webhooks-created", "webhook-deliveries",
		"user-deactivate", "sender-errors-en"} {
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
	if !res.SenderErrorTied || !res.WebhookErrorTied {
		t.Errorf("errors tied to their fields: sender %v, webhook %v", res.SenderErrorTied, res.WebhookErrorTied)
	}
	if res.PostalFocus.Outline == "none" || res.PostalFocus.Width == "0px" {
		t.Errorf("focus on the postal address is not visible: %+v", res.PostalFocus)
	}
	if !strings.Contains(res.EnglishError, "valid email address") {
		t.Errorf("an English-speaking admin's error: %q", res.EnglishError)
	}

	// What the clicks did, in the database.
	id, err := st.SenderIdentity(ctx)
	if err != nil || id.PostalAddress != "Storsthlm, Box 38145, 100 64 Stockholm" || id.Contact == "" || id.UpdatedByUserID == nil {
		t.Errorf("sender identity after the walk: %+v %v", id, err)
	}
	ts, _ := st.Tokens(ctx)
	if len(ts) != 1 || ts[0].Name != "bootstrap" {
		t.Errorf("tokens after creating and revoking one: %+v", ts)
	}
	if res.TokenSecret == "" {
		t.Error("the new token's secret was not shown")
	} else if _, err := st.TokenBySecret(ctx, res.TokenSecret); err == nil {
		t.Error("the revoked token still authenticates")
	}
	ws, _ := st.Webhooks(ctx)
	if len(ws) != 1 || !strings.HasPrefix(ws[0].URL, "https://crm.example.se/") {
		t.Errorf("webhooks after the walk: %+v", ws)
	}
	if u, _ := st.UserByEmail(ctx, "anna@example.se"); u.Status != store.UserActive {
		t.Error("looking at the deactivation's confirmation deactivated Anna")
	}
}
