package main

// These tests run utskick as real processes (built once by TestMain) and
// kill them the way production does: SIGKILL in the middle of a campaign,
// SIGTERM with a deadline. Mail goes to ../shared/tools/smtpsink, a
// separate process that survives the kills and keeps every message.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

var (
	utskickBin string // built by TestMain
	sinkBin    string // "" when ../shared/tools is not there
)

const (
	testSecret = "process test secret, at least 32 bytes long"
	testToken  = "utk_processtestprocesstestprocesstest"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "utskick-process-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	utskickBin = filepath.Join(dir, "utskick")
	if out, err := exec.Command("go", "build", "-race", "-o", utskickBin, ".").CombinedOutput(); err != nil {
		// The race detector needs cgo; fall back to a plain build.
		if out2, err2 := exec.Command("go", "build", "-o", utskickBin, ".").CombinedOutput(); err2 != nil {
			fmt.Fprintf(os.Stderr, "build utskick: %v\n%s\n%s", err2, out, out2)
			os.Exit(1)
		}
	}
	if _, err := os.Stat("../../../shared/tools/smtpsink/main.go"); err == nil {
		sinkBin = filepath.Join(dir, "smtpsink")
		cmd := exec.Command("go", "build", "-o", sinkBin, ".")
		cmd.Dir = "../../../shared/tools/smtpsink"
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build smtpsink: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running utskick or smtpsink process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *syncBuf
	done chan struct{}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startProc(t *testing.T, name, bin string, args []string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{t: t, name: name, cmd: cmd, out: &syncBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, lastLines(p.out.String(), 40))
		}
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) signal(sig os.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// kill9 kills the process without warning and waits for it to be gone.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// term asks the process to stop and returns how long it took.
func (p *proc) term(limit time.Duration) time.Duration {
	start := time.Now()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return time.Since(start)
	case <-time.After(limit):
		p.t.Fatalf("%s did not exit within %s of SIGTERM", p.name, limit)
		return 0
	}
}

// sink is smtpsink keeping every message in dir.
type sink struct {
	*proc
	addr, dir string
}

func startSink(t *testing.T, flags ...string) *sink {
	t.Helper()
	if sinkBin == "" {
		if os.Getenv("UTSKICK_TEST_TOOLS") != "" {
			t.Fatal("../shared/tools/smtpsink is missing")
		}
		t.Skip("../shared/tools/smtpsink not found")
	}
	s := &sink{addr: freeAddr(t), dir: t.TempDir()}
	s.proc = startProc(t, "smtpsink", sinkBin, append([]string{"-addr", s.addr, "-dir", s.dir}, flags...), nil)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("smtpsink did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// messages reads what the sink accepted: Message-IDs by envelope
// recipient. smtpsink writes a message to its file as it arrives, so a
// sender killed in the middle of DATA leaves a partial file for a message
// the sink never accepted; those are recognised by their missing closing
// MIME boundary and skipped.
func (s *sink) messages(t *testing.T) map[string][]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.eml"))
	out := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(bytes.TrimRight(b, "\r\n"), []byte("--")) {
			continue
		}
		m, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rcpt := strings.Trim(m.Header.Get("X-Sink-Envelope-To"), "<>")
		out[rcpt] = append(out[rcpt], m.Header.Get("Message-Id"))
	}
	return out
}

func (s *sink) count() int {
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.eml"))
	return len(files)
}

// service is utskick's settings for one test, and its API.
type service struct {
	t    *testing.T
	env  map[string]string
	base string
	dsn  string
}

func newService(t *testing.T, dsn string, smtp string, extra map[string]string) *service {
	t.Helper()
	addr := freeAddr(t)
	s := &service{t: t, base: "http://" + addr, dsn: dsn, env: map[string]string{
		"UTSKICK_HTTP_ADDR": addr, "UTSKICK_DATA_DIR": t.TempDir(), "UTSKICK_DATABASE_URL": dsn,
		"UTSKICK_SECRET": testSecret, "UTSKICK_ADMIN_TOKEN": testToken, "UTSKICK_LOG_FORMAT": "json",
		"UTSKICK_CLAIM_LEASE": "2s", "UTSKICK_RECONCILE_INTERVAL": "1s", "UTSKICK_SMTP_CONNECTIONS": "4",
		"UTSKICK_FROM": "Förbundet <nyhetsbrev@example.se>", "UTSKICK_RETRY_BASE": "200ms",
	}}
	if smtp != "" {
		s.env["UTSKICK_SMTP_URL"] = smtp
	}
	for k, v := range extra {
		s.env[k] = v
	}
	return s
}

func (s *service) start(args ...string) *proc {
	s.t.Helper()
	if len(args) == 0 {
		args = []string{"all"}
	}
	p := startProc(s.t, "utskick "+args[0], utskickBin, args, s.env)
	if args[0] == "work" {
		return p
	}
	for i := 0; ; i++ {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case <-p.done:
			s.t.Fatalf("utskick exited at start:\n%s", p.out.String())
		default:
		}
		if i > 300 {
			s.t.Fatalf("utskick did not start:\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *service) api(method, path, body string, out any) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.base+path, r)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		s.t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// openStore opens the service's database from the test, with the same
// address key the processes derive from the secret.
func (s *service) openStore() *store.Store {
	s.t.Helper()
	st, err := store.Open(context.Background(), store.Options{DSN: s.dsn, AddressKey: store.DeriveAddressKey([]byte(testSecret))})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { st.Close() })
	return st
}

// seed makes a list of n confirmed subscribers and a campaign to it, and
// returns the campaign id and the addresses.
func (s *service) seed(n int) (int64, []string) {
	s.t.Helper()
	st := s.openStore()
	ctx := context.Background()
	l := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Language: "sv", Optin: store.OptinDouble}
	if err := st.CreateList(ctx, l); err != nil {
		s.t.Fatal(err)
	}
	var addrs []string
	subs := make([]store.Subscriber, n)
	for i := range subs {
		subs[i] = store.Subscriber{Email: fmt.Sprintf("reader%05d@example.org", i), Name: fmt.Sprintf("Läsare %d", i), Language: "sv"}
		addrs = append(addrs, subs[i].Email)
	}
	if err := st.InsertSubscribersBulk(ctx, subs, l.ID, "test data"); err != nil {
		s.t.Fatal(err)
	}
	c := &store.Campaign{Name: "November", Subject: "Hej {{ first_name }}", Body: "# Senaste nytt\n\nEtt kort nummer.\n", ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, c); err != nil {
		s.t.Fatal(err)
	}
	return c.ID, addrs
}

func (s *service) stats(id int64) store.CampaignStats {
	var st store.CampaignStats
	s.api("GET", fmt.Sprintf("/api/v1/campaigns/%d/stats", id), "", &st)
	return st
}

// inFlight counts the campaign's deliveries that were being sent when
// the process died: only these may reach a recipient twice.
func inFlight(t *testing.T, st *store.Store, id int64) int64 {
	t.Helper()
	stats, err := st.CampaignStats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return stats.Sending
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkDelivered asserts every address got the campaign, and that every
// second copy is a resend of an in-flight message: same Message-ID, and
// no more of them than inflight.
func checkDelivered(t *testing.T, got map[string][]string, addrs []string, inflight int64) int {
	t.Helper()
	dups := 0
	for _, a := range addrs {
		ids := got[a]
		if len(ids) == 0 {
			t.Fatalf("%s never got the campaign", a)
		}
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("%s got two different messages: %s and %s", a, ids[0], id)
			}
			dups++
		}
	}
	if len(got) != len(addrs) {
		t.Fatalf("the sink saw %d recipients, want %d", len(got), len(addrs))
	}
	if int64(dups) > inflight {
		t.Fatalf("%d duplicates, but only %d messages were in flight at the kills", dups, inflight)
	}
	return dups
}

// TestKill9MidCampaignOnEmbeddedDefaults is the end-to-end issue's case:
// one process on embedded defaults (SQLite, in-process Redis) is killed
// with SIGKILL in the middle of a 2,000-recipient campaign and started
// again; every recipient is mailed.
func TestKill9MidCampaignOnEmbeddedDefaults(t *testing.T) {
	sk := startSink(t)
	svc := newService(t, storetest.SQLiteDSN(t), "smtp://"+sk.addr+"?tls=none", nil)
	id, addrs := svc.seed(2000)
	p := svc.start()
	svc.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
	waitUntil(t, "some mail", 30*time.Second, func() bool { return sk.count() >= 300 })
	p.kill9()
	st := svc.openStore()
	inflight := inFlight(t, st, id)
	if sent := sk.count(); sent >= 2000 {
		t.Fatalf("the campaign finished before the kill (%d sent); the test proves nothing", sent)
	}
	svc.start()
	waitUntil(t, "campaign sent", 90*time.Second, func() bool { return svc.stats(id).Status == store.CampaignSent })
	stats := svc.stats(id)
	dups := checkDelivered(t, sk.messages(t), addrs, inflight)
	if stats.Sent != 2000 || stats.Recipients != 2000 {
		t.Fatalf("stats %+v", stats)
	}
	t.Logf("killed with %d in flight; %d sent twice (same Message-ID)", inflight, dups)
}

// TestKill9ThreeTimes is the engine issue's case: the worker is killed
// three times during a 5,000-recipient campaign. On Postgres and Redis
// (when the test has them) the API and the worker are separate processes
// and only the worker is killed; otherwise `utskick all` on embedded
// defaults is.
func TestKill9ThreeTimes(t *testing.T) {
	sk := startSink(t)
	pg, redisAddr := os.Getenv(storetest.EnvPostgres), os.Getenv("UTSKICK_TEST_REDIS")
	dsn := storetest.SQLiteDSN(t)
	extra := map[string]string{}
	split := pg != "" && redisAddr != ""
	if split {
		dsn = storetest.PostgresDSN(t)
		extra["UTSKICK_REDIS_URL"] = fmt.Sprintf("redis://%s/%d", redisAddr, 2+time.Now().UnixNano()%10)
	}
	svc := newService(t, dsn, "smtp://"+sk.addr+"?tls=none", extra)
	id, addrs := svc.seed(5000)
	st := svc.openStore()
	var worker *proc
	if split {
		svc.start("serve")
		worker = svc.start("work")
	} else {
		worker = svc.start()
	}
	svc.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
	var inflight int64
	for kill := 1; kill <= 3; kill++ {
		target := sk.count() + 600
		waitUntil(t, "more mail", 60*time.Second, func() bool { return sk.count() >= target })
		worker.kill9()
		inflight += inFlight(t, st, id)
		if sk.count() >= 5000 {
			t.Fatalf("the campaign finished before kill %d; the test proves nothing", kill)
		}
		if split {
			worker = svc.start("work")
		} else {
			worker = svc.start()
		}
	}
	waitUntil(t, "campaign sent", 120*time.Second, func() bool { return svc.stats(id).Status == store.CampaignSent })
	stats := svc.stats(id)
	got := sk.messages(t)
	dups := checkDelivered(t, got, addrs, inflight)
	total := 0
	for _, ids := range got {
		total += len(ids)
	}
	if stats.Sent != 5000 || stats.Recipients != 5000 || int(stats.Sent) != len(got) || total != 5000+dups {
		t.Fatalf("stats %+v; sink saw %d recipients, %d messages", stats, len(got), total)
	}
	t.Logf("three kills with %d in flight in all; %d sent twice (same Message-ID)", inflight, dups)
}

// TestSIGTERMFinishesInFlightWithinTheTimeout: a graceful stop in the
// middle of a campaign to a slow server ends within
// UTSKICK_SHUTDOWN_TIMEOUT, and after a restart nobody gets the campaign
// twice (nothing was cut off mid-message).
func TestSIGTERMFinishesInFlightWithinTheTimeout(t *testing.T) {
	sk := startSink(t, "-delay", "20ms")
	svc := newService(t, storetest.SQLiteDSN(t), "smtp://"+sk.addr+"?tls=none", map[string]string{"UTSKICK_SHUTDOWN_TIMEOUT": "5s"})
	id, addrs := svc.seed(600)
	p := svc.start()
	svc.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
	waitUntil(t, "some mail", 30*time.Second, func() bool { return sk.count() >= 100 })
	took := p.term(10 * time.Second)
	if took > 5*time.Second {
		t.Fatalf("shutdown took %s, over UTSKICK_SHUTDOWN_TIMEOUT=5s", took)
	}
	st := svc.openStore()
	if n := inFlight(t, st, id); n != 0 {
		t.Fatalf("%d deliveries left sending after a graceful stop", n)
	}
	svc.start()
	waitUntil(t, "campaign sent", 60*time.Second, func() bool { return svc.stats(id).Status == store.CampaignSent })
	checkDelivered(t, sk.messages(t), addrs, 0)
	t.Logf("SIGTERM to exit: %s", took)
}

// TestTwoWorkersShareACampaign: two worker processes on Postgres and one
// Redis send one campaign together; nobody gets it twice and both worked.
func TestTwoWorkersShareACampaign(t *testing.T) {
	pg, redisAddr := os.Getenv(storetest.EnvPostgres), os.Getenv("UTSKICK_TEST_REDIS")
	if pg == "" || redisAddr == "" {
		t.Skip("needs UTSKICK_TEST_POSTGRES and UTSKICK_TEST_REDIS")
	}
	sk := startSink(t)
	svc := newService(t, storetest.PostgresDSN(t), "smtp://"+sk.addr+"?tls=none", map[string]string{
		"UTSKICK_REDIS_URL":        fmt.Sprintf("redis://%s/%d", redisAddr, 2+time.Now().UnixNano()%10),
		"UTSKICK_SMTP_CONNECTIONS": "3", "UTSKICK_WORKER_SLOTS": "8",
	})
	id, addrs := svc.seed(3000)
	svc.start("serve")
	w1, w2 := svc.start("work"), svc.start("work")
	svc.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
	waitUntil(t, "campaign sent", 120*time.Second, func() bool { return svc.stats(id).Status == store.CampaignSent })
	checkDelivered(t, sk.messages(t), addrs, 0)
	w1.term(10 * time.Second)
	w2.term(10 * time.Second)
	s1, s2 := sentBy(t, w1), sentBy(t, w2)
	if s1+s2 != 3000 || s1 == 0 || s2 == 0 {
		t.Fatalf("workers sent %d and %d", s1, s2)
	}
	t.Logf("worker 1 sent %d, worker 2 sent %d", s1, s2)
}

// sentBy reads the sent count from a worker's "worker stopped" log line.
func sentBy(t *testing.T, p *proc) int {
	for _, line := range strings.Split(p.out.String(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Sent int    `json:"sent"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "worker stopped" {
			return rec.Sent
		}
	}
	t.Fatalf("no \"worker stopped\" line in the log of %s", p.name)
	return 0
}

// TestFreshDatabaseOnAUsedRedis: a new database (restored, recreated, or
// another installation) with a Redis that still holds the tasks of an
// earlier one. Their campaign ids and task ids are the same; the second
// campaign must still be sent.
func TestFreshDatabaseOnAUsedRedis(t *testing.T) {
	redisAddr := os.Getenv("UTSKICK_TEST_REDIS")
	if redisAddr == "" {
		t.Skip("needs UTSKICK_TEST_REDIS")
	}
	sk := startSink(t)
	redisURL := fmt.Sprintf("redis://%s/%d", redisAddr, 2+time.Now().UnixNano()%10)
	for round := 1; round <= 2; round++ {
		svc := newService(t, storetest.SQLiteDSN(t), "smtp://"+sk.addr+"?tls=none", map[string]string{"UTSKICK_REDIS_URL": redisURL})
		id, _ := svc.seed(20)
		p := svc.start()
		svc.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), "", nil)
		waitUntil(t, fmt.Sprintf("campaign %d of database %d sent", id, round), 30*time.Second,
			func() bool { return svc.stats(id).Status == store.CampaignSent })
		p.term(10 * time.Second)
	}
}
