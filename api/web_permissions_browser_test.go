package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
)

type permissionsResult struct {
	flowResult
	AuditErrorShown    bool   `json:"auditErrorShown"`
	ApprovalButtons    int    `json:"approvalButtons"`
	ApprovalRecipients string `json:"approvalRecipients"`
	QRLoaded           bool   `json:"qrLoaded"`
}

// TestPermissionsInChromium runs the real server on 127.0.0.1 and lets
// api/pages/a11y/permissions.mjs walk the audit log, a member's list
// roles, a campaign waiting for approval and the two-factor enrolment as
// an admin, each checked with axe-core in light and dark under the real
// CSP; with UTSKICK_TEST_SCREENSHOTS set it writes docs/screenshots/audit.png
// and others.
func TestPermissionsInChromium(t *testing.T) {
	b := needBrowser(t)
	lv := startLiveServer(t, liveOptions{})

	ctx := context.Background()
	st := lv.Store
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
	// Three on the list, one of them unsubscribed:
	// the approver should see the two the send would reach.
	for i, e := range []struct {
		email, status string
	}{{"anna@example.se", store.SubConfirmed}, {"bo@example.se", store.SubConfirmed}, {"cia@example.se", store.SubUnsubscribed}} {
		sub := &store.Subscriber{Email: e.email, Name: "Person " + itoa(int64(i))}
		if err := st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: bus.ID, Status: e.status, ConsentBasis: "test"}}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
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

	var res permissionsResult
	b.walk(t, "permissions.mjs", lv.BaseURL, 3*time.Minute, &res, "MEMBER_ID="+itoa(author.ID), "CAMPAIGN_ID="+itoa(camp.ID))
	checkedLightAndDark(t, &res, "audit", "audit-filtered", "audit-errors", "grants", "campaign-approval", "twofactor")
	if !res.AuditErrorShown {
		t.Error("a bad date on the audit screen is not shown next to its field")
	}
	if res.ApprovalRecipients != "2" {
		t.Errorf("the approval box counts %q recipients, want 2 (two confirmed, one unsubscribed)", res.ApprovalRecipients)
	}
	if res.ApprovalButtons != 1 {
		t.Errorf("the admin sees %d approve buttons on the waiting campaign, want 1", res.ApprovalButtons)
	}
	if !res.QRLoaded {
		t.Error("the QR code did not load under the page's CSP")
	}
}
