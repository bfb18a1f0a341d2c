package api_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/store"
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
	b := needBrowser(t)

	ctx := context.Background()
	key, _, err := mailer.GenerateDKIMKey(mailer.DKIMRSA)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := mailer.NewDKIM("example.se", "nyhet", key)
	if err != nil {
		t.Fatal(err)
	}
	lv := startLiveServer(t, liveOptions{Deps: func(d *api.Deps) {
		d.Checks.DKIM = &lint.DKIMKey{Domain: dk.Domain(), Selector: dk.Selector(), Record: dk.TXTRecord()}
		d.Checks.Resolver = settingsDNS{dkim: dk.TXTRecord()}
		d.Checks.DNSTimeout = 300 * time.Millisecond
	}})
	st := lv.Store
	seedWorkspace(t, st)
	for _, u := range []struct{ email, name, lang string }{{"chef@example.se", "Karin Chef", "sv"}, {"boss@example.se", "Kim Boss", "en"},
		{"anna@example.se", "Anna Andersson", "sv"}} {
		role := store.RoleAdmin
		if u.email == "anna@example.se" {
			role = store.RoleEditor
		}
		addStaff(t, st, &store.User{Email: u.email, Name: u.name, Role: role, Lang: u.lang}, pw)
	}
	// The bootstrap admin token, as a first start makes it.
	if _, err := st.CreateToken(ctx, "bootstrap", store.RoleAdmin, store.NewTokenSecret()); err != nil {
		t.Fatal(err)
	}

	var res settingsResult
	b.walk(t, "settings.mjs", lv.BaseURL, 3*time.Minute, &res)
	checkedLightAndDark(t, &res, "settings", "sender", "sender-errors", "sender-saved", "domain", "tokens", "tokens-errors",
		"tokens-created", "tokens-revoked", "webhooks", "webhooks-errors", "webhooks-created", "webhook-deliveries",
		"user-deactivate", "sender-errors-en")
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
