package api_test

import (
	"context"
	"net/http"
	"net/url"
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
