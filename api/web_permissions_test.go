package api_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
)

// busPending makes a list BUS that needs approval, an author and a
// publisher of it, and a campaign the author has asked to send.
func busPending(t *testing.T, w *webTest) (author, pub *store.User, l *store.List, c *store.Campaign) {
	t.Helper()
	ctx := context.Background()
	author = w.user("forfattare@example.se", store.RoleMember, pw)
	pub = w.user("pub@example.se", store.RoleMember, pw)
	l = &store.List{Slug: "bus", Name: "BUS", RequiresApproval: true}
	if err := w.st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.SetGrants(ctx, author.ID, map[int64][]string{l.ID: {store.GrantAuthor}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.SetGrants(ctx, pub.ID, map[int64][]string{l.ID: {store.GrantPublisher}}); err != nil {
		t.Fatal(err)
	}
	c = &store.Campaign{Name: "April", Subject: "April", Body: "Text", ListIDs: []int64{l.ID}}
	if err := w.st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	actx := store.WithActor(ctx, store.Actor{Source: "web", UserID: author.ID})
	actx = store.WithAccess(actx, mustAccess(t, w.st, author))
	sent, err := w.st.ScheduleCampaign(actx, c.ID, time.Time{})
	if err != nil || sent.Status != store.CampaignPending {
		t.Fatalf("the author's send: %v %v", sent, err)
	}
	return author, pub, l, sent
}

// TestCampaignPageShowsTheApprovalBox: a publisher who did not ask sees
// the preview link, the recipient count and both buttons at the revision
// waiting; the author sees only that it waits; an approved campaign
// shows no box.
func TestCampaignPageShowsTheApprovalBox(t *testing.T) {
	w := newWebTest(t, nil)
	_, _, _, c := busPending(t, w)
	path := "/admin/campaigns/" + itoa(c.ID)

	pb := w.browser()
	pb.signIn("pub@example.se", pw)
	rec := pb.get(path)
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	for _, want := range []string{
		`action="/admin/campaigns/` + itoa(c.ID) + `/approve"`,
		`action="/admin/campaigns/` + itoa(c.ID) + `/reject"`,
		`name="revision" value="` + itoa(int64(c.Revision)) + `"`,
		`href="/admin/campaigns/` + itoa(c.ID) + `/preview"`,
		`data-field="approval-recipients">0<`,
		`<label for="reject-comment">`,
		`badge-pending_approval">Väntar på godkännande<`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the publisher's page lacks %s", want)
		}
	}
	if strings.Contains(body, `data-field="approval-waiting"`) {
		t.Error("the publisher is told to wait")
	}

	ab := w.browser()
	ab.signIn("forfattare@example.se", pw)
	rec = ab.get(path)
	wantStatus(t, rec, http.StatusOK)
	body = rec.Body.String()
	if !strings.Contains(body, `data-field="approval-waiting"`) {
		t.Error("the author is not told the campaign waits for approval")
	}
	if strings.Contains(body, "/approve\"") || strings.Contains(body, "/reject\"") {
		t.Error("the author is offered approve or reject of their own send")
	}

	wantRedirect(t, pb.post(path+"/approve", url.Values{"revision": {itoa(int64(c.Revision))}}), path)
	rec = pb.get(path)
	if strings.Contains(rec.Body.String(), `id="approval-h"`) {
		t.Error("an approved campaign still shows the approval box")
	}
}

// TestAuditScreenFiltersPagesAndDownloads: the admin's audit screen shows
// the log newest first with the API's filters (user, object, action
// prefix, dates in Stockholm), pages by keyset with the filters kept,
// shows a bad date next to its field, offers the same rows as CSV, and is
// not there for a member.
func TestAuditScreenFiltersPagesAndDownloads(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	admin := w.user("admin@example.se", store.RoleAdmin, pw)
	other := w.user("eva@example.se", store.RoleAdmin, pw)
	w.user("medlem@example.se", store.RoleMember, pw)
	add := func(u *store.User, action, typ, id string) {
		t.Helper()
		actx := store.WithActor(ctx, store.Actor{Source: "web", UserID: u.ID})
		actx, a := store.StartAudit(actx, action, typ, id)
		a.SetOrigin("192.0.2.77", "test", "")
		if _, err := w.st.FinishAudit(actx, http.StatusOK); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 55; i++ {
		add(other, "list.update", "list", itoa(int64(i+1)))
	}
	add(other, "campaign.send", "campaign", "7")
	add(other, "campaign.approve", "campaign", "7")

	b := w.browser()
	b.signIn("admin@example.se", pw)
	rec := b.get("/admin/settings")
	if !strings.Contains(rec.Body.String(), `href="/admin/audit"`) {
		t.Error("Settings does not link to the audit log")
	}
	rec = b.get("/admin/audit")
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	if n := strings.Count(body, "data-audit-id="); n != 50 {
		t.Errorf("first page has %d rows, want 50", n)
	}
	if strings.Index(body, "<code>campaign.approve</code>") > strings.Index(body, "<code>campaign.send</code>") {
		t.Error("rows are not newest first")
	}
	if !strings.Contains(body, `rel="next"`) {
		t.Fatal("no link to the older rows")
	}

	// A prefix filter, kept across pages and in the CSV link.
	rec = b.get("/admin/audit?action=campaign.&user_id=" + itoa(other.ID))
	body = rec.Body.String()
	if n := strings.Count(body, "data-audit-id="); n != 2 || strings.Contains(body, "list.update") {
		t.Errorf("action prefix campaign. shows %d rows:\n%s", n, body)
	}
	if strings.Contains(body, `rel="next"`) {
		t.Error("a single page of results links to a next page")
	}
	if !strings.Contains(body, `href="/admin/audit.csv?action=campaign.&amp;user_id=`+itoa(other.ID)+`"`) {
		t.Error("the CSV link does not carry the filters")
	}
	rec = b.get("/admin/audit?object_type=list&object_id=3")
	if n := strings.Count(rec.Body.String(), "data-audit-id="); n != 1 {
		t.Errorf("object list #3 shows %d rows", n)
	}
	rec = b.get("/admin/audit?user_id=" + itoa(admin.ID) + "&action=list.")
	if n := strings.Count(rec.Body.String(), "data-audit-id="); n != 0 {
		t.Errorf("another user's filter shows %d list rows", n)
	}
	// The test clock is 2026-03-02 08:00 UTC: the day itself includes
	// the rows, the next day does not.
	rec = b.get("/admin/audit?since=2026-03-02&until=2026-03-02&action=campaign.")
	if n := strings.Count(rec.Body.String(), "data-audit-id="); n != 2 {
		t.Errorf("the day of the rows shows %d rows", n)
	}
	rec = b.get("/admin/audit?since=2026-03-03")
	if n := strings.Count(rec.Body.String(), "data-audit-id="); n != 0 {
		t.Errorf("the day after shows %d rows", n)
	}

	// Keyset: the older page follows on without overlap.
	first := b.get("/admin/audit").Body.String()
	m := regexp.MustCompile(`href="(/admin/audit\?before=\d+)" rel="next"`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("no keyset link in\n%s", first)
	}
	rec = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	ids := regexp.MustCompile(`data-audit-id="(\d+)"`)
	seen := map[string]bool{}
	for _, x := range ids.FindAllStringSubmatch(first, -1) {
		seen[x[1]] = true
	}
	older := ids.FindAllStringSubmatch(rec.Body.String(), -1)
	if len(older) == 0 {
		t.Fatal("the older page is empty")
	}
	for _, x := range older {
		if seen[x[1]] {
			t.Errorf("row %s is on both pages", x[1])
		}
	}
	if len(seen)+len(older) < 57 {
		t.Errorf("two pages hold %d rows, want at least 57", len(seen)+len(older))
	}

	rec = b.get("/admin/audit?since=yesterday")
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), `<p class="error" id="since-error">`) {
		t.Errorf("a bad date is not shown next to its field:\n%s", rec.Body)
	}

	rec = b.get("/admin/audit.csv?action=campaign.")
	wantStatus(t, rec, http.StatusOK)
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "campaign.approve") || !strings.Contains(lines[2], "campaign.send") {
		t.Errorf("CSV of campaign.:\n%s", rec.Body)
	}

	mb := w.browser()
	mb.signIn("medlem@example.se", pw)
	if rec := mb.get("/admin/audit"); rec.Code != http.StatusForbidden && rec.Code != http.StatusNotFound {
		t.Errorf("a member gets the audit screen: %d", rec.Code)
	}
	if rec := mb.get("/admin/audit.csv"); rec.Code != http.StatusForbidden && rec.Code != http.StatusNotFound {
		t.Errorf("a member gets the audit CSV: %d", rec.Code)
	}
}

