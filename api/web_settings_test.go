package api_test

import (
	"context"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker/mailer"
)

// adminBrowser signs an admin in and returns the browser.
func adminBrowser(t *testing.T, w *webTest) (*browser, *store.User) {
	t.Helper()
	u := w.user("admin@example.se", store.RoleAdmin, pw)
	b := w.browser()
	b.signIn("admin@example.se", pw)
	return b, u
}

var tokenSecretRE = regexp.MustCompile(`id="secret" class="secret-value" value="(utk_[a-z0-9]+)"`)

// TestSettingsTokensShowTheSecretOnceAndKeepTheLastAdminToken: a token
// made on the page works on the API, its secret is on the answer and
// never again; bad input is a 422 with the error next to the field in
// the user's language and writes nothing; the last admin token cannot be
// revoked, with the rule's words, as DELETE /api/v1/tokens refuses it.
func TestSettingsTokensShowTheSecretOnceAndKeepTheLastAdminToken(t *testing.T) {
	w := newWebTest(t, nil)
	b, _ := adminBrowser(t, w)
	rec := b.get("/admin/settings/tokens")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Det finns inga API-nycklar") {
		t.Fatalf("no empty state:\n%s", rec.Body)
	}
	before := w.rowCounts()
	for _, tc := range []struct {
		form       url.Values
		field, msg string
	}{
		{url.Values{"name": {""}, "role": {"viewer"}}, "name", "Fyll i det här fältet."},
		{url.Values{"name": {strings.Repeat("n", 201)}, "role": {"viewer"}}, "name", "Högst 200 tecken."},
		{url.Values{"name": {"CRM"}, "role": {"owner"}}, "role", "Välj en roll."},
	} {
		rec := b.post("/admin/settings/tokens", tc.form)
		wantStatus(t, rec, http.StatusUnprocessableEntity)
		if !strings.Contains(rec.Body.String(), `<p class="error" id="`+tc.field+`-error">`+tc.msg) {
			t.Fatalf("%v: want %q next to %s:\n%s", tc.form, tc.msg, tc.field, rec.Body)
		}
	}
	w.unchanged(before)

	rec = b.post("/admin/settings/tokens", url.Values{"name": {"CRM-synk"}, "role": {"admin"}})
	wantStatus(t, rec, http.StatusCreated)
	m := tokenSecretRE.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no secret on the answer:\n%s", rec.Body)
	}
	secret := m[1]
	api := httptest.NewRequest(http.MethodGet, "/api/v1/tokens", nil)
	api.Header.Set("Authorization", "Bearer "+secret)
	arec := httptest.NewRecorder()
	w.srv.ServeHTTP(arec, api)
	wantStatus(t, arec, http.StatusOK)
	rec = b.get("/admin/settings/tokens")
	if strings.Contains(rec.Body.String(), secret) || !strings.Contains(rec.Body.String(), "CRM-synk") {
		t.Fatalf("the list shows the secret again, or not the token:\n%s", rec.Body)
	}
	ts, _ := w.st.Tokens(context.Background())
	if len(ts) != 1 || ts[0].LastUsedAt == nil {
		t.Fatalf("tokens %+v: want one, used", ts)
	}

	// The only admin token stays, on the page as on the API.
	before = w.rowCounts()
	rec = b.post("/admin/settings/tokens/"+itoa(ts[0].ID)+"/revoke", url.Values{})
	wantStatus(t, rec, http.StatusConflict)
	if !strings.Contains(rec.Body.String(), "sista API-nyckeln med rollen administratör") {
		t.Fatalf("last admin token page:\n%s", rec.Body)
	}
	w.unchanged(before)
	del := httptest.NewRequest(http.MethodDelete, "/api/v1/tokens/"+itoa(ts[0].ID), nil)
	del.Header.Set("Authorization", "Bearer "+secret)
	arec = httptest.NewRecorder()
	w.srv.ServeHTTP(arec, del)
	wantStatus(t, arec, http.StatusConflict)

	// A viewer token goes.
	wantStatus(t, b.post("/admin/settings/tokens", url.Values{"name": {"Läsare"}, "role": {"viewer"}}), http.StatusCreated)
	ts, _ = w.st.Tokens(context.Background())
	wantRedirect(t, b.post("/admin/settings/tokens/"+itoa(ts[1].ID)+"/revoke", url.Values{}), "/admin/settings/tokens")
	if ts, _ = w.st.Tokens(context.Background()); len(ts) != 1 {
		t.Fatalf("%d tokens after revoking one of two", len(ts))
	}
	wantStatus(t, b.post("/admin/settings/tokens/999/revoke", url.Values{}), http.StatusNotFound)
}

