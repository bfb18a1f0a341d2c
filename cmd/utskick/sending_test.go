package main

// Fault tests of the send path on real processes: an SMTP server that
// closes idle sessions, outcome writes slowed inside Postgres, a database
// that stops taking writes, and one that goes away altogether.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
)

// TestStaleSMTPSessionsAfterAPause: the server closes sessions quiet for
// 2s (smtpsink -idle, go-smtp's 421 4.4.2 "Idle timeout"). A second
// campaign after a pause must not meet the closed sessions: every
// delivery goes out on its first attempt, with no wait for
// UTSKICK_RETRY_BASE (30s here).
func TestStaleSMTPSessionsAfterAPause(t *testing.T) {
	sk := startSink(t, "-idle", "2s")
	svc := newService(t, storetest.SQLiteDSN(t), "smtp://"+sk.addr+"?tls=none",
		map[string]string{"UTSKICK_RETRY_BASE": "30s"})
	id, addrs := svc.seed(300)
	st := svc.openStore()
	id2 := svc.anotherCampaign(st, id)
	svc.start()

	took1 := svc.sendAndWait(id, 60*time.Second)
	time.Sleep(4 * time.Second) // the sink has closed every pooled session
	took2 := svc.sendAndWait(id2, 20*time.Second)

	for _, d := range allDeliveries(t, st, id2) {
		if d.Attempts != 1 {
			t.Fatalf("after the pause, delivery %d took %d attempts (%d %s)", d.ID, d.Attempts, d.SMTPCode, d.SMTPMessage)
		}
	}
	got := sk.messages(t)
	for _, a := range addrs {
		if len(got[a]) != 2 || got[a][0] == got[a][1] {
			t.Fatalf("%s got %v, want one message of each campaign", a, got[a])
		}
	}
	t.Logf("300 recipients: %s before the pause, %s after it", took1.Round(time.Millisecond), took2.Round(time.Millisecond))
}

// TestKill9WithSlowOutcomeWritesOnPostgres: every statement that records
// sent outcomes takes a second inside Postgres (a trigger sleeps), as
// under heavy lock contention. A SIGKILL of the worker then resends what
// the server accepted but the database had not recorded: at most
// UTSKICK_SMTP_CONNECTIONS × worker.UnrecordedPerConn, however slow the
// writes.
func TestKill9WithSlowOutcomeWritesOnPostgres(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skip("needs " + storetest.EnvPostgres)
	}
	sk := startSink(t)
	const conns = 4
	svc := newService(t, storetest.PostgresDSN(t), "smtp://"+sk.addr+"?tls=none",
		map[string]string{"UTSKICK_SMTP_CONNECTIONS": fmt.Sprint(conns)})
	id, addrs := svc.seed(1500)
	st := svc.openStore()
	slow := svc.slowOutcomeWrites(time.Second)
	p := svc.start()
	svc.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
	waitUntil(t, "some mail", 90*time.Second, func() bool { return sk.count() >= 120 })
	p.kill9()
	inflight := inFlight(t, st, id)
	recorded := svc.statsFromStore(st, id).Sent
	accepted := len(sk.messages(t))
	slow()
	svc.start()
	waitUntil(t, "campaign sent", 120*time.Second, func() bool { return svc.stats(id).Status == store.CampaignSent })
	dups := checkDelivered(t, sk.messages(t), addrs, inflight)
	if bound := conns * worker.UnrecordedPerConn; dups > bound {
		t.Fatalf("%d sent twice after one SIGKILL; the bound is %d (connections × %d)", dups, bound, worker.UnrecordedPerConn)
	}
	t.Logf("at the kill: %d accepted by the server, %d recorded sent, %d claimed; %d sent twice (bound %d)",
		accepted, recorded, inflight, dups, conns*worker.UnrecordedPerConn)
}

// TestSQLiteRefusingWritesSendsNobodyTwice: twice in the middle of a
// campaign to a slow server the database stops taking writes for 6.5s
// (the process's file writes fail, as on a full disk) and no process
// dies. Reads still work, so senders could go on through their claimed
// batches (100 rows, about 10s each) while their leases lapse, and
// outcomes wait for the committer's next retry, seconds apart by then.
// When writes work again, the lapsed rows must not be handed to another
// sender while their holder still sends them or their outcomes still
// wait to be written: nobody gets the campaign twice and nobody is
// skipped.
func TestSQLiteRefusingWritesSendsNobodyTwice(t *testing.T) {
	sk := startSink(t, "-delay", "100ms")
	svc := newService(t, storetest.SQLiteDSN(t), "smtp://"+sk.addr+"?tls=none",
		map[string]string{"UTSKICK_WORKER_SLOTS": "4"})
	id, addrs := svc.seed(800)
	p := svc.start()
	svc.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
	var during []int
	for at := 60; len(during) < 2; at = sk.count() + 120 {
		waitUntil(t, "more mail", 90*time.Second, func() bool { return sk.count() >= at })
		undo := refuseFileWrites(t, p.cmd.Process.Pid)
		before := sk.count()
		time.Sleep(6500 * time.Millisecond)
		during = append(during, sk.count()-before)
		undo()
	}
	waitUntil(t, "campaign sent", 180*time.Second, func() bool { return svc.stats(id).Status == store.CampaignSent })
	dups := checkDelivered(t, sk.messages(t), addrs, 0)
	if !strings.Contains(p.out.String(), "record delivery outcomes; retrying") {
		t.Fatal("no outcome write failed: the outage did not happen")
	}
	t.Logf("%v accepted during the two 6.5s spells without writes; %d sent twice", during, dups)
}

