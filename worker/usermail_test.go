package worker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestUserMailLandsInTheOutboxWithAWorkingLink: an invitation and a reset
// go through the worker's own mail path to the embedded capture; the link
// in the mail opens the set-password step, and a second mail voids the
// first mail's link.
func TestUserMailLandsInTheOutboxWithAWorkingLink(t *testing.T) {
	st := storetest.Open(t)
	e := newEnv(t, st, nil)
	ctx := context.Background()
	admin := &store.User{Email: "chef@example.se", Name: "Chefen", Role: store.RoleAdmin}
	u := &store.User{Email: "ny@example.se", Role: store.RoleEditor, Lang: "en"}
	for _, x := range []*store.User{admin, u} {
		if err := st.CreateUser(ctx, x, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	linkRE := regexp.MustCompile(`http://127\.0\.0\.1:8080/admin/password/([A-Za-z0-9_-]{43})`)
	mails := func() []string {
		files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
		var out []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			out = append(out, strings.ReplaceAll(string(b), "=\r\n", ""))
		}
		return out
	}
	task := queue.NewUserMailTask(queue.UserMailPayload{UserID: u.ID, Purpose: store.PurposeInvite, ByUserID: admin.ID})
	if err := e.h.Process(ctx, task); err != nil {
		t.Fatal(err)
	}
	got := mails()
	if len(got) != 1 || !strings.Contains(got[0], "To: <ny@example.se>") || !strings.Contains(got[0], "Chefen has invited you") {
		t.Fatalf("invitation: %q", got)
	}
	first := linkRE.FindStringSubmatch(got[0])
	if first == nil {
		t.Fatalf("no link in %s", got[0])
	}
	if _, tu, err := st.UserTokenBySecret(ctx, first[1]); err != nil || tu.ID != u.ID {
		t.Fatalf("the mailed link: %v", err)
	}
	// Sent again (a resend, or asynq's retry): the newest link works.
	if err := e.h.Process(ctx, task); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.UserTokenBySecret(ctx, first[1]); err == nil {
		t.Fatal("the first link still works after a second mail")
	}
	// Once the password is set, a late invitation task sends nothing.
	got = mails()
	var second []string
	for _, m := range got {
		if l := linkRE.FindStringSubmatch(m); l != nil && l[1] != first[1] {
			second = l
		}
	}
	if second == nil {
		t.Fatal("no second link")
	}
	if _, err := st.UseUserToken(ctx, second[1], store.SetPassword{Password: "mitt nya lösen"}, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Process(ctx, task); err != nil {
		t.Fatal(err)
	}
	if n := len(mails()); n != 2 {
		t.Fatalf("%d mails after an invitation to an active user, want 2", n)
	}
	reset := queue.NewUserMailTask(queue.UserMailPayload{UserID: u.ID, Purpose: store.PurposeReset})
	if err := e.h.Process(ctx, reset); err != nil {
		t.Fatal(err)
	}
	if got := mails(); len(got) != 3 {
		t.Fatalf("%d mails after a reset, want 3", len(got))
	}
}

// TestApprovalMailsThroughTheStaffMailPath: the approval notices go the
// invitations' way (the user-mail task, the worker's sender, the embedded
// capture): the publisher's names the author, the campaign and its list
// and links to the campaign's page; the author's rejection notice holds
// the reviewer's comment; a deactivated user gets none.
func TestApprovalMailsThroughTheStaffMailPath(t *testing.T) {
	st := storetest.Open(t)
	e := newEnv(t, st, nil)
	ctx := context.Background()
	author := &store.User{Email: "forfattare@example.se", Name: "Alva Författare", Role: store.RoleMember}
	pub := &store.User{Email: "pub@example.se", Name: "Pia Publicerare", Role: store.RoleMember, Lang: "sv"}
	gone := &store.User{Email: "borta@example.se", Role: store.RoleMember}
	for _, x := range []*store.User{author, pub, gone} {
		if err := st.CreateUser(ctx, x, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		secret, _, err := st.CreateUserToken(ctx, x.ID, store.PurposeInvite)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UseUserToken(ctx, secret, store.SetPassword{Password: "ett långt lösenord 123"}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetUserActive(ctx, gone.ID, false, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	l := &store.List{Slug: "bus", Name: "BUS-nytt", RequiresApproval: true}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	c := &store.Campaign{Name: "BUS april", Subject: "Nytt i april", Body: "Text", ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	mails := func() []string {
		files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
		var out []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			out = append(out, strings.ReplaceAll(string(b), "=\r\n", ""))
		}
		return out
	}
	for _, p := range []queue.UserMailPayload{
		{UserID: pub.ID, Purpose: mailtemplates.ApprovalRequested, CampaignID: c.ID, ByUserID: author.ID},
		{UserID: gone.ID, Purpose: mailtemplates.ApprovalRequested, CampaignID: c.ID, ByUserID: author.ID},
	} {
		if err := e.h.Process(ctx, queue.NewUserMailTask(p)); err != nil {
			t.Fatal(err)
		}
	}
	got := mails()
	if len(got) != 1 {
		t.Fatalf("%d mails, want 1 (none to a deactivated user)", len(got))
	}
	m := got[0]
	for _, want := range []string{"To: \"Pia Publicerare\" <pub@example.se>", "Alva F", "BUS april", "BUS-nytt",
		fmt.Sprintf("http://127.0.0.1:8080/admin/campaigns/%d", c.ID)} {
		if !strings.Contains(m, want) {
			t.Errorf("the publisher's mail lacks %q:\n%s", want, m)
		}
	}

	// The rejection, with the reviewer's comment on the campaign.
	actx := store.WithActor(ctx, store.Actor{Source: "test", UserID: author.ID})
	if _, err := st.ScheduleCampaign(actx, c.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RejectCampaign(store.WithActor(ctx, store.Actor{Source: "test", UserID: pub.ID}), c.ID, "Rubriken behöver ses över"); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Process(ctx, queue.NewUserMailTask(queue.UserMailPayload{UserID: author.ID, Purpose: mailtemplates.ApprovalRejected,
		CampaignID: c.ID, ByUserID: pub.ID})); err != nil {
		t.Fatal(err)
	}
	var rej string
	for _, x := range mails() {
		if strings.Contains(x, "forfattare@example.se") {
			rej = x
		}
	}
	if !strings.Contains(rej, "Rubriken beh") || !strings.Contains(rej, "Pia Publicerare") {
		t.Errorf("the rejection notice lacks the comment or the reviewer:\n%s", rej)
	}
}
