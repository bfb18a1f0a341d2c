package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
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
	b := needBrowser(t)
	ctx := context.Background()
	lv := startLiveServer(t, liveOptions{})
	st := lv.Store
	seedWorkspace(t, st)
	secret, _, err := st.CreateUserToken(ctx, 0, store.PurposeSetup)
	if err != nil {
		t.Fatal(err)
	}

	var res workspaceResult
	b.walk(t, "workspace.mjs", lv.BaseURL, 3*time.Minute, &res, "SETUP_LINK="+worker.SetPasswordURL(lv.BaseURL, secret))
	checkedLightAndDark(t, &res, "setup", "setup-errors", "signin", "overview", "account", "settings", "users", "users-invited",
		"lists", "signed-out", "forgot", "forgot-errors", "forgot-sent", "signin-wrong-en")
	for _, p := range res.Pages {
		want := "sv"
		if p.Name == "signin-wrong-en" {
			want = "en"
		}
		if p.Lang != want {
			t.Errorf("%s: lang=%q, want %q", p.Name, p.Lang, want)
		}
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
	if err != nil || ny.Role != store.RoleMember || ny.Status != store.UserInvited {
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
