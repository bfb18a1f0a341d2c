package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/api/ratelimit"
	"github.com/storsthlm/utskick/store"
)

// TestSignInWithTOTP: with two-factor sign-in on, the right password
// leads to the code step and no session; a wrong code is refused (and
// logged), and attempts are throttled; the right code signs in; a
// recovery code works once.
func TestSignInWithTOTP(t *testing.T) {
	w := newWebTest(t, func(d *api.Deps) {
		d.RateSignin = ratelimit.Rate{N: 10, Per: 15 * time.Minute}
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