// TestSettingsWebhooksRefusePrivateAddressesNextToTheField: the page
// uses the API's outbound guard, so loopback and private addresses are
// refused with the error on the URL field; a good one is added with its
// secret shown once, lists its deliveries, and can be deleted.
func TestSettingsWebhooksRefusePrivateAddressesNextToTheField(t *testing.T) {
	w := newWebTest(t, nil)
	b, _ := adminBrowser(t, w)
	wantStatus(t, b.get("/admin/settings/webhooks"), http.StatusOK)
	before := w.rowCounts()
	for _, tc := range []struct {
		form       url.Values
		field, msg string
	}{
		{url.Values{"url": {"http://127.0.0.1:8080/hook"}, "events": {"*"}}, "url", "internt nät"},
		{url.Values{"url": {"http://10.1.2.3/hook"}, "events": {"*"}}, "url", "internt nät"},
		{url.Values{"url": {"http://[::1]/hook"}, "events": {"*"}}, "url", "internt nät"},
		{url.Values{"url": {"ftp://crm.example.se/x"}, "events": {"*"}}, "url", "börjar med https://"},
		{url.Values{"url": {""}, "events": {"*"}}, "url", "Fyll i det här fältet."},
		{url.Values{"url": {"https://crm.example.se/hook"}}, "events", "Välj minst en händelse."},
		{url.Values{"url": {"https://crm.example.se/hook"}, "events": {"no.such"}}, "events", ""},
	} {
		rec := b.post("/admin/settings/webhooks", tc.form)
		wantStatus(t, rec, http.StatusUnprocessableEntity)
		if !strings.Contains(rec.Body.String(), `<p class="error" id="`+tc.field+`-error">`) || !strings.Contains(rec.Body.String(), tc.msg) {
			t.Fatalf("%v: want %q next to %s:\n%s", tc.form, tc.msg, tc.field, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), `aria-invalid="true"`) && tc.field == "url" {
			t.Fatalf("%v: the field is not marked invalid", tc.form)
		}
	}
	w.unchanged(before)

	rec := b.post("/admin/settings/webhooks", url.Values{"url": {"https://crm.example.se/hook"},
		"events": {"subscriber.subscribed", "delivery.bounced"}, "description": {"CRM"}})
	wantStatus(t, rec, http.StatusCreated)
	m := regexp.MustCompile(`value="(whsec_[0-9a-f]+)"`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no signing secret on the answer:\n%s", rec.Body)
	}
	ws, _ := w.st.Webhooks(context.Background())
	if len(ws) != 1 || strings.Join(ws[0].Events, ",") != "subscriber.subscribed,delivery.bounced" || ws[0].Description != "CRM" {
		t.Fatalf("webhooks %+v", ws)
	}
	if rec := b.get("/admin/settings/webhooks"); strings.Contains(rec.Body.String(), m[1]) {
		t.Fatal("the list shows the signing secret again")
	}
	rec = b.get("/admin/settings/webhooks/" + itoa(ws[0].ID))
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Inga händelser har skickats") {
		t.Fatalf("deliveries page:\n%s", rec.Body)
	}
	wantStatus(t, b.get("/admin/settings/webhooks/999"), http.StatusNotFound)
	wantRedirect(t, b.post("/admin/settings/webhooks/"+itoa(ws[0].ID)+"/delete", url.Values{}), "/admin/settings/webhooks")
	if ws, _ = w.st.Webhooks(context.Background()); len(ws) != 0 {
		t.Fatalf("webhooks after delete: %+v", ws)
	}
}

