package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store/storetest"
)

// Every answer carries nosniff; every GET route answers HEAD without a
// body (and a HEAD on a tracked link counts nothing); a wrong method is a
// 405 naming the methods there are.
func TestMethodsHeadAndNosniffOnEveryRoute(t *testing.T) {
	a := newTestAPI(t)
	sd := storetest.Sent(t, a.st, storetest.Seed{Subscribers: 1, TrackOpens: true, TrackClicks: true, Consent: true,
		Links: []string{"https://example.se/1"}})
	a.seedList("arkiv", `,"visibility":"public","archive":true`)
	click := a.sign.Sign(links.KindClick, uint64(sd.Deliveries[0]), 0)
	open := a.sign.Sign(links.KindOpen, uint64(sd.Deliveries[0]))

	tests := []struct {
		method, path string
		auth         bool
		code         int
		allow        string // the 405's Allow must name these
	}{
		{"GET", "/healthz", false, 200, ""},
		{"HEAD", "/healthz", false, 200, ""},
		{"HEAD", "/readyz", false, 200, ""},
		{"GET", "/api/v1/lists", true, 200, ""},
		{"HEAD", "/api/v1/lists", true, 200, ""},
		{"GET", "/api/v1/lists", false, 401, ""},
		{"HEAD", "/api/v1/subscribers.csv", true, 200, ""},
		{"HEAD", fmt.Sprintf("/api/v1/subscribers/%d/export", sd.Subscribers[0]), true, 200, ""},
		{"GET", "/api/v1/nothing", true, 404, ""},
		{"HEAD", "/subscribe/arkiv", false, 200, ""},
		{"HEAD", "/archive/arkiv", false, 200, ""},
		{"GET", "/archive/arkiv/feed.atom", false, 200, ""},
		{"HEAD", "/archive/arkiv/feed.atom", false, 200, ""},
		{"GET", "/l/" + click, false, 302, ""},
		{"HEAD", "/l/" + click, false, 302, ""},
		{"GET", "/o/" + open, false, 200, ""},
		{"HEAD", "/o/" + open, false, 200, ""},
		{"GET", "/l/" + tamper(click), false, 400, ""},
		{"PUT", "/api/v1/lists", true, 405, "GET, POST, HEAD"},
		{"PUT", "/api/v1/lists", false, 405, "GET, POST"},
		{"DELETE", "/healthz", false, 405, "GET, HEAD"},
		{"POST", "/l/" + click, false, 405, "GET, HEAD"},
		{"PATCH", "/subscribe/arkiv", false, 405, "GET, POST, HEAD"},
		{"HEAD", "/api/v1/inbound", true, 405, "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			before := a.counts()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.auth {
				req.Header.Set("Authorization", "Bearer "+a.admin)
			}
			rec := httptest.NewRecorder()
			a.srv.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if tc.method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered with a body of %d bytes", rec.Body.Len())
			}
			if tc.allow != "" {
				allow := rec.Header().Get("Allow")
				for _, m := range strings.Split(tc.allow, ", ") {
					if !strings.Contains(allow, m) {
						t.Errorf("Allow %q lacks %s", allow, m)
					}
				}
			}
			if tc.method == http.MethodHead && !reflect.DeepEqual(before, a.counts()) {
				t.Errorf("a HEAD wrote to the database")
			}
		})
	}
}

func TestTestSendsAreRateLimitedPerToken(t *testing.T) {
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, rc redis.UniversalClient) {
		d.Limits.Limiter = queue.NewLimiter(rc, "t:")
		d.Limits.RateTest = queue.Rate{N: 5, Per: time.Hour}
	})
	list := a.seedList("bus", "")
	var camp struct{ ID int64 }
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d]}`, list), &camp)
	path := fmt.Sprintf("/api/v1/campaigns/%d/test", camp.ID)
	three := `{"emails":["a@example.se","b@example.se","c@example.se"]}`
	if rec := a.do("POST", path, a.editor, three); rec.Code != 202 {
		t.Fatalf("first test send: %d %s", rec.Code, rec.Body)
	}
	queued := func() int {
		n := 0
		for _, q := range []string{a.queues.Critical, a.queues.Default, a.queues.Bulk} {
			ts, _ := a.insp.ListPendingTasks(q) // a queue never used does not exist yet
			n += len(ts)
		}
		return n
	}
	before := queued()
	if before == 0 {
		t.Fatal("the first test send queued nothing")
	}
	rec := a.do("POST", path, a.editor, three)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "test sends are limited") {
		t.Fatalf("over the limit: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if n := queued(); n != before {
		t.Fatalf("a refused test send queued a task (%d → %d)", before, n)
	}
	// Another token has its own count.
	if rec := a.do("POST", path, a.admin, three); rec.Code != 202 {
		t.Fatalf("another token: %d %s", rec.Code, rec.Body)
	}
}

// Staff routes authenticate one by one (a group with middleware would turn
// every wrong method into a 404), so a route added without its role would
// be open to anyone: this walks every /api/v1 route without a token.
func TestEveryStaffRouteNeedsAToken(t *testing.T) {
	a := newTestAPI(t)
	n := 0
	for _, r := range a.srv.Echo().Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1") || r.Method == echo.RouteNotFound || r.Path == "/api/v1/openapi.json" {
			continue // the description is public, so tools can fetch it
		}
		n++
		path := regexp.MustCompile(`:[a-z_]+`).ReplaceAllString(r.Path, "1")
		rec := a.do(r.Method, path, "", "")
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", r.Method, r.Path, rec.Code)
		}
	}
	if n < 50 {
		t.Fatalf("only %d staff routes found", n)
	}
}
