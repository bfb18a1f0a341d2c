package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestPublicFormsCheckNamesLikeTheAPI: the subscribe and preferences
// forms clean a name with the API's rule. Control characters and broken
// UTF-8 are refused with a sentence on the form, a long name is refused
// (never cut inside a character), and nothing is written.
func TestPublicFormsCheckNamesLikeTheAPI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		a := newTestAPIWith(t, st)
		list := a.seedList("senaste-nytt", `,"visibility":"public","optin":"single"`)
		ctx := context.Background()

		refused := []struct {
			name, path, value, want string
		}{
			{"NUL and bell", "/subscribe/senaste-nytt", "Anna\x00\x07", "Namnet innehåller tecken som inte kan sparas"},
			{"broken UTF-8", "/subscribe/senaste-nytt", "Anna \xe5", "Namnet innehåller tecken som inte kan sparas"},
			{"C1 control", "/subscribe/senaste-nytt", "Anna\u009b", "Namnet innehåller tecken som inte kan sparas"},
			{"201 characters", "/subscribe/senaste-nytt", strings.Repeat("ö", 201), "Namnet får vara högst 200 tecken"},
			{"201 characters, in English", "/subscribe/senaste-nytt?lang=en", strings.Repeat("€", 201), "The name can be at most 200 characters"},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				before := a.counts()
				rec := a.form(tc.path, url.Values{"email": {"anna@example.se"}, "name": {tc.value}}.Encode())
				body := rec.Body.String()
				if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) ||
					!strings.Contains(body, `aria-describedby="name-error" aria-invalid="true"`) {
					t.Fatalf("status %d, want 422 with %q on the name field:\n%s", rec.Code, tc.want, body)
				}
				if !utf8.ValidString(body) || strings.ContainsRune(body, 0) {
					t.Fatal("the page shows the refused name raw")
				}
				if after := a.counts(); !reflect.DeepEqual(before, after) {
					t.Fatalf("a refused form changed the database:\nbefore %v\nafter  %v", before, after)
				}
			})
		}

		accepted := []struct{ value, stored string }{
			// 200 three-byte characters: 600 bytes, which the old code
			// cut at byte 200, inside a character.
			{strings.Repeat("€", 200), strings.Repeat("€", 200)},
			{"  Anna \t\n  Svensson\u00a0 ", "Anna Svensson"},
			{"\u00a0\u3000", ""},
		}
		for i, tc := range accepted {
			email := fmt.Sprintf("ok%d@example.se", i)
			rec := a.form("/subscribe/senaste-nytt", url.Values{"email": {email}, "name": {tc.value}}.Encode())
			if rec.Code != http.StatusOK {
				t.Fatalf("%q: status %d", tc.value, rec.Code)
			}
			sub, err := a.st.SubscriberByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			if sub.Name != tc.stored {
				t.Fatalf("name %q stored as %q, want %q", tc.value, sub.Name, tc.stored)
			}
		}

		// The preferences page: a refused name saves nothing, not even
		// the ticks that came with it.
		anna, err := a.st.SubscriberByEmail(ctx, "ok1@example.se")
		if err != nil {
			t.Fatal(err)
		}
		tok := a.sign.PreferencesToken(anna.ID)
		before := a.counts()
		rec := a.form("/preferences/"+tok, url.Values{"action": {"save"}, "name": {"Anna\x1b[31m"}, "language": {"en"}}.Encode())
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Namnet innehåller tecken som inte kan sparas") {
			t.Fatalf("preferences with a control character: %d %s", rec.Code, rec.Body)
		}
		got, _ := a.st.Subscriber(ctx, anna.ID)
		if got.Name != "Anna Svensson" || got.Language != "sv" || a.subscription(anna.ID, list) != store.SubConfirmed {
			t.Fatalf("a refused preferences form changed %+v", got)
		}
		if after := a.counts(); !reflect.DeepEqual(before, after) {
			t.Fatalf("a refused preferences form changed the database:\nbefore %v\nafter  %v", before, after)
		}
		long := strings.Repeat("€", 200)
		rec = a.form("/preferences/"+tok, url.Values{"action": {"save"}, "lists": {fmt.Sprint(list)}, "name": {long}, "language": {"sv"}}.Encode())
		if rec.Code != http.StatusOK {
			t.Fatalf("preferences with a 200-character name: %d", rec.Code)
		}
		if got, _ := a.st.Subscriber(ctx, anna.ID); got.Name != long {
			t.Fatalf("name saved as %q (%d bytes)", got.Name, len(got.Name))
		}
	})
}

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
		d.Checks.Outbound = outbound.New(outbound.Config{AllowHosts: []string{"docs.internal"}, Resolver: testDNS{}})
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
		d.Checks.Outbound = outbound.New(outbound.Config{AllowHosts: []string{"hooks.internal", "intranet.example.se"}, Resolver: testDNS{}})
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

// TestImportFileNameIsStoredPrintable: the upload's file name comes from
// the client, RFC 2231-encoded if it likes, so it can hold a NUL (which
// Postgres refuses) or broken UTF-8.
func TestImportFileNameIsStoredPrintable(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		a := newTestAPIWith(t, st)
		list := a.seedList("bus", "")
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("list_ids", fmt.Sprint(list))
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {
			`form-data; name="file"; filename*=UTF-8''med%00lemmar%1B%FF.csv`}})
		w.Write([]byte("email\nanna@example.se\n"))
		mw.Close()
		rec := a.upload(mw.FormDataContentType(), &buf)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("upload: %d %s", rec.Code, rec.Body)
		}
		var imp store.Import
		json.Unmarshal(rec.Body.Bytes(), &imp)
		if imp.Filename != "medlemmar.csv" {
			t.Fatalf("file name stored as %q", imp.Filename)
		}
	})
}
