package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker"
)

const pw = "ett långt lösenord"

func TestRootAndWorkspaceSendAStrangerToSignInWithNext(t *testing.T) {
	w := newWebTest(t, nil)
	b := w.browser()
	wantRedirect(t, b.get("/"), "/admin/")
	wantRedirect(t, b.get("/admin"), "/admin/")
	wantRedirect(t, b.get("/admin/"), "/admin/signin")
	rec := b.get("/admin/account?tab=x")
	wantRedirect(t, rec, "/admin/signin?next="+url.QueryEscape("/admin/account?tab=x"))
	rec = b.get("/admin/signin?next=" + url.QueryEscape("/admin/account?tab=x"))
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `name="next" value="/admin/account?tab=x"`) {
		t.Fatalf("next not kept in the form:\n%s", rec.Body)
	}
}

func TestSignInStartsASessionWithASafeCookie(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleEditor, pw)
	b := w.browser()
	b.get("/admin/signin")
	rec := b.post("/admin/signin", url.Values{"email": {"Anna@Example.se"}, "password": {pw}, "next": {"/admin/account"}})
	wantRedirect(t, rec, "/admin/account")
	var ck *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "utskick_session" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || len(ck.Value) != 43 {
		t.Fatalf("session cookie %+v", ck)
	}
	if !ck.Expires.Equal(w.clock.Now().Add(api.DefaultSessionMax).Truncate(time.Second)) {
		t.Errorf("cookie expires %s, want the session's absolute end", ck.Expires)
	}
	rec = b.get("/admin/")
	wantStatus(t, rec, http.StatusOK)
	for _, want := range []string{"<h1>Översikt</h1>", "Förbundet", `aria-current="page">Översikt`, "anna"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// Signed in, the sign-in page sends you on.
	wantRedirect(t, b.get("/admin/signin"), "/admin/")
}

// TestWrongPasswordAndUnknownAccountGetTheSameAnswer: the page, its status
// and its words are the same, so the form tells nobody who has an account.
func TestWrongPasswordAndUnknownAccountGetTheSameAnswer(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleEditor, pw)
	answer := func(email string) (int, string) {
		b := w.browser()
		b.get("/admin/signin")
		rec := b.post("/admin/signin", url.Values{"email": {email}, "password": {"fel lösenord!"}})
		if _, ok := b.cookies["utskick_session"]; ok {
			t.Fatalf("%s: a session cookie after a refused sign-in", email)
		}
		body := csrfRE.ReplaceAllString(rec.Body.String(), "")
		return rec.Code, strings.ReplaceAll(body, email, "EMAIL")
	}
	wrongCode, wrong := answer("anna@example.se")
	unknownCode, unknown := answer("nobody@example.se")
	if wrongCode != http.StatusUnauthorized || unknownCode != wrongCode || wrong != unknown {
		t.Fatalf("wrong password %d, unknown account %d; bodies equal: %v", wrongCode, unknownCode, wrong == unknown)
	}
	if !strings.Contains(wrong, "Fel e-postadress eller lösenord.") || !strings.Contains(wrong, `aria-describedby="signin-error"`) {
		t.Fatalf("answer:\n%s", wrong)
	}
}

func TestSignInIsThrottledPerAccountAndPerIP(t *testing.T) {
	w := newWebTest(t, func(d *api.Deps) {
		d.Limits.RateSignin = queue.Rate{N: 3, Per: 15 * time.Minute}
		d.Limits.RateSigninIP = queue.Rate{N: 6, Per: 15 * time.Minute}
	})
	w.user("anna@example.se", store.RoleEditor, pw)
	w.user("bo@example.se", store.RoleEditor, pw)
	w.user("cia@example.se", store.RoleEditor, pw)
	try := func(b *browser, email, password string) int {
		b.get("/admin/signin")
		return b.post("/admin/signin", url.Values{"email": {email}, "password": {password}}).Code
	}
	attacker := w.browser()
	for i := range 3 {
		if code := try(attacker, "anna@example.se", "fel lösen "+string(rune('a'+i))); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, code)
		}
	}
	// The fourth try is refused even with the right password, from any
	// address: the limit is per account.
	other := w.browser()
	other.ip = "198.51.100.7"
	other.get("/admin/signin")
	rec := other.post("/admin/signin", url.Values{"email": {"ANNA@example.se"}, "password": {pw}})
	wantStatus(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "För många försök") {
		t.Fatalf("throttled answer: %v\n%s", rec.Header(), rec.Body)
	}
	if _, ok := other.cookies["utskick_session"]; ok {
		t.Fatal("signed in past the limit")
	}
	// Per IP: the attacker's address has three more tries, on any account.
	for i := range 3 {
		if code := try(attacker, "cia@example.se", "fel"); code != http.StatusUnauthorized {
			t.Fatalf("ip attempt %d: %d", i+4, code)
		}
	}
	if code := try(attacker, "bo@example.se", pw); code != http.StatusTooManyRequests {
		t.Fatalf("seventh attempt from one IP: %d, want 429", code)
	}
	// Another person on another address signs in to another account.
	other.signIn("bo@example.se", pw)
	// After the window, Anna gets in again.
	w.mr.FastForward(16 * time.Minute)
	w.browser().signIn("anna@example.se", pw)
}

