package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
)

type teamResult struct {
	flowResult
	SendAtText        string  `json:"sendAtText"`
	CommentWidthRatio float64 `json:"commentWidthRatio"`
	HeldAt            string  `json:"heldAt"`
	RequiredShown     bool    `json:"requiredShown"`
	RecoveryCodes     int     `json:"recoveryCodes"`
	FreeAt            string  `json:"freeAt"`
}

// TestTeamInChromium runs the real server on 127.0.0.1 and lets
// api/pages/a11y/team.mjs walk the approval box of a waiting campaign,
// Settings → Security, being held at the enrolment page once two-factor
// sign-in is required, enrolling, and the account page with it on; each
// page checked with axe-core in light and dark under the real CSP. With
// UTSKICK_TEST_SCREENSHOTS set it writes campaign-approval-box.png and
// others there.
func TestTeamInChromium(t *testing.T) {
	b := needBrowser(t)
	lv := startLiveServer(t, liveOptions{})
	ctx := context.Background()
	st := lv.Store
	addStaff(t, st, &store.User{Email: "chef@example.se", Name: "Karin Chef", Role: store.RoleAdmin, Lang: "sv"}, pw)
	author := &store.User{Email: "skribent@example.se", Name: "Sam Skribent", Role: store.RoleMember, Lang: "sv"}
	addStaff(t, st, author, pw)
	bus := &store.List{Slug: "bus", Name: "BUS", RequiresApproval: true}
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
	actx := store.WithAccess(store.WithActor(ctx, store.Actor{Source: "web", UserID: author.ID}), mustAccess(t, st, author))
	if c, err := st.ScheduleCampaign(actx, camp.ID, time.Now().Add(72*time.Hour)); err != nil || c.Status != store.CampaignPending {
		t.Fatalf("the author's send: %v %v", c, err)
	}

	var res teamResult
	b.walk(t, "team.mjs", lv.BaseURL, 3*time.Minute, &res, "CAMPAIGN_ID="+itoa(camp.ID))
	checkedLightAndDark(t, &res, "campaign-approval-box", "settings-security", "twofactor-required", "account-twofactor-on")
	if !strings.HasPrefix(res.SendAtText, "Väntar på godkännande · önskad tid") {
		t.Errorf("send time of the waiting campaign: %q", res.SendAtText)
	}
	if res.CommentWidthRatio < 0.95 {
		t.Errorf("the comment box takes %.0f%% of its form's width, want all", 100*res.CommentWidthRatio)
	}
	if res.HeldAt != "/admin/account/twofactor" {
		t.Errorf("with two-factor required and none set up, /admin/lists led to %q, want the enrolment", res.HeldAt)
	}
	if !res.RequiredShown {
		t.Error("the enrolment page does not say why the user was sent there")
	}
	if res.RecoveryCodes != 10 || res.FreeAt != "/admin/lists" {
		t.Errorf("after enrolment: %d recovery codes, /admin/lists at %q", res.RecoveryCodes, res.FreeAt)
	}
	if sec, _ := st.SecuritySettings(ctx); !sec.RequireTwoFactor {
		t.Error("the setting was not saved from the page")
	}
}