// TestSenderIdentityIsSavedWithErrorsNextToTheFields: the form saves the
// instance's identity through the API's rule, records who changed it,
// and answers bad input with the error next to the field in the user's
// language; the same rule refuses it on PUT /api/v1/settings/sender.
func TestSenderIdentityIsSavedWithErrorsNextToTheFields(t *testing.T) {
	w := newWebTest(t, nil)
	b, admin := adminBrowser(t, w)
	rec := b.get("/admin/settings/sender")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `id="postal_address-missing"`) || !strings.Contains(rec.Body.String(), `placeholder="nyhetsbrev@example.se"`) {
		t.Fatalf("sender page without the missing-address warning or the UTSKICK_FROM default:\n%s", rec.Body)
	}
	good := url.Values{"from_name": {"Förbundet"}, "from_address": {"Nyheter@Example.se"}, "reply_to": {"Redaktionen <red@example.se>"},
		"postal_address": {"Förbundet, Box 1, 111 11 Stockholm"}, "contact": {"Frågor? Ring 08-123 45 67"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range good {
			f[kk] = vv
		}
		f.Set(k, v)
		return f
	}
	before := w.rowCounts()
	for _, tc := range []struct {
		form       url.Values
		field, msg string
	}{
		{with("from_address", "inte en adress"), "from_address", "Skriv en giltig e-postadress"},
		{with("reply_to", "<<"), "reply_to", "Redaktionen &lt;namn@kommun.se&gt;"},
		{with("postal_address", "Box 1\n111 11 Stockholm"), "postal_address", "Skriv allt på en rad."},
		{with("contact", strings.Repeat("x", 301)), "contact", "Högst 300 tecken."},
		{with("from_name", "   "), "from_name", "bara mellanslag"},
	} {
		rec := b.post("/admin/settings/sender", tc.form)
		wantStatus(t, rec, http.StatusUnprocessableEntity)
		body := rec.Body.String()
		if !strings.Contains(body, `<p class="error" id="`+tc.field+`-error">`) || !strings.Contains(body, tc.msg) {
			t.Fatalf("%s: want %q next to the field:\n%s", tc.field, tc.msg, body)
		}
	}
	w.unchanged(before)
	if id, _ := w.st.SenderIdentity(context.Background()); id.UpdatedAt != nil {
		t.Fatalf("a refused form wrote the identity: %+v", id)
	}
	wantRedirect(t, b.post("/admin/settings/sender", good), "/admin/settings/sender")
	id, err := w.st.SenderIdentity(context.Background())
	if err != nil || id.FromAddress != "nyheter@example.se" || id.PostalAddress != "Förbundet, Box 1, 111 11 Stockholm" ||
		id.UpdatedByUserID == nil || *id.UpdatedByUserID != admin.ID {
		t.Fatalf("stored identity %+v, %v", id, err)
	}
	rec = b.get("/admin/settings/sender")
	if !strings.Contains(rec.Body.String(), "Avsändaruppgifterna är sparade.") || strings.Contains(rec.Body.String(), `id="postal_address-missing"`) {
		t.Fatalf("after saving:\n%s", rec.Body)
	}
}

// TestSettingsAreForAdminsOnly: an editor has no Settings link, sees the
// 403 page for every settings screen, and a forged POST to each writes
// nothing.
func TestSettingsAreForAdminsOnly(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("admin@example.se", store.RoleAdmin, pw)
	w.user("red@example.se", store.RoleEditor, pw)
	b := w.browser()
	b.signIn("red@example.se", pw)
	if rec := b.get("/admin/"); strings.Contains(rec.Body.String(), `href="/admin/settings"`) {
		t.Fatal("an editor's navigation links to Settings")
	}
	for _, p := range []string{"/admin/settings", "/admin/settings/tokens", "/admin/settings/webhooks", "/admin/settings/webhooks/1",
		"/admin/settings/sender", "/admin/settings/domain", "/admin/settings/users"} {
		wantStatus(t, b.get(p), http.StatusForbidden)
	}
	before := w.rowCounts()
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/admin/settings/tokens", url.Values{"name": {"x"}, "role": {"admin"}}},
		{"/admin/settings/tokens/1/revoke", url.Values{}},
		{"/admin/settings/webhooks", url.Values{"url": {"https://crm.example.se/x"}, "events": {"*"}}},
		{"/admin/settings/webhooks/1/delete", url.Values{}},
		{"/admin/settings/sender", url.Values{"postal_address": {"Box 1"}}},
	} {
		b.get("/admin/account") // a fresh CSRF token of this session
		wantStatus(t, b.post(p.path, p.form), http.StatusForbidden)
	}
	w.unchanged(before)
	if id, _ := w.st.SenderIdentity(context.Background()); id.UpdatedAt != nil {
		t.Fatal("an editor's POST changed the sender identity")
	}
}

// slowDNS never answers: every lookup waits for its deadline.
type slowDNS struct{}

func (slowDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	<-ctx.Done()
	return nil, &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true}
}

// mapDNS answers from a map; other names do not exist.
type mapDNS map[string][]string

