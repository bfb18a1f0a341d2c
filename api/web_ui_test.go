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
	"github.com/storsthlm/utskick/store/storetest"
)

// TestEveryHTMLPageHasTheSecurityHeadersAndNoInlineCode: staff pages and
// the public subscriber pages alike, under a policy that forbids inline
// script and style, with nothing inline for it to forbid.
func TestEveryHTMLPageHasTheSecurityHeadersAndNoInlineCode(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	l := &store.List{Slug: "bus", Name: "BUS", Visibility: store.VisibilityPublic, Optin: store.OptinDouble, Archive: true}
	if err := w.st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	w.user("admin@example.se", store.RoleAdmin, pw)
	secret, _, _ := w.st.CreateUserToken(ctx, 0, store.PurposeSetup)
	b := w.browser()
	anon := []string{"/admin/signin", "/admin/forgot", "/subscribe/bus", "/subscribe?lists=bus", "/archive/bus",
		"/confirm/aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "/admin/password/" + secret, "/admin/password/nonsense"}
	for _, p := range anon {
		checkPage(t, b, p)
	}
	b.signIn("admin@example.se", pw)
	for _, p := range []string{"/admin/", "/admin/account", "/admin/settings", "/admin/settings/users", "/admin/lists", "/admin/nope"} {
		checkPage(t, b, p)
	}
}

var inlineRE = regexp.MustCompile(`(?i)<style|\sstyle=|<script(?:\s[^>]*)?>[^<]|\son[a-z]+=|javascript:`)

func checkPage(t *testing.T, b *browser, path string) {
	t.Helper()
	rec := b.get(path)
	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
		"object-src 'none'", "base-uri 'none'", "img-src 'self' data: " + webBase} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("%s: CSP allows inline code: %q", path, csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") == "" {
		t.Errorf("%s: headers %v", path, h)
	}
	if m := inlineRE.FindString(rec.Body.String()); m != "" {
		t.Errorf("%s: inline code %q in the page", path, m)
	}
	if !strings.Contains(rec.Body.String(), `rel="stylesheet" href="/`) {
		t.Errorf("%s: no stylesheet of our own", path)
	}
}

func TestStaticFilesAreHashedAndCachedForever(t *testing.T) {
	w := newWebTest(t, nil)
	b := w.browser()
	page := b.get("/admin/signin").Body.String()
	for _, re := range []string{`/admin/static/app\.[0-9a-f]{10}\.css`, `/admin/static/app\.[0-9a-f]{10}\.js`} {
		u := regexp.MustCompile(re).FindString(page)
		if u == "" {
			t.Fatalf("no %s in the page", re)
		}
		rec := b.get(u)
		wantStatus(t, rec, http.StatusOK)
		if rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || rec.Body.Len() < 100 {
			t.Errorf("%s: %v, %d bytes", u, rec.Header(), rec.Body.Len())
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") && !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("%s: Content-Type %q", u, ct)
		}
	}
	// An old or unknown name is not served (and not cached forever).
	wantStatus(t, b.get("/admin/static/app.0000000000.css"), http.StatusNotFound)
	pub := regexp.MustCompile(`/static/public\.[0-9a-f]{10}\.css`).FindString(b.get("/subscribe").Body.String())
	if pub == "" {
		t.Fatal("the public pages link no stylesheet under /static/")
	}
	wantStatus(t, b.get(pub), http.StatusOK)
}

func TestOverviewShowsWhatTheStoreHasAndSaysWhatToDoFirst(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("anna@example.se", store.RoleViewer, pw)
	b := w.browser()
	b.signIn("anna@example.se", pw)
	body := b.get("/admin/").Body.String()
	for _, want := range []string{"Inget skickas just nu.", "Inget är schemalagt.", "Inga kampanjer har skickats ännu.",
		"Det finns inga listor ännu. Börja med att skapa en lista", `href="/admin/lists"`} {
		if !strings.Contains(body, want) {
			t.Errorf("empty overview lacks %q", want)
		}
	}

	ctx := context.Background()
	sent := storetest.Sent(t, w.st, storetest.Seed{Subscribers: 1234})
	// A campaign scheduled for 08:00 Swedish time on a summer day (UTC+2).
	c := &store.Campaign{Name: "Sommarbrevet", Subject: "s", Body: "b", ListIDs: []int64{sent.ListID}}
	if err := w.st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.ScheduleCampaign(ctx, c.ID, time.Date(2026, 6, 16, 6, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.FinishCampaign(ctx, sent.CampaignID); err != nil {
		t.Fatal(err)
	}
	body = b.get("/admin/").Body.String()
	for _, want := range []string{
		"16 juni 2026 kl. 08:00", `datetime="2026-06-16T06:00:00Z"`, "Sommarbrevet",
		"1\u202f234", // sent, and the list's confirmed count, grouped the Swedish way
		"<caption class=\"visually-hidden\">De senast skickade kampanjerna",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if strings.Contains(body, "Inga kampanjer har skickats ännu.") || strings.Contains(body, "Det finns inga listor ännu.") {
		t.Error("empty states shown beside data")
	}
	if n := strings.Count(body, "<form"); n != 1 { // sign-out only: a viewer has nothing to change here
		t.Errorf("%d forms on a viewer's overview", n)
	}
	b.get("/admin/account")
	b.post("/admin/account", url.Values{"name": {"Anna"}, "lang": {"en"}})
	if !strings.Contains(b.get("/admin/").Body.String(), "16 June 2026, 08:00") {
		t.Error("no English time in an English overview")
	}
}
