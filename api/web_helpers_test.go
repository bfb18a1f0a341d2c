package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// webClock is the one clock of the server and the store under test, so
// that sessions and one-time links can be aged.
type webClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *webClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *webClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// webTest is the whole app with a store and a limiter on one settable
// clock, for the staff workspace.
type webTest struct {
	t     testing.TB
	srv   *api.Server
	st    *store.Store
	dsn   string // the SQLite file, for a test that injects a fault
	clock *webClock
	mr    *miniredis.Miniredis
	insp  *asynq.Inspector
}

const webBase = "https://nyhetsbrev.example.se"

func newWebTest(t testing.TB, mod func(*api.Deps)) *webTest {
	t.Helper()
	clk := &webClock{t: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
	dsn := storetest.SQLiteDSN(t)
	st := storetest.OpenDSN(t, dsn, storetest.Options{Now: clk.Now})
	mr := miniredis.RunT(t)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rc.Close() })
	tmpl, err := mailtemplates.New()
	if err != nil {
		t.Fatal(err)
	}
	sign, _ := links.NewSigner(testKey)
	ccfg := compose.Config{BaseURL: webBase, From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}
	deps := api.Deps{
		Store: st, Queue: queue.Client{C: asynq.NewClientFromRedisClient(rc)},
		Composer: compose.New(ccfg, tmpl, sign), Templates: tmpl, Signer: sign,
		Site: api.Site{BaseURL: webBase, Org: "Förbundet"}, Now: clk.Now,
		Limits: api.Limits{Limiter: queue.NewLimiter(rc, "t:")},
	}
	if mod != nil {
		mod(&deps)
	}
	srv, err := api.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	return &webTest{t: t, srv: srv, st: st, dsn: dsn, clock: clk, mr: mr, insp: asynq.NewInspectorFromRedisClient(rc)}
}

// user makes an active user with password pw, as an invitation followed
// by its link would.
func (w *webTest) user(email, role, pw string) *store.User {
	w.t.Helper()
	ctx := context.Background()
	u := &store.User{Email: email, Name: strings.Split(email, "@")[0], Role: role}
	if err := w.st.CreateUser(ctx, u, store.Actor{Source: "test"}); err != nil {
		w.t.Fatal(err)
	}
	secret, _, err := w.st.CreateUserToken(ctx, u.ID, store.PurposeInvite)
	if err != nil {
		w.t.Fatal(err)
	}
	u, err = w.st.UseUserToken(ctx, secret, store.SetPassword{Password: pw}, store.Actor{Source: "test"})
	if err != nil {
		w.t.Fatal(err)
	}
	return u
}

// rowCounts snapshots every table, to assert a refused request wrote
// nothing.
func (w *webTest) rowCounts() map[string]int64 {
	w.t.Helper()
	n, err := w.st.RowCounts(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *webTest) unchanged(before map[string]int64) {
	w.t.Helper()
	after := w.rowCounts()
	for k, v := range before {
		if after[k] != v {
			w.t.Errorf("table %s: %d rows, was %d: a refused request wrote", k, after[k], v)
		}
	}
}

// queued lists the tasks waiting in the critical queue.
func (w *webTest) queued() []*asynq.TaskInfo {
	w.t.Helper()
	ts, err := w.insp.ListPendingTasks(queue.DefaultQueues.Critical)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		w.t.Fatal(err)
	}
	return ts
}

// browser is one browser: its cookies, its address, and the CSRF token
// of the last page it read.
type browser struct {
	w       *webTest
	cookies map[string]*http.Cookie
	ip      string
	csrf    string
}

func (w *webTest) browser() *browser {
	return &browser{w: w, cookies: map[string]*http.Cookie{}, ip: "192.0.2.10"}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) *httptest.ResponseRecorder {
	req.RemoteAddr = b.ip + ":5555"
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.w.srv.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	if m := csrfRE.FindStringSubmatch(rec.Body.String()); m != nil {
		b.csrf = m[1]
	}
	return rec
}

func (b *browser) get(path string) *httptest.ResponseRecorder {
	return b.do(httptest.NewRequest(http.MethodGet, path, nil))
}

// post sends a form as this site's own page would: with the CSRF token
// of the last page read (unless the form has one) and Sec-Fetch-Site
// same-origin.
func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", webBase)
	return b.do(req)
}

// signIn signs in through the sign-in page and checks it worked.
func (b *browser) signIn(email, pw string) {
	b.w.t.Helper()
	b.get("/admin/signin")
	rec := b.post("/admin/signin", url.Values{"email": {email}, "password": {pw}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/" {
		b.w.t.Fatalf("sign in %s: %d %s\n%s", email, rec.Code, rec.Header().Get("Location"), rec.Body)
	}
}

// signedIn is a new browser signed in as email (with pw) that has opened
// the overview, so that it holds a CSRF token for its next form.
func (w *webTest) signedIn(email string) *browser {
	w.t.Helper()
	b := w.browser()
	b.signIn(email, pw)
	b.get("/admin/")
	return b
}

// wantStatus fails unless rec has code.
func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, code int) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d (Location %q)\n%s", rec.Code, code, rec.Header().Get("Location"), rec.Body)
	}
}

// wantRedirect fails unless rec is a redirect to a location starting
// with prefix.
func wantRedirect(t *testing.T, rec *httptest.ResponseRecorder, prefix string) {
	t.Helper()
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), prefix) {
		t.Fatalf("status %d to %q, want 303 to %s\n%s", rec.Code, rec.Header().Get("Location"), prefix, rec.Body)
	}
}

func taskPayload(t *testing.T, ti *asynq.TaskInfo, v any) {
	t.Helper()
	if err := json.Unmarshal(ti.Payload, v); err != nil {
		t.Fatal(err)
	}
}
