package api_test

import (
	"context"
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

// totpCode is the app's code for secret at the test clock's time.
func (w *webTest) totpCode(secret string) string {
	w.t.Helper()
	c, err := totp.GenerateCodeCustom(secret, w.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// enrolled turns two-factor sign-in on for u and returns its secret and
// recovery codes.
func (w *webTest) enrolled(u *store.User) (string, []string) {
	w.t.Helper()
	ctx := context.Background()
	enr, err := w.st.BeginTOTP(ctx, u.ID, "utskick")
	if err != nil {
		w.t.Fatal(err)
	}
	codes, err := w.st.ConfirmTOTP(ctx, u.ID, enr.Key.Secret(), w.totpCode(enr.Key.Secret()))
	if err != nil {
		w.t.Fatal(err)
	}
	w.clock.Add(30 * time.Second) // the code just used is spent
	return enr.Key.Secret(), codes
}

// signInWithCode signs in a user with two-factor sign-in on.
func (b *browser) signInWithCode(email, pw, code string) {
	b.w.t.Helper()
	b.get("/admin/signin")
	wantStatus(b.w.t.(*testing.T), b.post("/admin/signin", url.Values{"email": {email}, "password": {pw}}), http.StatusOK)
	wantRedirect(b.w.t.(*testing.T), b.post("/admin/signin/code", url.Values{"code": {code}}), "/admin/")
}

// TestRequiredTwoFactorHoldsUsersAtEnrolment: an admin requires two-factor
// sign-in (an audit row with before and after); from then a user without
// it reaches only the enrolment page (pages redirect there, forms and the
// pages' JSON are a 403 that says why) until they turn it on; a user with
// it still gives the code; API tokens keep working; and the rule is on
// the JSON API too.
func TestRequiredTwoFactorHoldsUsersAtEnrolment(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	w.user("chef@example.se", store.RoleAdmin, pw)
	member := w.user("bo@example.se", store.RoleMember, pw)
	withTOTP := w.user("cia@example.se", store.RoleMember, pw)
	ciaSecret, _ := w.enrolled(withTOTP)

	ab := w.browser()
	ab.signIn("chef@example.se", pw)
	rec := ab.get("/admin/settings")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `name="require_two_factor"`) {
		t.Fatal("the settings page has no two-factor rule")
	}
	wantRedirect(t, ab.post("/admin/settings/security", url.Values{"require_two_factor": {"on"}}), "/admin/settings")
	if sec, _ := w.st.SecuritySettings(ctx); !sec.RequireTwoFactor {
		t.Fatal("the rule was not stored")
	}
	rows, _, _ := w.st.AuditLog(ctx, store.AuditQuery{Action: "settings.security"})
	if len(rows) != 1 || rows[0].Changes["require_two_factor"] == nil {
		t.Fatalf("audit of the rule: %+v", rows)
	}
	if ch, _ := rows[0].Changes["require_two_factor"].(map[string]any); ch["before"] != false || ch["after"] != true {
		t.Errorf("audit change: %v", rows[0].Changes)
	}

	// The admin has no second factor either: held at enrolment at once.
	wantRedirect(t, ab.get("/admin/lists"), "/admin/account/twofactor")
	before := w.rowCounts()
	rec = ab.post("/admin/lists", url.Values{"slug": {"bus"}, "name": {"BUS"}})
	wantStatus(t, rec, http.StatusForbidden)
	if !strings.Contains(rec.Body.String(), "tvåstegsinloggning") {
		t.Errorf("the refusal does not say why:\n%s", rec.Body)
	}
	delete(before, "audit_log") // the refused attempt is a row
	w.unchanged(before)

	// A member signs in with the password only and is sent to enrolment;
	// nothing else opens, the JSON the pages poll neither.
	mb := w.browser()
	mb.signIn("bo@example.se", pw)
	wantRedirect(t, mb.get("/admin/"), "/admin/account/twofactor")
	wantRedirect(t, mb.get("/admin/subscribers"), "/admin/account/twofactor")
	req, _ := http.NewRequest(http.MethodGet, "/admin/imports/1/progress", nil)
	req.Header.Set("Accept", "application/json")
	wantStatus(t, mb.do(req), http.StatusForbidden)
	rec = mb.get("/admin/account/twofactor")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `data-field="twofactor-required"`) {
		t.Error("the enrolment page does not say two-factor sign-in is required")
	}
	sm := regexp.MustCompile(`<code data-secret>([A-Z2-7]+)</code>`).FindStringSubmatch(rec.Body.String())
	if sm == nil {
		t.Fatal("no key to enrol with")
	}
	rec = mb.post("/admin/account/twofactor", url.Values{"secret": {sm[1]}, "code": {w.totpCode(sm[1])}})
	wantStatus(t, rec, http.StatusOK)
	wantStatus(t, mb.get("/admin/subscribers"), http.StatusOK)
	if on, _ := w.st.TOTPEnabled(ctx, member.ID); !on {
		t.Fatal("enrolment did not turn two-factor on")
	}

	// A user with a second factor gives the code as before.
	cb := w.browser()
	cb.signInWithCode("cia@example.se", pw, w.totpCode(ciaSecret))
	wantStatus(t, cb.get("/admin/lists"), http.StatusOK)
	// …and cannot turn it off while it is required.
	w.clock.Add(30 * time.Second)
	rec = cb.post("/admin/account/twofactor/off", url.Values{"password": {pw}, "code": {w.totpCode(ciaSecret)}})
	wantStatus(t, rec, http.StatusForbidden)
	if on, _ := w.st.TOTPEnabled(ctx, withTOTP.ID); !on {
		t.Fatal("two-factor sign-in was turned off while required")
	}

	// API tokens are not sign-ins: an instance token works; the rule is
	// read and set through the API (admin).
	secret := store.NewTokenSecret()
	if _, err := w.st.CreateToken(ctx, "ci", store.RoleAdmin, secret); err != nil {
		t.Fatal(err)
	}
	api := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		r := w.browser().do(req)
		return r.Result()
	}
	if r := api("GET", "/api/v1/lists", ""); r.StatusCode != http.StatusOK {
		t.Errorf("an API token under the rule: %d", r.StatusCode)
	}
	if r := api("PUT", "/api/v1/settings/security", `{}`); r.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT without require_two_factor: %d, want 400", r.StatusCode)
	}
	if r := api("PUT", "/api/v1/settings/security", `{"require_two_factor":false}`); r.StatusCode != http.StatusOK {
		t.Errorf("PUT security: %d", r.StatusCode)
	}
	if sec, _ := w.st.SecuritySettings(ctx); sec.RequireTwoFactor {
		t.Error("the API did not turn the rule off")
	}
	wantStatus(t, ab.get("/admin/lists"), http.StatusOK)
}

