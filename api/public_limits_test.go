package api_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestRateLimitsAndNoEnumeration(t *testing.T) {
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, rc redis.UniversalClient) {
		d.Limits.Limiter = queue.NewLimiter(rc, "t:")
		d.Limits.RateIP = queue.Rate{N: 4, Per: time.Minute}
		d.Limits.RateAddress = queue.Rate{N: 2, Per: time.Hour}
	})
	list := a.seedList("bus", `,"visibility":"public"`)
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"known@example.se","lists":[%d],"consent_basis":"x"}`, list), nil)
	from := func(ip, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		if body == "" {
			req = httptest.NewRequest(http.MethodGet, path, nil)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = ip + ":40000"
		rec := httptest.NewRecorder()
		a.srv.ServeHTTP(rec, req)
		return rec
	}
	// The same answer for a subscribed and an unknown address.
	known := from("192.0.2.1", "/subscribe/bus", "email=known@example.se")
	unknown := from("192.0.2.2", "/subscribe/bus", "email=new@example.se")
	if known.Code != 200 || known.Code != unknown.Code || known.Body.String() != unknown.Body.String() {
		t.Fatalf("answers differ: %d vs %d", known.Code, unknown.Code)
	}
	// Per address, whatever the IP: the third try within the hour is
	// refused and writes nothing.
	from("192.0.2.3", "/subscribe/bus", "email=new@example.se")
	before := a.counts()
	queued := len(a.tasks(queue.QueueCritical))
	rec := from("192.0.2.4", "/subscribe/bus", "email=NEW@example.se")
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !reflect.DeepEqual(before, a.counts()) || len(a.tasks(queue.QueueCritical)) != queued {
		t.Fatalf("address limit: %d %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Per IP: the fifth request from one IP in a minute is refused; IPv6
	// counts per /64.
	for i := range 4 {
		if rec := from("198.51.100.7", "/subscribe/bus", ""); rec.Code != 200 {
			t.Fatalf("request %d: %d", i+1, rec.Code)
		}
	}
	if rec := from("198.51.100.7", "/subscribe/bus", ""); rec.Code != 429 || !strings.Contains(rec.Body.String(), `lang="sv"`) {
		t.Fatalf("IP limit: %d", rec.Code)
	}
	for i := range 5 {
		code := from(fmt.Sprintf("[2001:db8:1:2::%x]", i+1), "/subscribe/bus", "").Code
		if want := map[bool]int{true: 429, false: 200}[i == 4]; code != want {
			t.Fatalf("IPv6 request %d: %d, want %d", i+1, code, want)
		}
	}
	// Unsubscribing is never limited.
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"c@example.se","lists":[%d],"consent_basis":"x"}`, list), &sub)
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID})
	for i := range 10 {
		if rec := from("198.51.100.7", "/unsubscribe/"+tok, "List-Unsubscribe=One-Click"); rec.Code != 200 {
			t.Fatalf("one-click %d from a limited IP: %d", i+1, rec.Code)
		}
	}
}

// TestAddressErrorsInSwedish: every way an address can be wrong gets a
// Swedish message on the Swedish form, tied to the field, and the form
// writes nothing.
func TestAddressErrorsInSwedish(t *testing.T) {
	a := newTestAPI(t)
	a.seedList("bus", `,"visibility":"public"`)
	inputs := []string{"", "a\xff@x.se", strings.Repeat("a", 600), "Anna <anna@x.se>", "anna.example.se", "@x.se", "anna@",
		strings.Repeat("a", 60) + "@" + strings.Repeat("b.", 100) + "se",
		strings.Repeat("a", 65) + "@x.se", ".anna@x.se", "an..na@x.se", "åsa@x.se", "an na@x.se", "anna(x)@x.se", "a@b@x.se",
		"an,na@x.se", `"anna@x.se`, `"an\` + `"@x.se`, `"a"b"@x.se`, "anna@[192.0.2.1]", "anna@x..se", "anna@se",
		"anna@" + strings.Repeat("x", 64) + ".se", "anna@-x.se", "anna@x_y.se", "anna@x.123", "anna@xn--.se"}
	for _, in := range inputs {
		before := a.counts()
		rec := a.form("/subscribe/bus", url.Values{"email": {in}}.Encode())
		body := rec.Body.String()
		i := strings.Index(body, `id="email-error">`)
		if rec.Code != 422 || i < 0 {
			t.Fatalf("%q: %d, no error tied to the field", in, rec.Code)
		}
		msg := body[i+len(`id="email-error">`):]
		msg = msg[:strings.Index(msg, "<")]
		_, err := store.NormalizeEmail(in)
		var ae *store.AddressError
		if !errors.As(err, &ae) {
			t.Fatalf("%q: %v", in, err)
		}
		if in != "" && (strings.Contains(msg, ae.Reason) || !strings.HasPrefix(msg, "Ange en giltig e-postadress: ")) {
			t.Errorf("%q: message %q is not Swedish (reason %q)", in, msg, ae.Reason)
		}
		if !reflect.DeepEqual(before, a.counts()) {
			t.Fatalf("%q: the form wrote something", in)
		}
	}
}