// TestGrantsFromSettingsLimitWhatAMemberSees: an admin ticks "author" on
// BUS for a member in Settings → Users (the same store function as PUT
// /api/v1/users/{id}/grants); the member then gets 404 for the monthly
// list's page and sees BUS; a member cannot open the grants page.
func TestGrantsFromSettingsLimitWhatAMemberSees(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	w.user("admin@example.se", store.RoleAdmin, pw)
	m := w.user("medlem@example.se", store.RoleMember, pw)
	bus := w.list("bus", "BUS")
	monthly := w.list("manadsbrev", "Månadsbrevet")

	ab := w.browser()
	ab.signIn("admin@example.se", pw)
	users := ab.get("/admin/settings/users").Body.String()
	if !strings.Contains(users, `href="/admin/settings/users/`+itoa(m.ID)+`/grants"`) {
		t.Error("Settings → Users does not link to the member's list roles")
	}
	if !strings.Contains(users, `id="invite-role-member"`) || strings.Contains(users, `id="invite-role-editor"`) {
		t.Error("the invite form does not offer admin/member")
	}
	rec := ab.get("/admin/settings/users/" + itoa(m.ID) + "/grants")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `name="list-`+itoa(bus.ID)+`" value="author"`) {
		t.Fatalf("no author box for BUS:\n%s", rec.Body)
	}
	rec = ab.post("/admin/settings/users/"+itoa(m.ID)+"/grants", url.Values{"list-" + itoa(bus.ID): {"author"}})
	wantRedirect(t, rec, "/admin/settings/users")
	gs, err := w.st.Grants(ctx, m.ID)
	if err != nil || len(gs) != 1 || gs[0].ListID != bus.ID || gs[0].Role != store.GrantAuthor {
		t.Fatalf("grants after the form: %+v %v", gs, err)
	}
	rows, _, _ := w.st.AuditLog(ctx, store.AuditQuery{Action: "user.grants"})
	if len(rows) != 1 || rows[0].ObjectID != itoa(m.ID) {
		t.Errorf("audit of the grants form: %+v", rows)
	}
	if rec := ab.get("/admin/settings/users/" + itoa(m.ID) + "/grants"); !strings.Contains(rec.Body.String(), `value="author" checked`) {
		t.Error("the saved grant is not ticked")
	}
	before := w.rowCounts()
	rec = ab.post("/admin/settings/users/"+itoa(m.ID)+"/grants", url.Values{"list-" + itoa(bus.ID): {"owner"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `id="list-`+itoa(bus.ID)+`-error"`) {
		t.Error("an unknown role is not shown next to its list")
	}
	w.unchanged(before)

	mb := w.browser()
	mb.signIn("medlem@example.se", pw)
	wantStatus(t, mb.get("/admin/lists/"+itoa(monthly.ID)), http.StatusNotFound)
	wantStatus(t, mb.get("/admin/lists/"+itoa(bus.ID)), http.StatusOK)
	if body := mb.get("/admin/lists").Body.String(); strings.Contains(body, "Månadsbrevet") || !strings.Contains(body, "BUS") {
		t.Error("the member's lists page shows the monthly or hides BUS")
	}
	if rec := mb.get("/admin/settings/users/" + itoa(m.ID) + "/grants"); rec.Code != http.StatusForbidden && rec.Code != http.StatusNotFound {
		t.Errorf("a member opens the grants page: %d", rec.Code)
	}
}