// TestTurningTwoFactorOffAndNewRecoveryCodes: the account page offers new
// recovery codes (a code of the app) and turning two-factor off (the
// password and a code or recovery code); wrong ones change nothing. An
// admin resets another user's second factor from Settings → Users. Each
// is one audit row naming the user.
func TestTurningTwoFactorOffAndNewRecoveryCodes(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	u := w.user("anna@example.se", store.RoleMember, pw)
	secret, old := w.enrolled(u)
	b := w.browser()
	b.signInWithCode("anna@example.se", pw, w.totpCode(secret))
	rec := b.get("/admin/account")
	if !strings.Contains(rec.Body.String(), "10 oanvända reservkoder") {
		t.Errorf("the account page does not count the recovery codes:\n%s", rec.Body)
	}

	w.clock.Add(30 * time.Second)
	wantStatus(t, b.post("/admin/account/twofactor/codes", url.Values{"code": {old[0]}}), http.StatusUnprocessableEntity)
	rec = b.post("/admin/account/twofactor/codes", url.Values{"code": {w.totpCode(secret)}})
	wantStatus(t, rec, http.StatusOK)
	fresh := regexp.MustCompile(`<code data-recovery-code>([a-z0-9-]+)</code>`).FindAllStringSubmatch(rec.Body.String(), -1)
	if len(fresh) != 10 {
		t.Fatalf("%d new recovery codes shown, want 10", len(fresh))
	}
	if left, _ := w.st.RecoveryCodesLeft(ctx, u.ID); left != 10 {
		t.Errorf("%d codes left, want 10", left)
	}
	if rows, _, _ := w.st.AuditLog(ctx, store.AuditQuery{Action: "account.recovery_codes"}); len(rows) != 1 || rows[0].ObjectID != itoa(u.ID) {
		t.Errorf("audit of the new recovery codes: %+v", rows)
	}

	b.get("/admin/account")
	rec = b.post("/admin/account/twofactor/off", url.Values{"password": {"fel lösenord"}, "code": {fresh[0][1]}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `id="off-password-error"`) {
		t.Error("a wrong password is not shown at its field")
	}
	wantStatus(t, b.post("/admin/account/twofactor/off", url.Values{"password": {pw}, "code": {old[1]}}), http.StatusUnprocessableEntity)
	if on, _ := w.st.TOTPEnabled(ctx, u.ID); !on {
		t.Fatal("turned off with a replaced recovery code")
	}
	wantRedirect(t, b.post("/admin/account/twofactor/off", url.Values{"password": {pw}, "code": {fresh[0][1]}}), "/admin/account")
	if on, _ := w.st.TOTPEnabled(ctx, u.ID); on {
		t.Fatal("two-factor sign-in still on")
	}
	rows, _, _ := w.st.AuditLog(ctx, store.AuditQuery{Action: "account.twofactor_off"})
	if len(rows) != 1 || rows[0].UserID == nil || *rows[0].UserID != u.ID || rows[0].ObjectID != itoa(u.ID) {
		t.Fatalf("audit of turning off: %+v", rows)
	}
	// One row with the whole action: the recovery code used and the
	// factor gone (one transaction).
	if rows[0].Changes["recovery_code"] != "used" || rows[0].Changes["two_factor"] == nil {
		t.Errorf("audit changes: %v", rows[0].Changes)
	}

	// An admin resets another user's second factor.
	w.user("chef@example.se", store.RoleAdmin, pw)
	other := w.user("bo@example.se", store.RoleMember, pw)
	w.enrolled(other)
	ab := w.browser()
	ab.signIn("chef@example.se", pw)
	rec = ab.get("/admin/settings/users")
	if !strings.Contains(rec.Body.String(), `action="/admin/settings/users/`+itoa(other.ID)+`/twofactor/reset"`) {
		t.Fatal("no reset button for a user with two-factor sign-in")
	}
	wantRedirect(t, ab.post("/admin/settings/users/"+itoa(other.ID)+"/twofactor/reset", url.Values{}), "/admin/settings/users")
	if on, _ := w.st.TOTPEnabled(ctx, other.ID); on {
		t.Fatal("the reset left two-factor sign-in on")
	}
	rows, _, _ = w.st.AuditLog(ctx, store.AuditQuery{Action: "user.twofactor_reset"})
	if len(rows) != 1 || rows[0].ObjectID != itoa(other.ID) || rows[0].ObjectType != "user" {
		t.Errorf("audit of the reset: %+v", rows)
	}
}

// TestPendingCampaignPageSaysItWaits: while a campaign waits for approval
// its page does not say "scheduled for" but that it waits, with the time
// asked for; the approve and send-back forms are two forms, each with a
// heading, the comment box described.
func TestPendingCampaignPageSaysItWaits(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	author := w.user("forfattare@example.se", store.RoleMember, pw)
	pub := w.user("pub@example.se", store.RoleMember, pw)
	l := &store.List{Slug: "bus", Name: "BUS", RequiresApproval: true}
	if err := w.st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	w.st.SetGrants(ctx, author.ID, map[int64][]string{l.ID: {store.GrantAuthor}})
	w.st.SetGrants(ctx, pub.ID, map[int64][]string{l.ID: {store.GrantPublisher}})
	c := &store.Campaign{Name: "April", Subject: "April", Body: "Text", ListIDs: []int64{l.ID}}
	if err := w.st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	actx := store.WithAccess(store.WithActor(ctx, store.Actor{Source: "web", UserID: author.ID}), mustAccess(t, w.st, author))
	at := time.Date(2026, 3, 10, 7, 30, 0, 0, time.UTC) // 08:30 in Stockholm
	if _, err := w.st.ScheduleCampaign(actx, c.ID, at); err != nil {
		t.Fatal(err)
	}
	pb := w.browser()
	pb.signIn("pub@example.se", pw)
	body := pb.get("/admin/campaigns/" + itoa(c.ID)).Body.String()
	if strings.Contains(body, "Schemalagd till") {
		t.Error("a campaign waiting for approval is shown as scheduled")
	}
	sendAt := regexp.MustCompile(`data-field="send-at">([^\n]*)</dd>`).FindStringSubmatch(body)
	if sendAt == nil || !strings.HasPrefix(sendAt[1], "Väntar på godkännande · önskad tid") || !strings.Contains(sendAt[1], "08:30") {
		t.Errorf("send time while pending: %v", sendAt)
	}
	for _, want := range []string{`id="approve-h"`, `id="reject-h"`, `aria-describedby="reject-comment-hint"`, `/admin/static/approval.`,
		`data-field="approval-wanted"><time`} {
		if !strings.Contains(body, want) {
			t.Errorf("the approval box lacks %s", want)
		}
	}
}

// TestSignInWithACodeIsOneRowOfTheWholeSignIn: the code step is two
// transactions (the code used, the session made); its one audit row is
// the sign-in of the user, with how the second factor was given — not
// the first transaction's guess from the route.
func TestSignInWithACodeIsOneRowOfTheWholeSignIn(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	u := w.user("anna@example.se", store.RoleMember, pw)
	secret, _ := w.enrolled(u)
	before, _, _ := w.st.AuditLog(ctx, store.AuditQuery{Limit: 1})
	b := w.browser()
	b.signInWithCode("anna@example.se", pw, w.totpCode(secret))
	rows, _, _ := w.st.AuditLog(ctx, store.AuditQuery{Limit: 10})
	var fresh []store.AuditRow
	for _, r := range rows {
		if len(before) == 0 || r.ID > before[0].ID {
			fresh = append(fresh, r)
		}
	}
	// The password step is a row of its own (auth.password_checked).
	var signin []store.AuditRow
	for _, r := range fresh {
		if r.Action != "auth.password_checked" {
			signin = append(signin, r)
		}
	}
	if len(signin) != 1 {
		t.Fatalf("rows of the code step: %+v", signin)
	}
	r := signin[0]
	if r.Action != "auth.signin" || r.ObjectType != "user" || r.ObjectID != itoa(u.ID) || r.Changes["second_factor"] != "totp" {
		t.Errorf("the code step's row: %s %s %s %v", r.Action, r.ObjectType, r.ObjectID, r.Changes)
	}
}

// TestAuthorsWebSendWaitsForApproval: an author's send from the
// workspace leads to the campaign's page saying it waits (not to the
// list of campaigns being sent), and the publisher's mail is queued.
func TestAuthorsWebSendWaitsForApproval(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	author := w.user("forfattare@example.se", store.RoleMember, pw)
	pub := w.user("pub@example.se", store.RoleMember, pw)
	l := &store.List{Slug: "bus", Name: "BUS"}
	if err := w.st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	w.st.SetGrants(ctx, author.ID, map[int64][]string{l.ID: {store.GrantAuthor}})
	w.st.SetGrants(ctx, pub.ID, map[int64][]string{l.ID: {store.GrantPublisher}})
	c := &store.Campaign{Name: "April", Subject: "April", Body: "Hej {{ unsubscribe_url }}", ListIDs: []int64{l.ID}}
	if err := w.st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.signIn("forfattare@example.se", pw)
	b.get("/admin/campaigns/" + itoa(c.ID) + "/send")
	rec := b.post("/admin/campaigns/"+itoa(c.ID)+"/send", url.Values{"when": {"now"}})
	wantRedirect(t, rec, "/admin/campaigns/"+itoa(c.ID))
	if got, _ := w.st.Campaign(ctx, c.ID); got.Status != store.CampaignPending {
		t.Fatalf("status after the author's send: %s", got.Status)
	}
	if body := b.get("/admin/campaigns/" + itoa(c.ID)).Body.String(); !strings.Contains(body, "väntar nu på godkännande") {
		t.Error("the campaign page does not say the send waits for approval")
	}
	var to []int64
	for _, ti := range w.queued() {
		var p struct {
			UserID  int64  `json:"user_id"`
			Purpose string `json:"purpose"`
		}
		taskPayload(t, ti, &p)
		if p.Purpose == "approval_request" {
			to = append(to, p.UserID)
		}
	}
	if len(to) != 1 || to[0] != pub.ID {
		t.Errorf("approval requests queued to %v, want only the publisher %d", to, pub.ID)
	}

	// The publisher approves from the page and is told it is done.
	pb := w.browser()
	pb.signIn("pub@example.se", pw)
	got, _ := w.st.Campaign(ctx, c.ID)
	pb.get("/admin/campaigns/" + itoa(c.ID))
	wantRedirect(t, pb.post("/admin/campaigns/"+itoa(c.ID)+"/approve", url.Values{"revision": {itoa(int64(got.Revision))}}), "/admin/campaigns/"+itoa(c.ID))
	if body := pb.get("/admin/campaigns/" + itoa(c.ID)).Body.String(); !strings.Contains(body, "Utskicket är godkänt och schemalagt.") {
		t.Error("the approval's message is not shown")
	}
}
