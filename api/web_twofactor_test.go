package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// TestSignInWithTOTP: with two-factor sign-in on, the right password
// leads to the code step and no session; a wrong code is refused (and
// logged), and attempts are throttled; the right code signs in; a
// recovery code works once.
func TestSignInWithTOTP(t *testing.T) {
	w := newWebTest(t, func(d *api.Deps) {
		d.Limits.RateSignin = queue.Rate{N: 10, Per: 15 * time.Minute}
	})
	u := w.user("anna@example.se", store.RoleAdmin, pw)
	ctx := context.Background()
	enr, err := w.st.BeginTOTP(ctx, u.ID, "utskick")
	if err != nil {
		t.Fatal(err)
	}
	code := func() string {
		c, err := totp.GenerateCodeCustom(enr.Key.Secret(), w.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	recovery, err := w.st.ConfirmTOTP(ctx, u.ID, enr.Key.Secret(), code())
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Add(30 * time.Second)

	password := func(b *browser) {
		t.Helper()
		b.get("/admin/signin")
		rec := b.post("/admin/signin", url.Values{"email": {"anna@example.se"}, "password": {pw}})
		wantStatus(t, rec, http.StatusOK)
		if _, ok := b.cookies["utskick_session"]; ok {
			t.Fatal("a session before the code")
		}
	}
	b := w.browser()
	password(b)
	wantStatus(t, b.post("/admin/signin/code", url.Values{"code": {"000000"}}), http.StatusUnauthorized)
	if _, ok := b.cookies["utskick_session"]; ok {
		t.Fatal("signed in with a wrong code")
	}
	rows, _, _ := w.st.AuditLog(ctx, store.AuditQuery{Action: "auth.code_failed"})
	if len(rows) != 1 || rows[0].UserID == nil || *rows[0].UserID != u.ID {
		t.Errorf("audit of the wrong code: %+v", rows)
	}
	rec := b.post("/admin/signin/code", url.Values{"code": {code()}})
	wantRedirect(t, rec, "/admin/")
	if _, ok := b.cookies["utskick_session"]; !ok {
		t.Fatal("no session after the right code")
	}

	// A recovery code signs in once.
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		b := w.browser()
		password(b)
		if rec := b.post("/admin/signin/code", url.Values{"code": {recovery[0]}}); rec.Code != want {
			t.Errorf("recovery code, use %d: %d, want %d", i+1, rec.Code, want)
		}
	}

	// Wrong codes run into the account's limit (password and code
	// attempts count together): the right code is then refused too.
	b = w.browser()
	password(b)
	throttled := false
	for range 6 {
		if rec := b.post("/admin/signin/code", url.Values{"code": {"111111"}}); rec.Code == http.StatusTooManyRequests {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("wrong codes were never throttled")
	}
	w.clock.Add(30 * time.Second)
	wantStatus(t, b.post("/admin/signin/code", url.Values{"code": {code()}}), http.StatusTooManyRequests)
}

// TestApproveAndRejectFromTheWorkspace: the approval partial's buttons
// go through the store's rules: the one who asked cannot approve; another
// publisher can; each is an audit row naming the signed-in user.
func TestApproveAndRejectFromTheWorkspace(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	author, pub, _, c := busPending(t, w)
	path := "/admin/campaigns/" + itoa(c.ID)

	ab := w.signedIn("forfattare@example.se")
	wantRedirect(t, ab.post(path+"/approve", url.Values{"revision": {itoa(int64(c.Revision))}}), path)
	if got, _ := w.st.Campaign(ctx, c.ID); got.Status != store.CampaignPending {
		t.Fatalf("the author approved their own send: %s", got.Status)
	}
	pb := w.signedIn("pub@example.se")
	wantRedirect(t, pb.post(path+"/approve", url.Values{"revision": {itoa(int64(c.Revision))}}), path)
	got, _ := w.st.Campaign(ctx, c.ID)
	if got.Status != store.CampaignScheduled || got.ApprovedByUser == nil || *got.ApprovedByUser != pub.ID {
		t.Fatalf("after the publisher's approval: %s by %v", got.Status, got.ApprovedByUser)
	}
	rows, _, _ := w.st.AuditLog(ctx, store.AuditQuery{Action: "campaign.approve"})
	if len(rows) != 1 || rows[0].UserID == nil || *rows[0].UserID != pub.ID || rows[0].Source != "web" {
		t.Errorf("audit of the approval: %+v", rows)
	}
	rows, _, _ = w.st.AuditLog(ctx, store.AuditQuery{Action: "campaign.approve_refused"})
	if len(rows) != 1 || rows[0].UserID == nil || *rows[0].UserID != author.ID {
		t.Errorf("audit of the refused approval: %+v", rows)
	}
}

func mustAccess(t *testing.T, st *store.Store, u *store.User) *store.Access {
	t.Helper()
	acc, err := st.AccessFor(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// TestSendBackWithoutAReasonAsksForOne: a send-back whose comment is only
// spaces (the browser's required check lets it through) keeps the
// campaign waiting and says the reason is missing, not that the campaign
// changed.
func TestSendBackWithoutAReasonAsksForOne(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	_, _, _, c := busPending(t, w)
	path := "/admin/campaigns/" + itoa(c.ID)
	pb := w.signedIn("pub@example.se")
	wantRedirect(t, pb.post(path+"/reject", url.Values{"comment": {"   "}}), path)
	body := pb.get(path).Body.String()
	if !strings.Contains(body, "Skriv vad som behöver ändras") || strings.Contains(body, "har ändrats sedan du såg det") {
		t.Errorf("the page after an empty send-back does not ask for the reason:\n%s", body)
	}
	if got, _ := w.st.Campaign(ctx, c.ID); got.Status != store.CampaignPending {
		t.Fatalf("sent back without a reason: %s", got.Status)
	}
	wantRedirect(t, pb.post(path+"/reject", url.Values{"comment": {"Byt bilden i ingressen."}}), path)
	if got, _ := w.st.Campaign(ctx, c.ID); got.Status != store.CampaignDraft || got.ReviewComment != "Byt bilden i ingressen." {
		t.Fatalf("sent back with a reason: %s %q", got.Status, got.ReviewComment)
	}
}
