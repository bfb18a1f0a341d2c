package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/storsthlm/utskick/inbound/bounce"
	"github.com/storsthlm/utskick/internal/metrics"
	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/internal/outbox"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
	"github.com/storsthlm/utskick/worker/mailer"
)

var statsKey = []byte("test secret key, 32 bytes long!!")

// newStatsEnv is newEnv with metrics, and an SMTP server of the test's
// choosing (port 0: the embedded capture).
func newStatsEnv(t *testing.T, st *store.Store, met *metrics.Metrics, smtpPort int, mod func(*worker.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{st: st, outDir: filepath.Join(t.TempDir(), "outbox")}
	if smtpPort == 0 {
		box, err := outbox.Start(outbox.Config{Addr: "127.0.0.1:0", Dir: e.outDir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { box.Close() })
		e.box, smtpPort = box, box.Addr().Port
	}
	rc, err := queue.Open(ctx, redisURL(), slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	e.rc = rc
	m, err := mailer.New(mailer.Config{Host: "127.0.0.1", Port: smtpPort, TLS: mailer.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := mailtemplates.New()
	sg, _ := links.NewSigner(statsKey)
	e.queues = queue.DefaultQueues.WithPrefix(fmt.Sprintf("t%d-", time.Now().UnixNano()))
	e.q = queue.Client{C: asynq.NewClientFromRedisClient(rc.Client), Queues: e.queues}
	cfg := worker.Config{
		SMTP: worker.SMTP{Connections: 2}, Senders: worker.Senders{Slots: 2, BatchSize: 20},
		Retry:          worker.Retry{Base: 100 * time.Millisecond, Max: time.Second},
		ReconcileEvery: 500 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	// Webhook receivers are on loopback under the allowed name
	// hooks.internal, as an intranet receiver would be configured.
	web := outbound.New(outbound.Config{AllowHosts: []string{"hooks.internal"}, Resolver: loopbackDNS{"hooks.internal"}}).Client()
	h, err := worker.NewHandlers(cfg, worker.Deps{Store: st, Queue: e.q, Mailer: m, Templates: tm, Signer: sg, Log: slogDiscard(),
		Composer: compose.New(compose.Config{BaseURL: "https://news.example.se", BounceDomain: "bounces.example.se",
			From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}, tm, sg),
		Metrics: met, HTTPClient: web})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

// loopbackDNS resolves its names to 127.0.0.1 and no others.
type loopbackDNS []string

func (d loopbackDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if slices.Contains(d, host) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// trackedSeed makes a list with tracking on and n subscribers; those with
// an even index agreed to tracking.
func trackedSeed(t *testing.T, st *store.Store, n int, email func(int) string) *store.Campaign {
	t.Helper()
	ctx := context.Background()
	l := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Language: "sv", Optin: store.OptinSingle, TrackOpens: true, TrackClicks: true}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		yes := i%2 == 0
		s := &store.Subscriber{Email: email(i), Language: "sv"}
		if err := st.CreateSubscriber(ctx, s, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed,
			ConsentBasis: "test", TrackingConsent: &yes}}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	c := &store.Campaign{Name: "November", Subject: "Hej", ListIDs: []int64{l.ID},
		Body: "# Nyheter\n\n[Läs mer](https://example.se/a?x=1&y=2) och [mer](https://example.se/b)."}
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func htmlPart(t *testing.T, m *mail.Message) string {
	t.Helper()
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal("no HTML part")
		}
		b, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			return string(b)
		}
	}
}

func scrape(t *testing.T, met *metrics.Metrics, name, label, value string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
		if label == "" && m.Histogram != nil {
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func TestSentMailCarriesVERPAndTrackingOnlyWithConsent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		met := metrics.New()
		e := newStatsEnv(t, st, met, 0, nil)
		c := trackedSeed(t, st, 6, func(i int) string { return fmt.Sprintf("reader%d@example.org", i) })
		e.start(t)
		e.schedule(t, c.ID)
		e.waitSent(t, c.ID, 30*time.Second)

		ctx := context.Background()
		sign, _ := links.NewSigner(statsKey)
		rows, _, _ := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: c.ID})
		byEmail := map[string]int64{}
		for _, r := range rows {
			byEmail[r.Email] = r.ID
		}
		files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
		if len(files) != 6 {
			t.Fatalf("%d messages, want 6", len(files))
		}
		for _, f := range files {
			b, _ := os.ReadFile(f)
			m, err := mail.ReadMessage(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			to, _ := mail.ParseAddress(m.Header.Get("To"))
			id := byEmail[to.Address]
			// The envelope sender names the delivery, signed.
			prefix, tok, ok := bounce.TokenFromAddress(m.Header.Get("X-Utskick-Envelope-From"))
			if !ok || prefix != "bounces" || !strings.HasSuffix(m.Header.Get("X-Utskick-Envelope-From"), "@bounces.example.se") {
				t.Fatalf("envelope sender %q is not a VERP address", m.Header.Get("X-Utskick-Envelope-From"))
			}
			if got, err := sign.OpenBounce(tok); err != nil || got != id {
				t.Fatalf("VERP token opens to %d (%v), want delivery %d", got, err, id)
			}
			h := htmlPart(t, m)
			var i int
			fmt.Sscanf(to.Address, "reader%d@", &i)
			if i%2 == 0 {
				click := "https://news.example.se/l/" + sign.Sign(links.KindClick, uint64(id), 0)
				open := "https://news.example.se/o/" + sign.Sign(links.KindOpen, uint64(id))
				if !strings.Contains(h, `href="`+click+`"`) || !strings.Contains(h, `<img src="`+open+`"`) || strings.Contains(h, "https://example.se/a") {
					t.Errorf("%s agreed to tracking; HTML:\n%s", to.Address, h)
				}
			} else if strings.Contains(h, "news.example.se/l/") || strings.Contains(h, "news.example.se/o/") ||
				!strings.Contains(h, `href="https://example.se/a?x=1&amp;y=2"`) {
				t.Errorf("%s did not agree to tracking; HTML:\n%s", to.Address, h)
			}
		}
		for i, want := range []string{"https://example.se/a?x=1&y=2", "https://example.se/b"} {
			if got, err := st.CampaignLinkURL(ctx, c.ID, i); err != nil || got != want {
				t.Errorf("link %d: %q %v, want %q", i, got, err, want)
			}
		}
		if n := scrape(t, met, "utskick_sends_total", "outcome", "sent"); n != 6 {
			t.Errorf("sends_total{sent} = %v, want 6", n)
		}
		if n := scrape(t, met, "utskick_smtp_send_seconds", "", ""); n != 6 {
			t.Errorf("smtp_send_seconds count = %v, want 6", n)
		}
	})
}

// rejecter is an SMTP server that answers 550 5.1.1 to recipients whose
// address contains "bounce" and takes the rest.
type rejecter struct{ srv *smtp.Server }

func (r rejecter) NewSession(*smtp.Conn) (smtp.Session, error) { return rejSession{}, nil }

type rejSession struct{}

func (rejSession) Mail(string, *smtp.MailOptions) error { return nil }
func (rejSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.Contains(to, "bounce") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	return nil
}
func (rejSession) Data(r io.Reader) error {
	time.Sleep(10 * time.Millisecond) // a real server's pace, so a pause lands mid-campaign
	_, err := io.Copy(io.Discard, r)
	return err
}
func (rejSession) Reset()        {}
func (rejSession) Logout() error { return nil }

func TestGuardrailPausesACampaignThatFailsTooOften(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := smtp.NewServer(rejecter{})
		srv.Domain = "localhost"
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })

		e := newStatsEnv(t, st, nil, ln.Addr().(*net.TCPAddr).Port, func(c *worker.Config) {
			c.Senders.Slots, c.SMTP.Connections, c.Senders.BatchSize = 1, 1, 5
			c.Guardrail = store.Guardrail{MinSample: 10, MaxFailureRate: 0.1}
		})
		// Every third address does not exist: 33% permanent failures.
		c := trackedSeed(t, st, 90, func(i int) string {
			if i%3 == 0 {
				return fmt.Sprintf("bounce%d@example.org", i)
			}
			return fmt.Sprintf("reader%d@example.org", i)
		})
		e.start(t)
		e.schedule(t, c.ID)
		var camp *store.Campaign
		waitFor(t, "campaign paused", 30*time.Second, func() bool {
			camp, err = st.Campaign(context.Background(), c.ID)
			return err == nil && camp.Status == store.CampaignPaused
		})
		if !strings.HasPrefix(camp.StatusReason, "guardrail: permanent failure rate") || !strings.Contains(camp.StatusReason, "passed 10.0%") {
			t.Fatalf("status reason %q", camp.StatusReason)
		}
		e.stop()
		stats, _ := st.CampaignStats(context.Background(), c.ID)
		if stats.Pending == 0 || stats.FailedPermanent == 0 {
			t.Fatalf("the guardrail should stop the campaign early: %+v", stats.DeliveryCounts)
		}
		// Hard SMTP rejections of "no such user" are suppressed.
		if ok := storetest.Suppressed(t, st, "bounce0@example.org"); !ok {
			t.Error("5.1.1 address not suppressed")
		}
	})
}