// TestPostgresOutageSendsNobodyTwice: the worker reaches Postgres through
// a loopback proxy that the test cuts for 21.5s in the middle of a
// campaign (every connection dropped, new ones refused); no process dies.
// By then the committer retries its writes seconds apart, and the senders
// that stopped at the cut come back (asynq retries them 15–45s later)
// while the outcomes they left may still wait to be written. Nobody gets
// the campaign twice and nobody is skipped.
func TestPostgresOutageSendsNobodyTwice(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skip("needs " + storetest.EnvPostgres)
	}
	sk := startSink(t, "-delay", "10ms")
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	u.Host = px.addr()
	svc := newService(t, u.String(), "smtp://"+sk.addr+"?tls=none", nil)
	id, addrs := svc.seed(2000)
	p := svc.start()
	svc.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
	waitUntil(t, "some mail", 60*time.Second, func() bool { return sk.count() >= 300 })
	px.cut()
	before := sk.count()
	time.Sleep(21500 * time.Millisecond)
	during := sk.count() - before
	px.restore()
	waitUntil(t, "campaign sent", 180*time.Second, func() bool { return svc.stats(id).Status == store.CampaignSent })
	dups := checkDelivered(t, sk.messages(t), addrs, 0)
	if !strings.Contains(p.out.String(), "record delivery outcomes; retrying") {
		t.Log("no outcome write failed during the outage (none was waiting)")
	}
	t.Logf("%d accepted during the 21.5s outage; %d sent twice", during, dups)
}

// TestReadyzReportsADatabaseThatRefusesWrites: SQLite answers reads (and
// a ping) with a full disk; /readyz must still say the service is not
// ready while writes fail, and ready again once they work.
func TestReadyzReportsADatabaseThatRefusesWrites(t *testing.T) {
	svc := newService(t, storetest.SQLiteDSN(t), "", nil)
	p := svc.start()
	waitUntil(t, "ready", 30*time.Second, func() bool { code, _ := svc.readyz(); return code == http.StatusOK })
	undo := refuseFileWrites(t, p.cmd.Process.Pid)
	waitUntil(t, "not ready while writes fail", 15*time.Second, func() bool { code, _ := svc.readyz(); return code == http.StatusServiceUnavailable })
	_, body := svc.readyz()
	undo()
	if !strings.Contains(body, `"database"`) || strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("readyz body %s does not name the database", body)
	}
	waitUntil(t, "ready again", 15*time.Second, func() bool { code, _ := svc.readyz(); return code == http.StatusOK })
	t.Logf("while writes failed: %s", body)
}

func (s *service) readyz() (int, string) {
	resp, err := http.Get(s.base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// anotherCampaign makes a campaign to the lists of campaign id.
func (s *service) anotherCampaign(st *store.Store, id int64) int64 {
	s.t.Helper()
	ctx := context.Background()
	c, err := st.Campaign(ctx, id)
	if err != nil {
		s.t.Fatal(err)
	}
	c2 := &store.Campaign{Name: "December", Subject: "Hej igen {{ first_name }}", Body: "# Mer nytt\n\nEtt till.\n", ListIDs: c.ListIDs}
	if err := st.CreateCampaign(ctx, c2); err != nil {
		s.t.Fatal(err)
	}
	return c2.ID
}

// sendAndWait sends campaign id and returns how long it took to be sent.
func (s *service) sendAndWait(id int64, limit time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	s.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
	waitUntil(s.t, fmt.Sprintf("campaign %d sent", id), limit, func() bool { return s.stats(id).Status == store.CampaignSent })
	return time.Since(start)
}

func (s *service) statsFromStore(st *store.Store, id int64) *store.CampaignStats {
	s.t.Helper()
	stats, err := st.CampaignStats(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return stats
}

// slowOutcomeWrites makes every statement that marks deliveries sent take
// d longer inside Postgres, and returns the undo.
func (s *service) slowOutcomeWrites(d time.Duration) (undo func()) {
	s.t.Helper()
	db, err := gorm.Open(postgres.Open(s.dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		s.t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	s.t.Cleanup(func() { sqlDB.Close() })
	for _, q := range []string{
		fmt.Sprintf(`CREATE FUNCTION slow_outcomes() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF EXISTS (SELECT 1 FROM newrows WHERE status = 'sent') THEN PERFORM pg_sleep(%g); END IF;
				RETURN NULL;
			END $$`, d.Seconds()),
		`CREATE TRIGGER slow_outcomes AFTER UPDATE ON deliveries REFERENCING NEW TABLE AS newrows
			FOR EACH STATEMENT EXECUTE FUNCTION slow_outcomes()`,
	} {
		if err := db.Exec(q).Error; err != nil {
			s.t.Fatal(err)
		}
	}
	return func() {
		if err := db.Exec("DROP TRIGGER slow_outcomes ON deliveries").Error; err != nil {
			s.t.Fatal(err)
		}
	}
}

func allDeliveries(t *testing.T, st *store.Store, id int64) []store.DeliveryRow {
	t.Helper()
	var all []store.DeliveryRow
	var after int64
	for {
		rows, next, err := st.Deliveries(context.Background(), store.DeliveryQuery{CampaignID: id, After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
		if next == 0 {
			return all
		}
		after = next
	}
}

// proxy forwards loopback TCP connections to target until cut: then it
// drops every connection and refuses new ones, as a database server that
// went away does, until restore.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve(c net.Conn) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close(); c.Close() }()
	io.Copy(c, up)
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
