package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker/outbound"
)

// TestLinkCheckDoesNotReachPrivateAddresses: the lint's link check would
// otherwise be a port scanner for the server's own network. Links to
// loopback (as a literal or a name resolving there) are reported as not
// fetched and get no request; an allowed host is fetched.
func TestLinkCheckDoesNotReachPrivateAddresses(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/admin":
			w.WriteHeader(http.StatusInternalServerError)
		case "/redirect":
			http.Redirect(w, r, "http://127.0.0.1"+portOf(r.Host)+"/admin", http.StatusFound)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer internal.Close()
	port := portOf(strings.TrimPrefix(internal.URL, "http://"))
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, _ redis.UniversalClient) {
		d.Outbound = outbound.New(outbound.Config{AllowHosts: []string{"docs.internal"}, Resolver: testDNS{}})
	})
	list := a.seedList("bus", "")
	body := fmt.Sprintf("Hej!\n\n[Admin](http://127.0.0.1%[1]s/admin)\n\n[Status](http://db.internal%[1]s/status)\n\n"+
		"[Via](http://docs.internal%[1]s/redirect)\n\n[Docs](http://docs.internal%[1]s/missing)\n", port)
	var camp store.Campaign
	reqBody, _ := json.Marshal(map[string]any{"name": "n", "subject": "Nyheter", "body": body, "list_ids": []int64{list}})
	a.ok(201, "POST", "/api/v1/campaigns", string(reqBody), &camp)

	var rep struct {
		Findings []struct{ Code, Message string }
	}
	a.ok(200, "POST", fmt.Sprintf("/api/v1/campaigns/%d/lint?check_links=true", camp.ID), "", &rep)
	found := func(code, fragment string) bool {
		for _, f := range rep.Findings {
			if f.Code == code && strings.Contains(f.Message, fragment) {
				return true
			}
		}
		return false
	}
	for _, link := range []string{"127.0.0.1" + port + "/admin", "db.internal" + port + "/status", "docs.internal" + port + "/redirect"} {
		if !found("unreachable_link", link) || found("broken_link", link) {
			t.Errorf("%s: want unreachable_link (refused), got %+v", link, rep.Findings)
		}
	}
	if !found("broken_link", "docs.internal"+port+"/missing") {
		t.Errorf("the allowed host was not checked: %+v", rep.Findings)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits["/admin"] != 0 || hits["/status"] != 0 {
		t.Fatalf("private addresses were fetched: %v", hits)
	}
	if hits["/missing"] == 0 || hits["/redirect"] == 0 {
		t.Fatalf("the allowed host was not fetched: %v", hits)
	}
}

// TestWebhookOnAnAllowedPrivateHostIsAccepted: the allow list is the way
// to a receiver on the internal network.
func TestWebhookOnAnAllowedPrivateHostIsAccepted(t *testing.T) {
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, _ redis.UniversalClient) {
		d.Outbound = outbound.New(outbound.Config{AllowHosts: []string{"hooks.internal", "intranet.example.se"}, Resolver: testDNS{}})
	})
	for _, u := range []string{"http://hooks.internal:8080/utskick", "https://intranet.example.se/hook"} {
		a.ok(201, "POST", "/api/v1/webhooks", fmt.Sprintf(`{"url":%q,"events":["*"]}`, u), nil)
	}
	rec := a.do("POST", "/api/v1/webhooks", a.admin, `{"url":"http://other.internal/","events":["*"]}`)
	var eb errBody
	json.Unmarshal(rec.Body.Bytes(), &eb)
	if rec.Code != 400 || eb.Field != "url" || !strings.Contains(eb.Error, "loopback") {
		t.Fatalf("a host not allowed: %d %s", rec.Code, rec.Body)
	}
}

// portOf returns ":port" of host:port.
func portOf(hostport string) string {
	if i := strings.LastIndex(hostport, ":"); i >= 0 {
		return hostport[i:]
	}
	return ""
}