// TestCSRFRefusalsWriteNothing: a state-changing form without the token,
// with another session's token, or sent from another site is a 403 and
// changes nothing.
func TestCSRFRefusalsWriteNothing(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("admin@example.se", store.RoleAdmin, pw)
	b := w.browser()
	b.signIn("admin@example.se", pw)
	b.get("/admin/settings/users")
	good := b.csrf
	mallory := w.browser()
	mallory.ip = "203.0.113.9"
	w.user("mallory@example.se", store.RoleAdmin, pw)
	mallory.signIn("mallory@example.se", pw)
	mallory.get("/admin/")

	invite := func() url.Values {
		return url.Values{"email": {"ny@example.se"}, "role": {"admin"}, "lang": {"sv"}}
	}
	before := w.rowCounts()
	for _, tc := range []struct {
		name   string
		csrf   string
		header map[string]string
	}{
		{name: "no token", csrf: ""},
		{name: "wrong token", csrf: otherToken(good)},
		{name: "another session's token", csrf: mallory.csrf},
		{name: "cross-site", csrf: good, header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{name: "same-site sibling", csrf: good, header: map[string]string{"Sec-Fetch-Site": "same-site"}},
		{name: "foreign origin", csrf: good, header: map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
		{name: "null origin", csrf: good, header: map[string]string{"Sec-Fetch-Site": "", "Origin": "null"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := invite()
			f.Set("csrf", tc.csrf)
			req := httptest.NewRequest(http.MethodPost, "/admin/settings/users", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := b.do(req)
			wantStatus(t, rec, http.StatusForbidden)
			if !strings.Contains(rec.Body.String(), "Du har inte behörighet") {
				t.Errorf("403 page:\n%s", rec.Body)
			}
			w.unchanged(before)
		})
	}
	if len(w.queued()) != 0 {
		t.Fatal("a refused invitation was queued")
	}
	// The same form, as the page sends it, goes through.
	wantRedirect(t, b.post("/admin/settings/users", invite()), "/admin/settings/users")
	if _, err := w.st.UserByEmail(context.Background(), "ny@example.se"); err != nil {
		t.Fatalf("the accepted form wrote nothing: %v", err)
	}
	// Sign-in forms before a session are guarded by the pre-session cookie.
	anon := w.browser()
	anon.get("/admin/signin")
	wantStatus(t, anon.post("/admin/signin", url.Values{"email": {"admin@example.se"}, "password": {pw}, "csrf": {"forged"}}), http.StatusForbidden)
}

// TestViewerSeesNoWriteControlsAndAForgedPostIsRefused: settings are
// absent from a viewer's and an editor's pages, and posting the admin's
// form anyway is a 403 that writes nothing.
func TestViewerSeesNoWriteControlsAndAForgedPostIsRefused(t *testing.T) {
	w := newWebTest(t, nil)
	admin := w.user("admin@example.se", store.RoleAdmin, pw)
	for _, role := range []string{store.RoleViewer, store.RoleEditor} {
		t.Run(role, func(t *testing.T) {
			email := role + "@example.se"
			w.user(email, role, pw)
			b := w.browser()
			b.signIn(email, pw)
			rec := b.get("/admin/")
			wantStatus(t, rec, http.StatusOK)
			if strings.Contains(rec.Body.String(), "/admin/settings") {
				t.Error("settings in a non-admin's navigation")
			}
			wantStatus(t, b.get("/admin/settings/users"), http.StatusForbidden)
			before := w.rowCounts()
			for _, post := range []struct {
				path string
				form url.Values
			}{
				{"/admin/settings/users", url.Values{"email": {"x@example.se"}, "role": {"admin"}}},
				{"/admin/settings/users/" + itoa(admin.ID) + "/role", url.Values{"role": {"viewer"}}},
				{"/admin/settings/users/" + itoa(admin.ID) + "/deactivate", url.Values{}},
			} {
				wantStatus(t, b.post(post.path, post.form), http.StatusForbidden)
			}
			w.unchanged(before)
			if u, _ := w.st.User(context.Background(), admin.ID); u.Role != store.RoleAdmin || u.Status != store.UserActive {
				t.Fatalf("admin after forged posts: %+v", u)
			}
		})
	}
}

func TestOldSessionCookieAfterSignOutIsRefused(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleEditor, pw)
	b := w.browser()
	b.signIn("anna@example.se", pw)
	old := *b.cookies["utskick_session"]
	b.get("/admin/")
	rec := b.post("/admin/signout", url.Values{})
	wantRedirect(t, rec, "/admin/signin")
	if _, ok := b.cookies["utskick_session"]; ok {
		t.Fatal("cookie kept after sign-out")
	}
	if !strings.Contains(b.get("/admin/signin").Body.String(), "Du är utloggad.") {
		t.Error("no signed-out message")
	}
	thief := w.browser()
	thief.cookies["utskick_session"] = &old
	wantRedirect(t, thief.get("/admin/"), "/admin/signin")
	wantRedirect(t, thief.get("/admin/account"), "/admin/signin")
}

func TestSessionEndsWhenIdleAndAtItsAbsoluteEnd(t *testing.T) {
	w := newWebTest(t, func(d *api.Deps) { d.Sessions.Idle, d.Sessions.Max = 8*time.Hour, 24*time.Hour })
	w.user("anna@example.se", store.RoleEditor, pw)

	// Idle: 7h59m between requests keeps it, 8h ends it.
	b := w.browser()
	b.signIn("anna@example.se", pw)
	w.clock.Add(7*time.Hour + 59*time.Minute)
	wantStatus(t, b.get("/admin/"), http.StatusOK)
	w.clock.Add(8 * time.Hour)
	wantRedirect(t, b.get("/admin/"), "/admin/signin")
	if !strings.Contains(b.get("/admin/signin").Body.String(), "inloggningen gick ut") {
		t.Error("no message that the session ended")
	}

	// Absolute: active every few hours, still out after 24h.
	b = w.browser()
	b.signIn("anna@example.se", pw)
	for range 5 {
		w.clock.Add(4*time.Hour + 30*time.Minute)
		wantStatus(t, b.get("/admin/"), http.StatusOK)
	}
	w.clock.Add(2 * time.Hour) // 24.5 h after sign-in
	wantRedirect(t, b.get("/admin/"), "/admin/signin")
	if n := w.rowCounts()["sessions"]; n != 0 {
		t.Fatalf("%d sessions left after both timed out", n)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleEditor, pw)
	laptop, phone := w.browser(), w.browser()
	laptop.signIn("anna@example.se", pw)
	phone.signIn("anna@example.se", pw)
	oldLaptop := *laptop.cookies["utskick_session"]
	laptop.get("/admin/account")

	rec := laptop.post("/admin/account/password", url.Values{"current": {"fel"}, "password": {"nytt långt lösen"}, "confirm": {"nytt långt lösen"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `id="current-error"`) {
		t.Fatalf("wrong current password not tied to its field:\n%s", rec.Body)
	}
	wantStatus(t, phone.get("/admin/"), http.StatusOK)

	rec = laptop.post("/admin/account/password", url.Values{"current": {pw}, "password": {"nytt långt lösen"}, "confirm": {"nytt långt lösen"}})
	wantRedirect(t, rec, "/admin/account")
	// The laptop stays in with a new session; the phone and the laptop's
	// old cookie are out.
	wantStatus(t, laptop.get("/admin/account"), http.StatusOK)
	wantRedirect(t, phone.get("/admin/"), "/admin/signin")
	stale := w.browser()
	stale.cookies["utskick_session"] = &oldLaptop
	wantRedirect(t, stale.get("/admin/"), "/admin/signin")
	if _, err := w.st.Authenticate(context.Background(), "anna@example.se", "nytt långt lösen"); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

func TestAccountSessionsListAndEndOne(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleEditor, pw)
	bo := w.user("bo@example.se", store.RoleEditor, pw)
	laptop, phone, bos := w.browser(), w.browser(), w.browser()
	laptop.signIn("anna@example.se", pw)
	phone.signIn("anna@example.se", pw)
	bos.signIn("bo@example.se", pw)
	rec := laptop.get("/admin/account")
	rows := regexp.MustCompile(`(?s)<tr>\s*<th scope="row">(.*?)</tr>`).FindAllStringSubmatch(rec.Body.String(), -1)
	idRE := regexp.MustCompile(`/admin/account/sessions/(\d+)/end`)
	var other, current string
	for _, r := range rows {
		id := idRE.FindStringSubmatch(r[1])
		if id == nil {
			continue
		}
		if strings.Contains(r[1], "den här") {
			current = id[1]
		} else {
			other = id[1]
		}
	}
	if other == "" || current == "" || len(rows) != 2 {
		t.Fatalf("sessions on the account page: %d rows, current %q, other %q\n%s", len(rows), current, other, rec.Body)
	}
	// Bo's session is not Anna's to end.
	boSess, _ := w.st.Sessions(context.Background(), bo.ID)
	wantStatus(t, laptop.post("/admin/account/sessions/"+itoa(boSess[0].ID)+"/end", url.Values{}), http.StatusNotFound)
	wantStatus(t, bos.get("/admin/"), http.StatusOK)
	// The phone's session, ended from the laptop.
	laptop.get("/admin/account")
	wantRedirect(t, laptop.post("/admin/account/sessions/"+other+"/end", url.Values{}), "/admin/account")
	wantRedirect(t, phone.get("/admin/"), "/admin/signin")
	wantStatus(t, laptop.get("/admin/account"), http.StatusOK)
	// And its own: signed out.
	wantRedirect(t, laptop.post("/admin/account/sessions/"+current+"/end", url.Values{}), "/admin/signin")
	wantRedirect(t, laptop.get("/admin/"), "/admin/signin")
}

func TestNextOnlyLeadsInsideTheWorkspace(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleEditor, pw)
	for _, tc := range []struct{ next, want string }{
		{"/admin/account", "/admin/account"},
		{"/admin/settings/users?x=1", "/admin/settings/users?x=1"},
		{"https://evil.example/admin/", "/admin/"},
		{"//evil.example/admin/", "/admin/"},
		{"/\\evil.example", "/admin/"},
		{"/admin/../../evil", "/admin/"},
		{"/subscribe/bus", "/admin/"},
		{"javascript:alert(1)", "/admin/"},
	} {
		b := w.browser()
		b.get("/admin/signin")
		rec := b.post("/admin/signin", url.Values{"email": {"anna@example.se"}, "password": {pw}, "next": {tc.next}})
		if got := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || got != tc.want {
			t.Errorf("next %q: %d to %q, want %q", tc.next, rec.Code, got, tc.want)
		}
	}
}

func TestOneTimeLinkWorksOnceAndExpires(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	u := &store.User{Email: "ny@example.se", Role: store.RoleEditor, Lang: "en"}
	if err := w.st.CreateUser(ctx, u, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	secret, _, _ := w.st.CreateUserToken(ctx, u.ID, store.PurposeInvite)
	link := "/admin/password/" + secret
	b := w.browser()
	rec := b.get(link)
	wantStatus(t, rec, http.StatusOK)
	if rec.Header().Get("Referrer-Policy") != "same-origin" || !strings.Contains(rec.Body.String(), `<html lang="en">`) ||
		!strings.Contains(rec.Body.String(), "ny@example.se") {
		t.Fatalf("link page: %v\n%s", rec.Header(), rec.Body)
	}
	before := w.rowCounts()
	for _, tc := range []struct {
		pw, confirm, field string
	}{{"kort", "kort", "password"}, {"långt nog lösen", "annat lösen!!", "confirm"}} {
		rec = b.post(link, url.Values{"password": {tc.pw}, "confirm": {tc.confirm}})
		wantStatus(t, rec, http.StatusUnprocessableEntity)
		if !strings.Contains(rec.Body.String(), `id="`+tc.field+`-error"`) {
			t.Fatalf("error not on %s:\n%s", tc.field, rec.Body)
		}
	}
	w.unchanged(before)
	rec = b.post(link, url.Values{"password": {"långt nog lösen"}, "confirm": {"långt nog lösen"}})
	wantRedirect(t, rec, "/admin/signin?")
	if loc, _ := url.Parse(rec.Header().Get("Location")); loc.Query().Get("email") != "ny@example.se" || loc.Query().Get("lang") != "en" {
		t.Errorf("redirect %s", loc)
	}
	// Used: the link is dead, for reading and for posting.
	wantStatus(t, b.get(link), http.StatusNotFound)
	rec = b.post(link, url.Values{"password": {"ett tredje lösen"}, "confirm": {"ett tredje lösen"}})
	wantStatus(t, rec, http.StatusNotFound)
	if !strings.Contains(rec.Body.String(), "Länken fungerar inte") && !strings.Contains(rec.Body.String(), "The link does not work") {
		t.Fatalf("dead link page:\n%s", rec.Body)
	}
	b.signIn("ny@example.se", "långt nog lösen")

	// A reset link ends after two hours.
	reset, _, _ := w.st.CreateUserToken(ctx, u.ID, store.PurposeReset)
	w.clock.Add(2*time.Hour + time.Second)
	wantStatus(t, w.browser().get("/admin/password/"+reset), http.StatusNotFound)
}

func TestFirstRunLinkMakesTheFirstAdmin(t *testing.T) {
	w := newWebTest(t, nil)
	secret, _, err := w.st.CreateUserToken(context.Background(), 0, store.PurposeSetup)
	if err != nil {
		t.Fatal(err)
	}
	link := worker.SetPasswordURL("", secret)
	b := w.browser()
	rec := b.get(link)
	wantStatus(t, rec, http.StatusOK)
	for _, want := range []string{`id="email"`, `id="name"`, `id="lang"`, "Skapa det första kontot"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("setup page lacks %q", want)
		}
	}
	rec = b.post(link, url.Values{"email": {"inte en adress"}, "password": {"första lösenordet"}, "confirm": {"första lösenordet"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `id="email-error"`) || w.rowCounts()["users"] != 0 {
		t.Fatalf("bad address:\n%s", rec.Body)
	}
	rec = b.post(link, url.Values{"email": {"chef@example.se"}, "name": {"Chefen"}, "lang": {"sv"},
		"password": {"första lösenordet"}, "confirm": {"första lösenordet"}})
	wantRedirect(t, rec, "/admin/signin?")
	b.signIn("chef@example.se", "första lösenordet")
	wantStatus(t, b.get("/admin/settings/users"), http.StatusOK)
	wantStatus(t, w.browser().get(link), http.StatusNotFound)
}

// TestForgotPasswordAnswersTheSameForEveryAddress: the page and the work
// are the same whether the address has an account; the worker looks it up.
func TestForgotPasswordAnswersTheSameForEveryAddress(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleEditor, pw)
	answer := func(email string) (int, string) {
		b := w.browser()
		b.get("/admin/forgot")
		rec := b.post("/admin/forgot", url.Values{"email": {email}})
		return rec.Code, strings.ReplaceAll(rec.Body.String(), email, "EMAIL")
	}
	c1, known := answer("anna@example.se")
	c2, unknown := answer("nobody@example.se")
	if c1 != http.StatusOK || c2 != c1 || known != unknown || !strings.Contains(known, "Titta i din inkorg") {
		t.Fatalf("known %d, unknown %d, same body %v\n%s", c1, c2, known == unknown, known)
	}
	var got []string
	for _, ti := range w.queued() {
		var p queue.UserMailPayload
		taskPayload(t, ti, &p)
		if ti.Type != queue.TypeUserMail || p.Purpose != store.PurposeReset {
			t.Fatalf("queued %s %+v", ti.Type, p)
		}
		got = append(got, p.Email)
	}
	if len(got) != 2 {
		t.Fatalf("queued %v, want a reset task per request", got)
	}
	b := w.browser()
	b.get("/admin/forgot")
	rec := b.post("/admin/forgot", url.Values{"email": {"inte en adress"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `aria-describedby="email-error"`) {
		t.Fatalf("bad address:\n%s", rec.Body)
	}
}

func TestAdminInvitesChangesRolesAndDeactivates(t *testing.T) {
	w := newWebTest(t, nil)
	admin := w.user("admin@example.se", store.RoleAdmin, pw)
	b := w.browser()
	b.signIn("admin@example.se", pw)
	b.get("/admin/settings/users")
	before := w.rowCounts()
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"email": {""}, "role": {"editor"}}, "email"},
		{url.Values{"email": {"x@"}, "role": {"editor"}}, "email"},
		{url.Values{"email": {"x@example.se"}, "role": {"owner"}}, "role"},
		{url.Values{"email": {"ADMIN@example.se"}, "role": {"editor"}}, "email"},
	} {
		rec := b.post("/admin/settings/users", tc.form)
		wantStatus(t, rec, http.StatusUnprocessableEntity)
		if !strings.Contains(rec.Body.String(), `id="`+tc.field+`-error"`) {
			t.Fatalf("%v: error not on %s:\n%s", tc.form, tc.field, rec.Body)
		}
	}
	w.unchanged(before)
	wantRedirect(t, b.post("/admin/settings/users", url.Values{"email": {"Ny@Example.se"}, "name": {"Ny Person"}, "role": {"viewer"}, "lang": {"en"}}), "/admin/settings/users")
	ny, err := w.st.UserByEmail(context.Background(), "ny@example.se")
	if err != nil || ny.Role != store.RoleViewer || ny.Status != store.UserInvited || ny.Lang != "en" {
		t.Fatalf("invited: %v %+v", err, ny)
	}
	q := w.queued()
	var p queue.UserMailPayload
	if len(q) != 1 {
		t.Fatalf("queued %d tasks", len(q))
	}
	taskPayload(t, q[0], &p)
	if p.UserID != ny.ID || p.Purpose != store.PurposeInvite || p.ByUserID != admin.ID {
		t.Fatalf("invitation task %+v", p)
	}
	rec := b.get("/admin/settings/users")
	if !strings.Contains(rec.Body.String(), "Inbjudan är skickad.") || !strings.Contains(rec.Body.String(), "Ny Person") {
		t.Fatalf("users page after invite:\n%s", rec.Body)
	}
	// The only active admin can neither demote nor deactivate themself.
	rec = b.post("/admin/settings/users/"+itoa(admin.ID)+"/role", url.Values{"role": {"editor"}})
	wantStatus(t, rec, http.StatusConflict)
	if !strings.Contains(rec.Body.String(), "minst en aktiv administratör") {
		t.Fatalf("last admin page:\n%s", rec.Body)
	}
	wantStatus(t, b.post("/admin/settings/users/"+itoa(admin.ID)+"/deactivate", url.Values{}), http.StatusConflict)
	wantRedirect(t, b.post("/admin/settings/users/"+itoa(ny.ID)+"/role", url.Values{"role": {"editor"}}), "/admin/settings/users")
	wantRedirect(t, b.post("/admin/settings/users/"+itoa(ny.ID)+"/deactivate", url.Values{}), "/admin/settings/users")
	if u, _ := w.st.User(context.Background(), ny.ID); u.Role != store.RoleEditor || u.Status != store.UserDeactivated {
		t.Fatalf("after role change and deactivation: %+v", u)
	}
	evs := 0
	events, _, _ := w.st.Events(context.Background(), store.EventQuery{})
	for _, e := range events {
		if strings.HasPrefix(e.Kind, "user.") && e.Source == "web" && e.UserID != nil && *e.UserID == admin.ID {
			evs++
		}
	}
	if evs != 3 {
		t.Fatalf("%d user events by the admin from the web, want 3 (invite, role, deactivate)", evs)
	}
	wantStatus(t, b.post("/admin/settings/users/999/role", url.Values{"role": {"editor"}}), http.StatusNotFound)
	wantStatus(t, b.post("/admin/settings/users/abc/role", url.Values{"role": {"editor"}}), http.StatusBadRequest)
}

func TestProfileLanguageSwitchesTheWorkspace(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleEditor, pw)
	b := w.browser()
	b.signIn("anna@example.se", pw)
	b.get("/admin/account")
	rec := b.post("/admin/account", url.Values{"name": {"Anna Berg"}, "lang": {"de"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantRedirect(t, b.post("/admin/account", url.Values{"name": {"Anna Berg"}, "lang": {"en"}}), "/admin/account")
	rec = b.get("/admin/")
	if !strings.Contains(rec.Body.String(), `<html lang="en">`) || !strings.Contains(rec.Body.String(), "<h1>Overview</h1>") ||
		!strings.Contains(rec.Body.String(), "Anna Berg") {
		t.Fatalf("English overview:\n%s", rec.Body)
	}
}

// otherToken is a token of the same length as good that differs from it
// in its first character (a fixed "x" would equal a good token that
// starts with "x", one time in 64).
func otherToken(good string) string {
	if strings.HasPrefix(good, "x") {
		return "y" + good[1:]
	}
	return "x" + good[1:]
}