// policyRejecter refuses recipients whose address contains "dmarc" as a
// receiver does when our DMARC record is broken, and "sender" with a
// complaint about the sender address, and takes the rest.
type policyRejecter struct{}

func (policyRejecter) NewSession(*smtp.Conn) (smtp.Session, error) { return policySession{}, nil }

type policySession struct{ rejSession }

func (policySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.Contains(to, "dmarc"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 26},
			Message: "Unauthenticated email from example.se is not accepted due to domain's DMARC policy"}
	case strings.Contains(to, "sender"):
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 8},
			Message: "<bounces@example.se>: Sender address rejected: Domain not found"}
	}
	return nil
}

func TestSMTPPolicyRejectionsAreNotSuppressedAndPauseWithTheReason(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := smtp.NewServer(policyRejecter{})
		srv.Domain = "localhost"
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })

		e := newStatsEnv(t, st, nil, ln.Addr().(*net.TCPAddr).Port, func(c *worker.Config) {
			c.Senders.Slots, c.SMTP.Connections, c.Senders.BatchSize = 1, 1, 5
			c.Guardrail = store.Guardrail{MinSample: 10, MaxFailureRate: 0.1, MaxPolicyRate: 0.1}
		})
		// Every third address is refused by the receiver's policy.
		c := trackedSeed(t, st, 90, func(i int) string {
			switch i % 6 {
			case 0:
				return fmt.Sprintf("dmarc%d@example.org", i)
			case 3:
				return fmt.Sprintf("sender%d@example.org", i)
			}
			return fmt.Sprintf("reader%d@example.org", i)
		})
		e.start(t)
		e.schedule(t, c.ID)
		var camp *store.Campaign
		waitFor(t, "campaign paused", 30*time.Second, func() bool {
			camp, err = st.Campaign(context.Background(), c.ID)
			return err == nil && camp.Status == store.CampaignPaused
		})
		if !strings.HasPrefix(camp.StatusReason, "guardrail: policy rejection rate") || !strings.Contains(camp.StatusReason, "latest: ") {
			t.Fatalf("status reason %q", camp.StatusReason)
		}
		e.stop()
		stats, _ := st.CampaignStats(context.Background(), c.ID)
		if stats.FailedPolicy == 0 || stats.FailedPermanent != 0 || stats.Pending == 0 {
			t.Fatalf("policy rejections should be counted as such and stop the campaign early: %+v", stats.DeliveryCounts)
		}
		for _, a := range []string{"dmarc0@example.org", "sender3@example.org"} {
			if ok := storetest.Suppressed(t, st, a); ok {
				t.Errorf("%s suppressed after a policy rejection", a)
			}
		}
	})
}