func (m mapDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := m[name]; ok {
		return txt, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// TestDomainPageShowsTheDKIMRecordAndWhatDNSSays: the page shows the
// exact record to publish from the configured key; with DNS that answers
// it judges SPF and DMARC; with no resolver or a resolver that does not
// answer, it says "could not check" with the reason, within the bound,
// and never a pass or a fail.
func TestDomainPageShowsTheDKIMRecordAndWhatDNSSays(t *testing.T) {
	key, _, err := mailer.GenerateDKIMKey(mailer.DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := mailer.NewDKIM("example.se", "nyhet", key)
	if err != nil {
		t.Fatal(err)
	}
	record := dk.TXTRecord()
	page := func(mod func(*api.Deps)) string {
		w := newWebTest(t, func(d *api.Deps) {
			d.Checks.DKIM = &lint.DKIMKey{Domain: dk.Domain(), Selector: dk.Selector(), Record: dk.TXTRecord()}
			mod(d)
		})
		b, _ := adminBrowser(t, w)
		rec := b.get("/admin/settings/domain")
		wantStatus(t, rec, http.StatusOK)
		return rec.Body.String()
	}
	verdicts := func(body string) []string {
		return regexp.MustCompile(`class="check-(ok|warn|unknown)"`).FindAllString(body, -1)
	}

	off := page(func(*api.Deps) {})
	if !strings.Contains(off, `<code id="dkim-name">nyhet._domainkey.example.se</code>`) || !strings.Contains(html.UnescapeString(off), ">"+record+"</textarea>") {
		t.Fatalf("no DKIM record to publish:\n%s", off)
	}
	if v := verdicts(off); len(v) != 3 || strings.Count(strings.Join(v, ""), "unknown") != 3 || !strings.Contains(off, "DNS-kontrollerna är avstängda") {
		t.Fatalf("without a resolver: verdicts %v, want 3 could-not-check with the reason:\n%s", v, off)
	}

	start := time.Now()
	slow := page(func(d *api.Deps) { d.Checks.Resolver, d.Checks.DNSTimeout = slowDNS{}, 100*time.Millisecond })
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a resolver that never answers held the page for %v", took)
	}
	if v := verdicts(slow); strings.Count(strings.Join(v, ""), "unknown") != 3 || !strings.Contains(slow, "DNS svarade inte i tid") {
		t.Fatalf("a silent resolver: verdicts %v:\n%s", v, slow)
	}

	good := page(func(d *api.Deps) {
		d.Checks.Resolver = mapDNS{"nyhet._domainkey.example.se": {record}, "example.se": {"v=spf1 mx -all"},
			"_dmarc.example.se": {"v=DMARC1; p=quarantine"}}
	})
	if v := verdicts(good); strings.Count(strings.Join(v, ""), "ok") != 3 || !strings.Contains(good, "p=quarantine") {
		t.Fatalf("good DNS: verdicts %v:\n%s", v, good)
	}
	bad := page(func(d *api.Deps) {
		d.Checks.Resolver = mapDNS{"nyhet._domainkey.example.se": {"v=DKIM1; k=ed25519; p=AAAA"}}
	})
	if v := verdicts(bad); strings.Count(strings.Join(v, ""), "warn") != 3 || !strings.Contains(bad, "en annan än den utskick signerar med") {
		t.Fatalf("wrong key, no SPF, no DMARC: verdicts %v:\n%s", v, bad)
	}
}

// TestDeactivateAsksFirstAndRoleErrorsSitByTheirRow: deactivating is a
// link to a page that names the person and asks (no script needed), and
// a refused role change shows its reason next to that row's role.
func TestDeactivateAsksFirstAndRoleErrorsSitByTheirRow(t *testing.T) {
	w := newWebTest(t, nil)
	b, admin := adminBrowser(t, w)
	anna := w.user("anna@example.se", store.RoleEditor, pw)
	rec := b.get("/admin/settings/users")
	if !strings.Contains(rec.Body.String(), `href="/admin/settings/users/`+itoa(anna.ID)+`/deactivate"`) {
		t.Fatalf("no link to the confirmation:\n%s", rec.Body)
	}
	rec = b.get("/admin/settings/users/" + itoa(anna.ID) + "/deactivate")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Stäng av anna?") || !strings.Contains(rec.Body.String(), "Ja, stäng av anna") {
		t.Fatalf("the confirmation does not name the person:\n%s", rec.Body)
	}
	if u, _ := w.st.User(context.Background(), anna.ID); u.Status != store.UserActive {
		t.Fatal("showing the confirmation deactivated")
	}
	wantRedirect(t, b.post("/admin/settings/users/"+itoa(anna.ID)+"/deactivate", url.Values{}), "/admin/settings/users")
	if u, _ := w.st.User(context.Background(), anna.ID); u.Status != store.UserDeactivated {
		t.Fatal("the confirmed deactivation did not happen")
	}
	wantStatus(t, b.get("/admin/settings/users/999/deactivate"), http.StatusNotFound)

	id := itoa(admin.ID)
	rec = b.post("/admin/settings/users/"+id+"/role", url.Values{"role": {"owner"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `<p class="error" id="role-`+id+`-error">Välj en roll.</p>`) ||
		!strings.Contains(rec.Body.String(), `aria-describedby="role-`+id+`-error"`) {
		t.Fatalf("invalid role: no error by the row:\n%s", rec.Body)
	}
	rec = b.post("/admin/settings/users/"+id+"/role", url.Values{"role": {"viewer"}})
	wantStatus(t, rec, http.StatusConflict)
	if !strings.Contains(rec.Body.String(), `<p class="error" id="role-`+id+`-error">Det måste finnas minst en aktiv administratör`) {
		t.Fatalf("last admin: no error by the row:\n%s", rec.Body)
	}
}
