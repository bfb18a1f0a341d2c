package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/internal/metrics"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

const browserUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// statsClock is the store's clock in these tests.
type statsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *statsClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *statsClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// newStatsAPI is the test app with metrics, its own queue, and a
// settable store clock.
func newStatsAPI(t *testing.T) (*testAPI, *statsClock, *metrics.Metrics, queue.Queue) {
	t.Helper()
	clk := &statsClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	st := storetest.OpenDSN(t, storetest.SQLiteDSN(t), storetest.Options{Now: clk.Now})
	a := newTestAPIWith(t, st)
	mr := miniredis.RunT(t)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rc.Close() })
	a.insp = asynq.NewInspectorFromRedisClient(rc)
	q := queue.Client{C: asynq.NewClientFromRedisClient(rc), Queues: a.queues}
	met := metrics.New()
	if err := met.Register(metrics.CampaignCollector{Store: st}); err != nil {
		t.Fatal(err)
	}
	if err := met.Register(metrics.QueueCollector{Inspector: a.insp}); err != nil {
		t.Fatal(err)
	}
	tmpl, _ := mailtemplates.New()
	srv, err := api.New(api.Deps{
		Store: st, Queue: q, Templates: tmpl, Signer: a.sign,
		Site: api.Site{BaseURL: "http://news.example.se", Org: "Förbundet"}, Now: func() time.Time { return a.now },
		Inbound:    inbound.New(st, a.sign, nil).HandleFunc(api.ErrNotMail),
		Monitoring: api.Monitoring{Metrics: met, MetricsToken: "scrape-secret"},
		Tracking:   store.TrackingPolicy{MachineWindow: 2 * time.Second, BurstWindow: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.srv = conform(t, srv)
	return a, clk, met, q
}

func (a *testAPI) get(path, ua string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	return rec
}

// tamper changes one character in the middle of a token.
func tamper(tok string) string {
	i := len(tok) / 2
	c := byte('a')
	if tok[i] == 'a' {
		c = 'b'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func renderFixture(t *testing.T, name, token, rcpt string) string {
	t.Helper()
	tm, err := template.ParseFiles(filepath.Join("..", "inbound", "testdata", name+".eml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tm.Execute(&b, map[string]string{"Token": token, "Rcpt": rcpt, "MessageID": "d1.c1@example.se"}); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(b.String(), "\n", "\r\n")
}

func TestInboundAPIActsOnBouncesAndComplaints(t *testing.T) {
	a := newTestAPI(t)
	sd := storetest.Sent(t, a.st, storetest.Seed{Subscribers: 3})
	post := func(body string) (inbound.Result, int) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/inbound", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.editor)
		req.Header.Set("Content-Type", "message/rfc822")
		rec := httptest.NewRecorder()
		a.srv.ServeHTTP(rec, req)
		var res inbound.Result
		json.Unmarshal(rec.Body.Bytes(), &res)
		return res, rec.Code
	}

	// Tampered token: 200 (the message was taken) but ignored; nothing written.
	bad := tamper(a.sign.BounceToken(sd.Deliveries[2]))
	before := a.counts()
	if res, code := post(renderFixture(t, "dsn_hard", bad, sd.Emails[2])); code != 200 || res.Action != "ignored" {
		t.Fatalf("tampered: %d %+v", code, res)
	}
	if !reflect.DeepEqual(before, a.counts()) {
		t.Fatal("a tampered VERP token changed the database")
	}

	res, code := post(renderFixture(t, "dsn_hard", a.sign.BounceToken(sd.Deliveries[0]), sd.Emails[0]))
	if code != 200 || res.Action != "bounced" || !res.Suppressed || res.DeliveryID != sd.Deliveries[0] || res.CampaignID != sd.CampaignID {
		t.Fatalf("hard bounce: %d %+v", code, res)
	}
	res, code = post(renderFixture(t, "arf_abuse", a.sign.BounceToken(sd.Deliveries[1]), sd.Emails[1]))
	if code != 200 || res.Action != "unsubscribed" || !res.Suppressed || len(res.Lists) != 1 {
		t.Fatalf("complaint: %d %+v", code, res)
	}
	if sup := storetest.Suppressed(t, a.st, sd.Emails[1]); !sup {
		t.Fatal("complainer not suppressed")
	}
	// An Amazon SES complaint as SNS posts it: JSON, not mail.
	ses, _ := json.Marshal(map[string]any{"notificationType": "Complaint",
		"complaint": map[string]any{"complaintFeedbackType": "abuse", "complainedRecipients": []any{map[string]string{"emailAddress": sd.Emails[2]}}},
		"mail":      map[string]any{"source": "bounces+" + a.sign.BounceToken(sd.Deliveries[2]) + "@bounces.example.se"}})
	sns, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": string(ses)})
	res, code = post(string(sns))
	if code != 200 || res.Kind != "complaint" || res.Action != "unsubscribed" || res.DeliveryID != sd.Deliveries[2] {
		t.Fatalf("SES complaint through SNS: %d %+v", code, res)
	}
	var st store.CampaignStats
	a.ok(200, "GET", fmt.Sprintf("/api/v1/campaigns/%d/stats", sd.CampaignID), "", &st)
	if st.Bounced.Hard != 1 || st.Complaints != 2 || st.Unsubscribed != 2 || st.Sent != 3 {
		t.Fatalf("stats %+v", st)
	}
	if _, code := post("not a mail message at all"); code != 400 {
		t.Fatalf("junk: %d", code)
	}
}

func TestClickRedirectAndOpenPixel(t *testing.T) {
	a, clk, _, _ := newStatsAPI(t)
	sent := clk.Now()
	urls := []string{"https://example.se/nyheter/1?a=1&b=2", "https://example.se/2"}
	sd := storetest.Sent(t, a.st, storetest.Seed{Subscribers: 2, TrackOpens: true, TrackClicks: true, Consent: true, Links: urls, SentAt: sent})
	d := uint64(sd.Deliveries[0])
	click := a.sign.Sign(links.KindClick, d, 1)
	open := a.sign.Sign(links.KindOpen, d)

	// Tampered, forged or wrong-kind tokens: 400 and nothing written.
	before := a.counts()
	otherKey, _ := links.NewSigner([]byte("some other key that is 32 bytes!!"))
	for _, bad := range []string{tamper(click), otherKey.Sign(links.KindClick, d, 1), a.sign.Sign(links.KindOpen, d),
		a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sd.Subscribers[0], CampaignID: sd.CampaignID}), "short"} {
		if rec := a.get("/l/"+bad, browserUA); rec.Code != 400 {
			t.Fatalf("click token %q: %d, want 400", bad, rec.Code)
		}
	}
	if rec := a.get("/o/"+click, browserUA); rec.Code != 400 {
		t.Fatalf("click token as open: %d", rec.Code)
	}
	if !reflect.DeepEqual(before, a.counts()) {
		t.Fatal("a bad token changed the database")
	}
	// A valid signature for a link the campaign does not have: 404, no
	// redirect anywhere.
	if rec := a.get("/l/"+a.sign.Sign(links.KindClick, d, 9), browserUA); rec.Code != 404 || rec.Header().Get("Location") != "" {
		t.Fatalf("unknown link: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	// Within 2 seconds of delivery: machine. Later: human.
	clk.Set(sent.Add(1500 * time.Millisecond))
	if rec := a.get("/o/"+open, browserUA); rec.Code != 200 || rec.Header().Get("Content-Type") != "image/gif" {
		t.Fatalf("pixel: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	rec := a.get("/l/"+click, browserUA)
	if rec.Code != 302 || rec.Header().Get("Location") != urls[1] {
		t.Fatalf("click: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	clk.Set(sent.Add(3 * time.Hour))
	a.get("/o/"+open, browserUA)
	if rec := a.get("/l/"+click, browserUA); rec.Header().Get("Location") != urls[1] {
		t.Fatalf("later click went to %q", rec.Header().Get("Location"))
	}
	var st store.CampaignStats
	a.ok(200, "GET", fmt.Sprintf("/api/v1/campaigns/%d/stats", sd.CampaignID), "", &st)
	want := store.Engagement{Total: 2, Unique: 1, Human: 1, HumanUnique: 1, Machine: 1}
	if st.Opens != want || st.Clicks != want {
		t.Fatalf("opens %+v clicks %+v, want %+v each", st.Opens, st.Clicks, want)
	}
	if len(st.Links) != 2 || st.Links[1].Clicks != 2 || st.Links[1].Human != 1 || st.Links[1].URL != urls[1] || st.Links[0].Clicks != 0 {
		t.Fatalf("links %+v", st.Links)
	}
	if len(st.Timeline) != 2 || st.Timeline[0].Sent != 2 || st.Timeline[0].OpensHuman != 0 || st.Timeline[1].OpensHuman != 1 || st.Timeline[1].ClicksHuman != 1 {
		t.Fatalf("timeline %+v", st.Timeline)
	}
}

func TestStatsAndWebhookEndpointsRejectBadInput(t *testing.T) {
	a := newTestAPI(t)
	list := a.seedList("senaste-nytt", "")
	var hook store.Webhook
	a.ok(201, "POST", "/api/v1/webhooks", `{"url":"https://hooks.example.se/utskick","events":["delivery.bounced","subscriber.unsubscribed"]}`, &hook)
	if !strings.HasPrefix(hook.Secret, "whsec_") || len(hook.Events) != 2 {
		t.Fatalf("created %+v", hook)
	}
	tests := []struct {
		name, method, path, body, token string
		code                            int
		field                           string
	}{
		{"list stats: bad days", "GET", fmt.Sprintf("/api/v1/lists/%d/stats?days=0", list), "", "", 400, "days"},
		{"list stats: days not a number", "GET", fmt.Sprintf("/api/v1/lists/%d/stats?days=x", list), "", "", 400, "days"},
		{"list stats: unknown list", "GET", "/api/v1/lists/999/stats", "", "", 404, ""},
		{"campaign stats: bad id", "GET", "/api/v1/campaigns/x/stats", "", "", 400, "id"},
		{"webhook: no url", "POST", "/api/v1/webhooks", `{"events":["*"]}`, "", 400, "url"},
		{"webhook: not http", "POST", "/api/v1/webhooks", `{"url":"ftp://x.example.se","events":["*"]}`, "", 400, "url"},
		{"webhook: credentials in url", "POST", "/api/v1/webhooks", `{"url":"https://u:p@x.example.se","events":["*"]}`, "", 400, "url"},
		{"webhook: no events", "POST", "/api/v1/webhooks", `{"url":"https://x.example.se","events":[]}`, "", 400, "events"},
		{"webhook: unknown event", "POST", "/api/v1/webhooks", `{"url":"https://x.example.se","events":["*","delivery.opened"]}`, "", 400, "events[1]"},
		{"webhook: event twice", "POST", "/api/v1/webhooks", `{"url":"https://x.example.se","events":["campaign.sent","campaign.sent"]}`, "", 400, "events[1]"},
		{"webhook: events wrong type", "POST", "/api/v1/webhooks", `{"url":"https://x.example.se","events":"*"}`, "", 400, "events"},
		{"webhook: unknown field", "POST", "/api/v1/webhooks", `{"url":"https://x.example.se","events":["*"],"secret":"mine"}`, "", 400, "secret"},
		{"webhook: editor may not", "POST", "/api/v1/webhooks", `{"url":"https://x.example.se","events":["*"]}`, a.editor, 403, ""},
		{"webhook: delete unknown", "DELETE", "/api/v1/webhooks/999", "", "", 404, ""},
		{"webhook: log of unknown", "GET", "/api/v1/webhooks/999/deliveries", "", "", 404, ""},
		{"webhook: log bad limit", "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?limit=0", hook.ID), "", "", 400, "limit"},
		{"list: track_opens not a bool", "PATCH", fmt.Sprintf("/api/v1/lists/%d", list), `{"track_opens":"yes"}`, "", 400, "track_opens"},
		{"subscriber: consent not a bool", "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"x@example.se","lists":[{"id":%d,"tracking_consent":1}]}`, list), "", 400, "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := a.counts()
			tok := tc.token
			if tok == "" {
				tok = a.admin
			}
			rec := a.do(tc.method, tc.path, tok, tc.body)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			var eb errBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" || eb.Field != tc.field {
				t.Fatalf("error body %s, want field %q", rec.Body, tc.field)
			}
			if !reflect.DeepEqual(before, a.counts()) {
				t.Fatal("a rejected request changed the database")
			}
		})
	}
	// The list shows no secrets; the switches and consent are kept.
	var hooks struct{ Items []store.Webhook }
	a.ok(200, "GET", "/api/v1/webhooks", "", &hooks)
	if len(hooks.Items) != 1 || hooks.Items[0].Secret != "" {
		t.Fatalf("webhooks %+v", hooks.Items)
	}
	var l store.List
	a.ok(200, "PATCH", fmt.Sprintf("/api/v1/lists/%d", list), `{"track_opens":true,"track_clicks":true}`, &l)
	if !l.TrackOpens || !l.TrackClicks {
		t.Fatalf("list %+v", l)
	}
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"x@example.se","consent_basis":"test","lists":[{"id":%d,"tracking_consent":true}]}`, list), &sub)
	if !sub.Subscriptions[0].TrackingConsent {
		t.Fatalf("consent not kept: %+v", sub.Subscriptions)
	}
	var ls store.ListStats
	a.ok(200, "GET", fmt.Sprintf("/api/v1/lists/%d/stats?days=7", list), "", &ls)
	if len(ls.Growth) != 7 || ls.Size.Confirmed != 1 || ls.Totals.Confirmed != 1 {
		t.Fatalf("list stats %+v", ls)
	}
	a.ok(204, "DELETE", fmt.Sprintf("/api/v1/webhooks/%d", hook.ID), "", nil)
}

func TestMetricsAreScrapedInPrometheusFormat(t *testing.T) {
	a, clk, met, q := newStatsAPI(t)
	sd := storetest.Sent(t, a.st, storetest.Seed{Subscribers: 4, TrackClicks: true, Consent: true, Links: []string{"https://example.se/"}, SentAt: clk.Now()})
	clk.Set(clk.Now().Add(time.Hour))
	a.get("/l/"+a.sign.Sign(links.KindClick, uint64(sd.Deliveries[0]), 0), browserUA)
	met.Send("sent", 20*time.Millisecond)
	met.Send("failed_permanent", 30*time.Millisecond)
	if err := q.Enqueue(context.Background(), queue.NewWebhookTask(1, 3)); err != nil {
		t.Fatal(err)
	}

	if rec := a.get("/metrics", ""); rec.Code != 401 {
		t.Fatalf("metrics without the token: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer scrape-secret")
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("metric %s missing", name)
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("metric %s%v missing", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"utskick_sends_total", map[string]string{"outcome": "sent"}, 1},
		{"utskick_sends_total", map[string]string{"outcome": "failed_permanent"}, 1},
		{"utskick_smtp_send_seconds", nil, 2},
		{"utskick_tracking_hits_total", map[string]string{"kind": "click", "class": "human"}, 1},
		{"utskick_campaign_deliveries", map[string]string{"campaign_id": fmt.Sprint(sd.CampaignID), "status": "sent"}, 4},
		{"utskick_queue_tasks", map[string]string{"queue": a.queues.Default, "state": "pending"}, 1},
		{"utskick_queue_scrape_error", nil, 0},
		{"utskick_campaign_scrape_error", nil, 0},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestSubscribeFormAsksForTrackingConsentOnlyWhereTracked(t *testing.T) {
	a := newTestAPI(t)
	tracked := a.seedList("senaste-nytt", `,"visibility":"public","optin":"single","track_clicks":true`)
	a.seedList("bus", `,"visibility":"public","optin":"single"`)
	if body := a.do("GET", "/subscribe/bus", "", "").Body.String(); strings.Contains(body, `name="tracking"`) {
		t.Fatal("a list without tracking asks for tracking consent")
	}
	body := a.do("GET", "/subscribe/senaste-nytt", "", "").Body.String()
	if !strings.Contains(body, `name="tracking"`) || strings.Contains(body, `value="yes" checked`) {
		t.Fatal("the tracking opt-in is missing or ticked in advance")
	}
	consent := func(email string) bool {
		t.Helper()
		sub, err := a.st.SubscriberByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sub.Subscriptions {
			if m.ListID == tracked {
				return m.TrackingConsent
			}
		}
		t.Fatalf("%s not on the list", email)
		return false
	}
	if rec := a.form("/subscribe/senaste-nytt", "email=ja@example.se&tracking=yes"); rec.Code != 200 {
		t.Fatalf("subscribe: %d", rec.Code)
	}
	if rec := a.form("/subscribe/senaste-nytt", "email=nej@example.se"); rec.Code != 200 {
		t.Fatalf("subscribe: %d", rec.Code)
	}
	if !consent("ja@example.se") || consent("nej@example.se") {
		t.Fatal("the form's answer was not recorded as given")
	}
	evs, _, _ := a.st.Events(context.Background(), store.EventQuery{Limit: 100})
	found := false
	for _, e := range evs {
		if e.Kind == store.EventConfirmed && e.Data["tracking_consent"] == true {
			found = true
		}
	}
	if !found {
		t.Fatal("the consent event does not record the tracking answer")
	}
}
