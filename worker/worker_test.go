package worker_test

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

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

// env is a worker wired to real parts: a store, a Redis (embedded, or the
// one in UTSKICK_TEST_REDIS), and the embedded SMTP capture.
type env struct {
	st     *store.Store
	h      *worker.Handlers
	q      queue.Queue
	queues queue.Queues
	outDir string
	box    *outbox.Server
	rc     *queue.Redis
	cancel context.CancelFunc
	done   chan struct{}
	deps   func(*worker.Deps)
}

func redisURL() string {
	if a := os.Getenv("UTSKICK_TEST_REDIS"); a != "" {
		if !strings.Contains(a, "://") {
			a = "redis://" + a
		}
		return a
	}
	return ""
}

func newEnv(t *testing.T, st *store.Store, mod func(*worker.Config), depMods ...func(*worker.Deps)) *env {
	t.Helper()
	e := &env{st: st, outDir: filepath.Join(t.TempDir(), "outbox")}
	e.deps = func(d *worker.Deps) {
		for _, f := range depMods {
			f(d)
		}
	}
	box, err := outbox.Start(outbox.Config{Addr: "127.0.0.1:0", Dir: e.outDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	e.box = box
	return e.wire(t, box.Addr().Port, mod)
}

// newEnvSMTP is newEnv sending to the SMTP server on 127.0.0.1:port
// instead of the embedded capture (port 0).
func newEnvSMTP(t *testing.T, st *store.Store, port int, mod func(*worker.Config)) *env {
	t.Helper()
	if port == 0 {
		return newEnv(t, st, mod)
	}
	return (&env{st: st}).wire(t, port, mod)
}

// newSinkEnv is newEnv sending to a fault-injecting sink.
func newSinkEnv(t *testing.T, st *store.Store, s *sink, mod func(*worker.Config)) *env {
	t.Helper()
	return (&env{st: st}).wire(t, s.port(), mod)
}

func (e *env) wire(t *testing.T, smtpPort int, mod func(*worker.Config)) *env {
	t.Helper()
	if e.rc == nil {
		e.rcOnly(t)
	}
	m, err := mailer.New(mailer.Config{Host: "127.0.0.1", Port: smtpPort, TLS: mailer.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := mailtemplates.New()
	if err != nil {
		t.Fatal(err)
	}
	sg, _ := links.NewSigner([]byte("test secret key, 32 bytes long!!"))
	cfg := worker.Config{
		SMTP: worker.SMTP{Connections: 4}, Senders: worker.Senders{Slots: 4, BatchSize: 50},
		Retry:          worker.Retry{Base: 100 * time.Millisecond, Max: time.Second},
		ReconcileEvery: 500 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	d := worker.Deps{Store: e.st, Queue: e.q, Mailer: m, Templates: tm, Signer: sg, Log: slogDiscard(),
		Composer: compose.New(compose.Config{BaseURL: "http://127.0.0.1:8080",
			From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}, tm, sg)}
	if e.deps != nil {
		e.deps(&d)
	}
	h, err := worker.NewHandlers(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

func (e *env) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		if err := e.h.Run(ctx, e.rc.Client); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

// outbox returns the recipients of the captured messages, with counts.
func (e *env) outbox(t *testing.T) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
	got := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		to, err := mail.ParseAddress(m.Header.Get("To"))
		if err != nil {
			t.Fatalf("%s: To: %v", f, err)
		}
		got[to.Address]++
	}
	return got
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type fixture struct {
	lists []*store.List
	subs  []*store.Subscriber
	camp  *store.Campaign
}

// seed makes two lists, n confirmed subscribers spread over them (every
// third on both), and a campaign to both lists.
func seed(t *testing.T, st *store.Store, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{}
	for _, slug := range []string{"senaste-nytt", "bus"} {
		l := &store.List{Slug: slug, Name: slug, Language: "sv", Optin: store.OptinDouble}
		if err := st.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
		f.lists = append(f.lists, l)
	}
	for i := 0; i < n; i++ {
		var subs []store.SubscriptionInput
		switch i % 3 {
		case 0:
			subs = []store.SubscriptionInput{{ListID: f.lists[0].ID, Status: store.SubConfirmed}, {ListID: f.lists[1].ID, Status: store.SubConfirmed}}
		case 1:
			subs = []store.SubscriptionInput{{ListID: f.lists[0].ID, Status: store.SubConfirmed}}
		default:
			subs = []store.SubscriptionInput{{ListID: f.lists[1].ID, Status: store.SubConfirmed}}
		}
		s := &store.Subscriber{Email: fmt.Sprintf("reader%05d@example.org", i), Name: fmt.Sprintf("Reader %d", i), Language: "sv"}
		if err := st.CreateSubscriber(ctx, s, subs, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		f.subs = append(f.subs, s)
	}
	f.camp = &store.Campaign{Name: "November", Subject: "Hej {{ first_name }}", Body: "# Nyheter\n\nText.",
		ListIDs: []int64{f.lists[0].ID, f.lists[1].ID}}
	if err := st.CreateCampaign(ctx, f.camp); err != nil {
		t.Fatal(err)
	}
	return f
}

func (e *env) schedule(t *testing.T, id int64) {
	t.Helper()
	c, err := e.st.ScheduleCampaign(context.Background(), id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.q.Enqueue(context.Background(), queue.NewWakeTask(c.ID, c.Revision, time.Now())); err != nil {
		t.Fatal(err)
	}
}

func (e *env) waitSent(t *testing.T, id int64, d time.Duration) *store.CampaignStats {
	t.Helper()
	var st *store.CampaignStats
	waitFor(t, "campaign sent", d, func() bool {
		var err error
		st, err = e.st.CampaignStats(context.Background(), id)
		return err == nil && st.Status == store.CampaignSent
	})
	return st
}

func TestCampaignReachesEveryConfirmedSubscriberOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		f := seed(t, st, 120)
		// Not confirmed, and unsubscribed: neither gets the campaign.
		ctx := context.Background()
		un := &store.Subscriber{Email: "unconfirmed@example.org", Language: "sv"}
		st.CreateSubscriber(ctx, un, []store.SubscriptionInput{{ListID: f.lists[0].ID, Status: store.SubUnconfirmed}}, store.Actor{})
		left := &store.Subscriber{Email: "left@example.org", Language: "sv"}
		st.CreateSubscriber(ctx, left, []store.SubscriptionInput{{ListID: f.lists[1].ID, Status: store.SubUnsubscribed}}, store.Actor{})

		e.start(t)
		e.schedule(t, f.camp.ID)
		stats := e.waitSent(t, f.camp.ID, 30*time.Second)
		if stats.Recipients != 120 || stats.Sent != 120 || stats.Pending != 0 || stats.Failed != 0 {
			t.Fatalf("stats %+v", stats)
		}
		got := e.outbox(t)
		if len(got) != 120 {
			t.Fatalf("outbox has %d recipients, want 120", len(got))
		}
		for _, s := range f.subs {
			if got[s.Email] != 1 {
				t.Errorf("%s got %d mails, want 1", s.Email, got[s.Email])
			}
		}
		if got[un.Email] != 0 || got[left.Email] != 0 {
			t.Errorf("unconfirmed got %d, unsubscribed got %d, want 0", got[un.Email], got[left.Email])
		}
	})
}

// rcOnly connects e to a Redis without wiring a worker yet.
func (e *env) rcOnly(t *testing.T) {
	t.Helper()
	e.rcOnlyURL(t, redisURL())
}

// flushableDB is the database number of UTSKICK_TEST_REDIS that tests
// which empty their Redis use, so that FLUSHDB wipes nothing but theirs
// (the real-process tests use 2–11).
const flushableDB = 15

// rcOnlyFlushable connects e to a Redis database it may empty: its own
// number on UTSKICK_TEST_REDIS, or the embedded one.
func (e *env) rcOnlyFlushable(t *testing.T) {
	t.Helper()
	u := redisURL()
	if u != "" {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		parsed.Path = fmt.Sprintf("/%d", flushableDB)
		u = parsed.String()
	}
	e.rcOnlyURL(t, u)
}

func (e *env) rcOnlyURL(t *testing.T, u string) {
	t.Helper()
	rc, err := queue.Open(context.Background(), u, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	e.rc = rc
	e.queues = queue.DefaultQueues.WithPrefix(fmt.Sprintf("t%d-", time.Now().UnixNano()))
	e.q = queue.Client{C: asynq.NewClientFromRedisClient(rc.Client), Queues: e.queues}
}
