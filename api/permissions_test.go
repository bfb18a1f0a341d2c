package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// twoUnits is the set-up of docs/workspace.md: the BUS unit (an author
// and two publishers of BUS) and the communications team's monthly
// list, which the BUS people have no grant on. Each user gets an editor
// token of their own.
type twoUnits struct {
	*testAPI
	bus, monthly                 int64
	busSub, monthlySub           int64
	monthlyCamp                  int64
	author, pub1, pub2, authorRO string // tokens
	authorID, pub1ID, pub2ID     int64
}

func newTwoUnits(t *testing.T, st *store.Store) *twoUnits {
	a := newTestAPIWith(t, st)
	u := &twoUnits{testAPI: a}
	u.bus = a.seedList("bus", `,"optin":"single"`)
	u.monthly = a.seedList("manadsbrevet", `,"optin":"single"`)
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"bus@example.se","lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"formulär"}`, u.bus), &sub)
	u.busSub = sub.ID
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"man@example.se","lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"formulär"}`, u.monthly), &sub)
	u.monthlySub = sub.ID
	var c store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"Mars","subject":"Mars","body":"Text","list_ids":[%d]}`, u.monthly), &c)
	u.monthlyCamp = c.ID

	user := func(email, role string) (int64, string) {
		t.Helper()
		usr := &store.User{Email: email, Role: store.RoleMember}
		if err := st.CreateUser(context.Background(), usr, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		secret, _, err := st.CreateUserToken(context.Background(), usr.ID, store.PurposeInvite)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UseUserToken(context.Background(), secret, store.SetPassword{Password: "ett långt lösenord 123"}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		a.ok(200, "PUT", fmt.Sprintf("/api/v1/users/%d/grants", usr.ID), fmt.Sprintf(`{"grants":[{"list_id":%d,"role":%q}]}`, u.bus, role), nil)
		var tok struct{ Token string }
		a.ok(201, "POST", "/api/v1/tokens", fmt.Sprintf(`{"name":%q,"role":"editor","user_id":%d}`, email, usr.ID), &tok)
		return usr.ID, tok.Token
	}
	u.authorID, u.author = user("forfattare@bus.example.se", store.GrantAuthor)
	u.pub1ID, u.pub1 = user("pub1@bus.example.se", store.GrantPublisher)
	u.pub2ID, u.pub2 = user("pub2@bus.example.se", store.GrantPublisher)
	var ro struct{ Token string }
	a.ok(201, "POST", "/api/v1/tokens", fmt.Sprintf(`{"name":"läs","role":"viewer","user_id":%d}`, u.authorID), &ro)
	u.authorRO = ro.Token
	return u
}

// dispatches counts the tasks waiting in any queue for later, but for
// staff mail (the approval notices).
func (u *twoUnits) dispatches() int {
	n := 0
	qs, _ := u.insp.Queues()
	for _, q := range qs {
		ts, _ := u.insp.ListScheduledTasks(q)
		ps, _ := u.insp.ListPendingTasks(q)
		for _, t := range append(ts, ps...) {
			if t.Type != queue.TypeUserMail {
				n++
			}
		}
	}
	return n
}

// staffMails are the staff mails waiting, as "purpose→user".
func (u *twoUnits) staffMails() []string {
	u.t.Helper()
	var out []string
	qs, _ := u.insp.Queues()
	for _, q := range qs {
		ps, _ := u.insp.ListPendingTasks(q)
		for _, t := range ps {
			if t.Type != queue.TypeUserMail {
				continue
			}
			var p queue.UserMailPayload
			if err := json.Unmarshal(t.Payload, &p); err != nil {
				u.t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s→%d c%d by %d", p.Purpose, p.UserID, p.CampaignID, p.ByUserID))
		}
	}
	sort.Strings(out)
	return out
}

func (u *twoUnits) draft(token string) int64 {
	u.t.Helper()
	var c store.Campaign
	want(u.t, u.do("POST", "/api/v1/campaigns", token,
		fmt.Sprintf(`{"name":"BUS april","subject":"BUS","body":"Hej {{ unsubscribe_url }}","list_ids":[%d]}`, u.bus)), 201, &c)
	return c.ID
}

// TestAuthorOfBUSSeesNothingOfTheMonthly: the author's token (and the
// author's read-only token) get 404 for the monthly list, its subscriber
// and its campaign, and lists and campaigns hold only BUS.
func TestAuthorOfBUSSeesNothingOfTheMonthly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		u := newTwoUnits(t, st)
		for _, tok := range []string{u.author, u.authorRO} {
			for _, p := range []string{
				fmt.Sprintf("/api/v1/lists/%d", u.monthly),
				fmt.Sprintf("/api/v1/lists/%d/stats", u.monthly),
				fmt.Sprintf("/api/v1/subscribers/%d", u.monthlySub),
				fmt.Sprintf("/api/v1/campaigns/%d", u.monthlyCamp),
				fmt.Sprintf("/api/v1/campaigns/%d/stats", u.monthlyCamp),
				fmt.Sprintf("/api/v1/campaigns/%d/preview", u.monthlyCamp),
			} {
				if rec := u.do("GET", p, tok, ""); rec.Code != 404 {
					t.Errorf("GET %s: %d, want 404: %s", p, rec.Code, rec.Body)
				}
			}
			var lists struct{ Items []store.List }
			want(t, u.do("GET", "/api/v1/lists", tok, ""), 200, &lists)
			if len(lists.Items) != 1 || lists.Items[0].ID != u.bus {
				t.Errorf("lists = %+v, want BUS only", lists.Items)
			}
			var subs struct{ Items []store.Subscriber }
			want(t, u.do("GET", "/api/v1/subscribers", tok, ""), 200, &subs)
			if len(subs.Items) != 1 || subs.Items[0].ID != u.busSub {
				t.Errorf("subscribers = %+v, want BUS's only", subs.Items)
			}
			want(t, u.do("GET", fmt.Sprintf("/api/v1/subscribers?list_id=%d", u.monthly), tok, ""), 200, &subs)
			if len(subs.Items) != 0 {
				t.Errorf("subscribers of the monthly = %+v, want none shown", subs.Items)
			}
			var camps struct{ Items []store.Campaign }
			want(t, u.do("GET", "/api/v1/campaigns", tok, ""), 200, &camps)
			for _, c := range camps.Items {
				if c.ID == u.monthlyCamp {
					t.Errorf("the monthly's campaign is listed")
				}
			}
		}
		// Writing to the monthly, or to both lists, is refused as if the
		// list did not exist (a 400 naming it, as for an unknown list);
		// nothing is written.
		before := u.counts()
		if f := wantField(t, u.do("POST", "/api/v1/campaigns", u.author, fmt.Sprintf(`{"name":"x","subject":"x","body":"x","list_ids":[%d,%d]}`, u.bus, u.monthly)), "list_ids[1]"); f == "" {
			t.Error("no field named")
		}
		want(t, u.do("PATCH", fmt.Sprintf("/api/v1/campaigns/%d", u.monthlyCamp), u.author, `{"name":"mitt"}`), 404, nil)
		want(t, u.do("POST", fmt.Sprintf("/api/v1/subscribers/%d/erase", u.monthlySub), u.author, ""), 404, nil)
		// The read-only token of the author writes nothing at all.
		want(t, u.do("POST", "/api/v1/campaigns", u.authorRO, fmt.Sprintf(`{"name":"x","subject":"x","body":"x","list_ids":[%d]}`, u.bus)), 403, nil)
		if after := u.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("refused writes changed the database: %v → %v", before, after)
		}
	})
}

// TestFourEyesOnBUS: the author's send waits for approval (202,
// pending_approval, nothing queued); the author cannot approve; nor can
// a publisher approve a send they asked for themselves; another
// publisher approves and the campaign is scheduled at its time; an edit
// after approval makes it a draft that needs a new approval.
func TestFourEyesOnBUS(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		u := newTwoUnits(t, st)
		id := u.draft(u.author)
		path := fmt.Sprintf("/api/v1/campaigns/%d", id)
		at := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second) // the store keeps real time
		var c store.Campaign
		want(t, u.do("POST", path+"/send", u.author, `{"send_at":"`+at.Format(time.RFC3339)+`"}`), 202, &c)
		if c.Status != store.CampaignPending {
			t.Fatalf("status after the author's send = %s, want pending_approval", c.Status)
		}
		if n := u.dispatches(); n != 0 {
			t.Errorf("%d tasks queued before approval", n)
		}
		want(t, u.do("POST", path+"/approve", u.author, ""), 403, nil)

		// A publisher who asked cannot approve their own send.
		own := u.draft(u.pub1)
		var oc store.Campaign
		want(t, u.do("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", own), u.pub1, ""), 202, &oc)
		if oc.Status != store.CampaignScheduled {
			t.Errorf("a publisher's send to a list without four eyes = %s, want scheduled", oc.Status)
		}
		u.ok(200, "PATCH", fmt.Sprintf("/api/v1/lists/%d", u.bus), `{"requires_approval":true}`, nil)
		own = u.draft(u.pub1)
		want(t, u.do("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", own), u.pub1, ""), 202, &oc)
		if oc.Status != store.CampaignPending {
			t.Errorf("a publisher's send to a four-eyes list = %s, want pending_approval", oc.Status)
		}
		if rec := u.do("POST", fmt.Sprintf("/api/v1/campaigns/%d/approve", own), u.pub1, ""); rec.Code != 403 {
			t.Errorf("approving one's own send: %d, want 403", rec.Code)
		}
		// Only an admin changes four eyes.
		want(t, u.do("PATCH", fmt.Sprintf("/api/v1/lists/%d", u.bus), u.pub2, `{"requires_approval":false}`), 403, nil)

		// The second publisher sees what is approved, and approves it.
		var ap struct {
			Revision   int
			Recipients int64
		}
		want(t, u.do("GET", path+"/approval", u.pub2, ""), 200, &ap)
		if ap.Recipients != 1 || ap.Revision != c.Revision {
			t.Errorf("approval view = %+v, want 1 recipient at revision %d", ap, c.Revision)
		}
		queued := u.dispatches()
		want(t, u.do("POST", path+"/approve", u.pub2, fmt.Sprintf(`{"revision":%d}`, ap.Revision)), 200, &c)
		if c.Status != store.CampaignScheduled || c.SendAt == nil || !c.SendAt.Equal(at) || c.ApprovedRevision != ap.Revision {
			t.Fatalf("after approval: %s at %v (approved revision %d), want scheduled at %v", c.Status, c.SendAt, c.ApprovedRevision, at)
		}
		if n := u.dispatches(); n != queued+1 {
			t.Errorf("%d tasks queued after the approval, want %d", n, queued+1)
		}

		// An edit after approval voids it.
		c = store.Campaign{}
		want(t, u.do("PATCH", path, u.author, `{"subject":"BUS – rättad"}`), 200, &c)
		if c.Status != store.CampaignDraft || c.ApprovedAt != nil {
			t.Fatalf("after an edit: %s (approved %v), want a draft without approval", c.Status, c.ApprovedAt)
		}
		want(t, u.do("POST", path+"/send", u.author, ""), 202, &c)
		if c.Status != store.CampaignPending {
			t.Fatalf("the new send = %s, want pending_approval", c.Status)
		}
		// An approval of what the publisher saw before the edit fails.
		want(t, u.do("POST", path+"/approve", u.pub2, fmt.Sprintf(`{"revision":%d}`, ap.Revision)), 409, nil)
		want(t, u.do("POST", path+"/reject", u.pub1, `{"comment":"Fel datum"}`), 200, &c)
		if c.Status != store.CampaignDraft || c.ReviewComment != "Fel datum" {
			t.Errorf("after rejection: %s %q", c.Status, c.ReviewComment)
		}

		// The audit log tells the story, with the right actors.
		rows, _, err := st.AuditLog(context.Background(), store.AuditQuery{ObjectType: "campaign", ObjectID: fmt.Sprint(id), Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for i := len(rows) - 1; i >= 0; i-- {
			actions = append(actions, rows[i].Action)
		}
		wantActions := "[campaign.create campaign.request_approval campaign.approve campaign.update campaign.request_approval campaign.reject]"
		if fmt.Sprint(actions) != wantActions {
			t.Errorf("audit of the campaign = %v, want %s", actions, wantActions)
		}
	})
}

// TestApprovalMailsGoToPublishersAndBackToTheAuthor: an author's send
// that waits for approval queues one staff mail to each publisher of BUS
// (not to the author, not to the admins while the list has publishers);
// the approval queues one to the author naming the approver, and so does
// a rejection. The worker's side (the mail itself) is in package worker.
func TestApprovalMailsGoToPublishersAndBackToTheAuthor(t *testing.T) {
	u := newTwoUnits(t, storetest.Open(t))
	id := u.draft(u.author)
	path := fmt.Sprintf("/api/v1/campaigns/%d", id)
	want(t, u.do("POST", path+"/send", u.author, ""), 202, nil)
	wantMails := func(want ...string) {
		t.Helper()
		sort.Strings(want)
		if got := u.staffMails(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("staff mails queued:\n got %v\nwant %v", got, want)
		}
	}
	req := func(uid int64) string {
		return fmt.Sprintf("approval_request→%d c%d by %d", uid, id, u.authorID)
	}
	wantMails(req(u.pub1ID), req(u.pub2ID))
	var ap struct{ Revision int }
	want(t, u.do("GET", path+"/approval", u.pub1, ""), 200, &ap)
	want(t, u.do("POST", path+"/approve", u.pub1, fmt.Sprintf(`{"revision":%d}`, ap.Revision)), 200, nil)
	wantMails(req(u.pub1ID), req(u.pub2ID), fmt.Sprintf("approval_approved→%d c%d by %d", u.authorID, id, u.pub1ID))

	other := u.draft(u.author)
	want(t, u.do("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", other), u.author, ""), 202, nil)
	want(t, u.do("POST", fmt.Sprintf("/api/v1/campaigns/%d/reject", other), u.pub2, `{"comment":"Rubriken"}`), 200, nil)
	got := u.staffMails()
	n := 0
	for _, m := range got {
		if m == fmt.Sprintf("approval_rejected→%d c%d by %d", u.authorID, other, u.pub2ID) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("rejection mails to the author: %d in %v", n, got)
	}
}

// TestApprovalMailsAreQueuedOncePerEvent: an approval mail is named by
// its campaign, the revision its event made, its kind and its recipient,
// so enqueueing it again (a retried request, a second ring) adds nothing,
// while the next event of the same campaign mails anew.
func TestApprovalMailsAreQueuedOncePerEvent(t *testing.T) {
	u := newTwoUnits(t, storetest.Open(t))
	ctx := context.Background()
	id := u.draft(u.author)
	path := fmt.Sprintf("/api/v1/campaigns/%d", id)
	want(t, u.do("POST", path+"/send", u.author, ""), 202, nil)
	want(t, u.do("POST", path+"/reject", u.pub1, `{"comment":"Rubriken"}`), 200, nil)
	first := u.staffMails()
	if len(first) != 3 {
		t.Fatalf("staff mails after a request and a rejection: %v", first)
	}
	// Every queued approval mail again, as a retry of its request would.
	qs, _ := u.insp.Queues()
	for _, q := range qs {
		ps, _ := u.insp.ListPendingTasks(q)
		for _, tk := range ps {
			var p queue.UserMailPayload
			if err := json.Unmarshal(tk.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if p.Revision == 0 {
				t.Errorf("approval mail %s→%d names no revision", p.Purpose, p.UserID)
			}
			if err := u.q.Enqueue(ctx, queue.NewUserMailTask(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := u.staffMails(); fmt.Sprint(got) != fmt.Sprint(first) {
		t.Errorf("a second enqueue of the same events queued more:\n got %v\nwant %v", got, first)
	}
	// Asking again after the rejection is a new event: the publishers
	// are mailed again.
	want(t, u.do("POST", path+"/send", u.author, ""), 202, nil)
	if got := u.staffMails(); len(got) != len(first)+2 {
		t.Errorf("a new request mailed %d more, want 2: %v", len(got)-len(first), got)
	}
}

// TestTemplatesAndInboundFollowTheGrants: templates are shared by the
// lists, so any grant reads them; writing needs a publisher — of every
// list that uses the template for a change or deletion. Inbound mail,
// which may suppress anyone, needs a token over every list.
func TestTemplatesAndInboundFollowTheGrants(t *testing.T) {
	u := newTwoUnits(t, storetest.Open(t))
	src, _ := busTemplate(t)
	body := func(name string) string {
		b, _ := json.Marshal(map[string]string{"name": name, "html": src})
		return string(b)
	}
	// The communications team's template, used by the monthly list.
	var monthlyTmpl, busTmpl store.Template
	u.ok(201, "POST", "/api/v1/templates", body("manadsbrevet"), &monthlyTmpl)
	u.ok(200, "PATCH", fmt.Sprintf("/api/v1/lists/%d", u.monthly), fmt.Sprintf(`{"template_id":%d}`, monthlyTmpl.ID), nil)

	want(t, u.do("GET", "/api/v1/templates", u.author, ""), 200, nil)
	want(t, u.do("GET", fmt.Sprintf("/api/v1/templates/%d", monthlyTmpl.ID), u.authorRO, ""), 200, nil)
	want(t, u.do("POST", "/api/v1/templates", u.author, body("forfattarens")), 403, nil)
	want(t, u.do("POST", "/api/v1/templates", u.pub1, body("bus")), 201, &busTmpl)
	want(t, u.do("PATCH", fmt.Sprintf("/api/v1/templates/%d", busTmpl.ID), u.pub1, `{"description":"BUS-mallen"}`), 200, nil)
	want(t, u.do("PATCH", fmt.Sprintf("/api/v1/templates/%d", monthlyTmpl.ID), u.pub1, `{"description":"kapad"}`), 403, nil)
	want(t, u.do("DELETE", fmt.Sprintf("/api/v1/templates/%d", monthlyTmpl.ID), u.pub1, ""), 403, nil)
	rows, _, _ := u.st.AuditLog(context.Background(), store.AuditQuery{Action: "template.update", ObjectID: fmt.Sprint(busTmpl.ID)})
	if len(rows) != 1 || rows[0].Changes["description"] == nil {
		t.Errorf("audit of the template change: %+v", rows)
	}

	// Inbound: a list-limited token is refused before anything is read.
	want(t, u.do("POST", "/api/v1/inbound", u.pub1, "From: a@b\r\n\r\nx"), 403, nil)
}