func TestWebhooksAreSignedRetriedAndLogged(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var mu sync.Mutex
		var bodies [][]byte
		var sigHeaders, events []string
		calls, privateHits := 0, 0
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			if r.URL.Path == "/gone" {
				w.WriteHeader(http.StatusGone)
				return
			}
			if r.URL.Path == "/private" {
				privateHits++
				return
			}
			calls++
			if calls == 1 {
				w.WriteHeader(http.StatusServiceUnavailable) // retried
				return
			}
			bodies = append(bodies, b)
			sigHeaders = append(sigHeaders, r.Header.Get(worker.HeaderSignature))
			events = append(events, r.Header.Get(worker.HeaderEvent))
			w.WriteHeader(http.StatusNoContent)
		}))
		defer hook.Close()
		named := strings.Replace(hook.URL, "127.0.0.1", "hooks.internal", 1)

		good := &store.Webhook{URL: named + "/ok", Events: []string{store.HookBounced}}
		gone := &store.Webhook{URL: named + "/gone", Events: []string{"*"}}
		// A receiver on a private address that is not allowed (a row
		// from before the API checked, or a name that now resolves
		// there) is refused without a request, and not retried.
		private := &store.Webhook{URL: hook.URL + "/private", Events: []string{store.HookBounced}}
		for _, w := range []*store.Webhook{good, gone, private} {
			if err := st.CreateWebhook(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 2})
		if _, err := st.RecordDeliveryReport(ctx, store.DeliveryReport{DeliveryID: sd.Deliveries[0], Kind: store.EventBounced,
			Status: "5.1.1", Source: "test"}, store.BouncePolicy{}); err != nil {
			t.Fatal(err)
		}

		e := newStatsEnv(t, st, nil, 0, func(c *worker.Config) { c.Webhooks.RetryBase = 100 * time.Millisecond })
		e.start(t)
		var log []store.WebhookDelivery
		waitFor(t, "webhook delivered", 20*time.Second, func() bool {
			log, _, _ = st.WebhookDeliveries(ctx, good.ID, 0, 10)
			return len(log) == 1 && log[0].Status == store.HookDelivered
		})
		if len(log[0].AttemptLog) != 2 || log[0].AttemptLog[0].StatusCode != 503 || log[0].AttemptLog[1].StatusCode != 204 {
			t.Fatalf("attempt log %+v", log[0].AttemptLog)
		}
		mu.Lock()
		if len(bodies) != 1 || events[0] != store.HookBounced {
			t.Fatalf("received %d bodies, events %v", len(bodies), events)
		}
		if err := worker.VerifyWebhook(good.Secret, sigHeaders[0], bodies[0], time.Now(), 5*time.Minute); err != nil {
			t.Fatalf("signature: %v", err)
		}
		if err := worker.VerifyWebhook(good.Secret, sigHeaders[0], append(bodies[0], ' '), time.Now(), 5*time.Minute); err == nil {
			t.Fatal("a changed body verified")
		}
		if err := worker.VerifyWebhook(gone.Secret, sigHeaders[0], bodies[0], time.Now(), 5*time.Minute); err == nil {
			t.Fatal("another webhook's secret verified")
		}
		if !bytes.Contains(bodies[0], []byte(`"event":"delivery.bounced"`)) || !bytes.Contains(bodies[0], []byte(sd.Emails[0])) {
			t.Fatalf("payload %s", bodies[0])
		}
		mu.Unlock()
		waitFor(t, "private webhook refused", 20*time.Second, func() bool {
			pl, _, _ := st.WebhookDeliveries(ctx, private.ID, 0, 10)
			return len(pl) == 1 && pl[0].Status == store.HookFailed
		})
		pl, _, _ := st.WebhookDeliveries(ctx, private.ID, 0, 10)
		if pl[0].Attempts != 1 || !strings.Contains(pl[0].AttemptLog[0].Error, "loopback") {
			t.Fatalf("private webhook: %d attempts, log %+v", pl[0].Attempts, pl[0].AttemptLog)
		}
		mu.Lock()
		if privateHits != 0 {
			t.Fatalf("the private receiver got %d requests", privateHits)
		}
		mu.Unlock()
		// 410 Gone is final at once: failed after one attempt (the "*"
		// hook also got campaign.started and subscriber events).
		waitFor(t, "gone webhook failed", 20*time.Second, func() bool {
			gl, _, _ := st.WebhookDeliveries(ctx, gone.ID, 0, 100)
			if len(gl) == 0 {
				return false
			}
			for _, d := range gl {
				if d.Status != store.HookFailed || d.Attempts != 1 {
					return false
				}
			}
			return true
		})
	})
}
