package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/storsthlm/utskick/store"
)

// TestTwoFactorEnrolmentFromTheAccountPage: the account page leads to the
// enrolment page, whose QR code is a PNG drawn by the server; a wrong first
// code is shown next to the field and turns nothing on; the right one turns
// two-factor sign-in on and shows ten recovery codes once; the next
// sign-in asks for a code.
func TestTwoFactorEnrolmentFromTheAccountPage(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	u := w.user("anna@example.se", store.RoleMember, pw)
	b := w.browser()
	b.signIn("anna@example.se", pw)
	if !strings.Contains(b.get("/admin/account").Body.String(), `href="/admin/account/twofactor"`) {
		t.Error("the account page does not link to the enrolment")
	}
	rec := b.get("/admin/account/twofactor")
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	qr := regexp.MustCompile(`<img src="data:image/png;base64,([^"]+)"`).FindStringSubmatch(body)
	if qr == nil {
		t.Fatalf("no QR code image:\n%s", body)
	}
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(qr[1]))
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(raw)); err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("the QR code is not a PNG: %v", err)
	}
	sm := regexp.MustCompile(`<code data-secret>([A-Z2-7]+)</code>`).FindStringSubmatch(body)
	if sm == nil {
		t.Fatal("no key to type in")
	}
	secret := sm[1]
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("the enrolment page may be cached")
	}

	rec = b.post("/admin/account/twofactor", url.Values{"secret": {secret}, "code": {"000000"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `id="code-error"`) || !strings.Contains(rec.Body.String(), secret) {
		t.Error("a wrong code is not shown next to the field with the same key")
	}
	if on, _ := w.st.TOTPEnabled(ctx, u.ID); on {
		t.Fatal("a wrong code turned two-factor sign-in on")
	}

	code, err := totp.GenerateCodeCustom(secret, w.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	rec = b.post("/admin/account/twofactor", url.Values{"secret": {secret}, "code": {code}})
	wantStatus(t, rec, http.StatusOK)
	if n := strings.Count(rec.Body.String(), "data-recovery-code"); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	if on, _ := w.st.TOTPEnabled(ctx, u.ID); !on {
		t.Fatal("the right code did not turn two-factor sign-in on")
	}
	if strings.Contains(b.get("/admin/account/twofactor").Body.String(), "data-recovery-code") {
		t.Error("the recovery codes are shown again")
	}

	w.clock.Add(30 * time.Second)
	nb := w.browser()
	nb.get("/admin/signin")
	rec = nb.post("/admin/signin", url.Values{"email": {"anna@example.se"}, "password": {pw}})
	wantStatus(t, rec, http.StatusOK)
	if _, ok := nb.cookies["utskick_session"]; ok {
		t.Error("signed in without the code after enrolment")
	}
}
