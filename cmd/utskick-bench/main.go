// Command utskick-bench measures utskick's campaign send rate against the
// loopback SMTP limit, in one run on one machine:
//
//  1. it builds ../shared/tools/smtpsink and smtpblast and starts the sink;
//  2. it seeds a fresh store with N confirmed subscribers and a campaign
//     made from a seed issue (about 30 KB per message);
//  3. smtpblast pushes pre-built messages of the same size over the same
//     number of connections to the same sink: the yardstick;
//  4. `utskick all` (a child process, so its CPU and memory are its own)
//     sends the campaign to the sink; the rate is taken from the
//     campaign's started_at and finished_at;
//  5. smtpblast runs again, and utskick's rate is printed as a ratio of
//     the mean of the two yardstick runs.
//
// Run it from the repository root:
//
//	go run ./cmd/utskick-bench -n 100000
//	go run ./cmd/utskick-bench -n 100000 -database-url postgres://postgres@127.0.0.1:5432/test -redis-url redis://127.0.0.1:6379/0
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

const benchSecret = "utskick-bench secret key: 32 bytes or more, fixed"

type options struct {
	n           int
	conns       int
	databaseURL string
	redisURL    string
	seed        string
	tools       string
	blastN      int
	extraEnv    string
	keep        bool
	capture     bool
	dkim        string
	burst       bool
	smtp        string
	rtt         time.Duration
	// load, when set, starts client load once the campaign's send call
	// is answered, and returns what stops it.
	load func(base string) func()
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 100000, "subscribers (messages) in the campaign")
	flag.IntVar(&o.conns, "conns", 8, "SMTP connections, for utskick (UTSKICK_SMTP_CONNECTIONS) and smtpblast alike")
	flag.StringVar(&o.databaseURL, "database-url", "", "Postgres URL (a fresh schema is made in it); empty: a SQLite file (embedded defaults)")
	flag.StringVar(&o.redisURL, "redis-url", "", "Redis URL; empty: utskick's embedded Redis")
	flag.StringVar(&o.seed, "seed", "", "seed issue to send (default ../shared/seeds/003_*.txt)")
	flag.StringVar(&o.tools, "tools", "../shared/tools", "folder holding smtpsink and smtpblast")
	flag.IntVar(&o.blastN, "blast-n", 0, "messages per smtpblast run (default min(n, 30000))")
	flag.StringVar(&o.extraEnv, "env", "", "extra UTSKICK_* settings for the utskick process, comma-separated K=V")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder")
	flag.BoolVar(&o.capture, "capture", false, "send to utskick's embedded SMTP capture (.eml files), as with no settings at all; no yardstick")
	flag.StringVar(&o.dkim, "dkim", "", "sign every message: rsa (RSA-2048), ed25519, or both (dual signing); a sample is then verified with dkimpy, Debian's dkimverify")
	flag.BoolVar(&o.burst, "burst", false, "then send a second campaign of n while 50 clients post one-click unsubscribes and 50 follow tracked links; report the rate against the unloaded one")
	flag.StringVar(&o.smtp, "smtp", "data", "how utskick hands over messages: data (DATA, as smtpblast does: the like-for-like ratio) or bdat (its default with a server that offers CHUNKING)")
	flag.DurationVar(&o.rtt, "rtt", 0, "put this round trip time between the senders (utskick and smtpblast alike) and the sink, through a delaying proxy")
	flag.Parse()
	if o.smtp != "data" && o.smtp != "bdat" {
		log.Fatalf("-smtp %q: want data or bdat", o.smtp)
	}
	switch o.dkim {
	case "", "rsa", "ed25519", "both":
	default:
		log.Fatalf("-dkim %q: want rsa, ed25519 or both", o.dkim)
	}
	log.SetFlags(0)
	log.SetPrefix("utskick-bench: ")
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "utskick-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	} else {
		log.Printf("keeping %s", tmp)
	}
	if o.seed == "" {
		m, _ := filepath.Glob("../shared/seeds/003_*.txt")
		if len(m) == 0 {
			return errors.New("no seed issue found; pass -seed")
		}
		o.seed = m[0]
	}
	if o.blastN == 0 {
		o.blastN = min(o.n, 30000)
	}

	log.Printf("building utskick, smtpsink and smtpblast")
	bin := func(name, dir, pkg string) (string, error) {
		out := filepath.Join(tmp, name)
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir, cmd.Stderr = dir, os.Stderr
		return out, cmd.Run()
	}
	utskick, err := bin("utskick", ".", "./cmd/utskick")
	if err != nil {
		return fmt.Errorf("build utskick: %w", err)
	}
	sinkBin, err := bin("smtpsink", filepath.Join(o.tools, "smtpsink"), ".")
	if err != nil {
		return fmt.Errorf("build smtpsink: %w", err)
	}
	blastBin, err := bin("smtpblast", filepath.Join(o.tools, "smtpblast"), ".")
	if err != nil {
		return fmt.Errorf("build smtpblast: %w", err)
	}

	sinkAddr := freeAddr()
	sink := exec.Command(sinkBin, "-addr", sinkAddr)
	sink.Stderr = io.Discard
	var sinkOut bytes.Buffer
	sink.Stdout = &sinkOut
	if err := sink.Start(); err != nil {
		return fmt.Errorf("start smtpsink: %w", err)
	}
	defer func() { sink.Process.Signal(syscall.SIGTERM); sink.Wait() }()
	waitTCP(sinkAddr)
	if o.rtt > 0 {
		p, err := startDelayProxy(sinkAddr, o.rtt)
		if err != nil {
			return err
		}
		defer p.Close()
		sinkAddr = p.Addr()
	}

	// The store, seeded directly (the API is not what is measured).
	dsn, cleanup, err := freshDatabase(o.databaseURL, tmp)
	if err != nil {
		return err
	}
	defer cleanup()
	st, err := store.Open(ctx, store.Options{DSN: dsn, AddressKey: store.DeriveAddressKey([]byte(benchSecret))})
	if err != nil {
		return err
	}
	t0 := time.Now()
	campID, sampleID, eml, err := seedStore(ctx, st, o)
	st.Close()
	if err != nil {
		return err
	}
	var burst *burstSeed
	if o.burst {
		st, err := store.Open(ctx, store.Options{DSN: dsn, AddressKey: store.DeriveAddressKey([]byte(benchSecret))})
		if err != nil {
			return err
		}
		body, err := seedMarkdown(o.seed)
		if err == nil {
			burst, err = seedBurst(ctx, st, o, body, int64(o.n+sampleSize+1))
		}
		st.Close()
		if err != nil {
			return err
		}
	}
	log.Printf("seeded %d subscribers in %s; one message is %d bytes", o.n, time.Since(t0).Round(time.Millisecond), len(eml))
	emlPath := filepath.Join(tmp, "issue.eml")
	if err := os.WriteFile(emlPath, eml, 0o644); err != nil {
		return err
	}

	blast := func() (blastResult, error) {
		var r blastResult
		out, err := exec.Command(blastBin, "-addr", sinkAddr, "-n", strconv.Itoa(o.blastN), "-conns", strconv.Itoa(o.conns), "-eml", emlPath).Output()
		if err != nil {
			return r, fmt.Errorf("smtpblast: %w", err)
		}
		return r, json.Unmarshal(out, &r)
	}
	if o.capture {
		res, err := sendCampaign(ctx, o, utskick, tmp, dsn, "", campID, o.n)
		if err != nil {
			return err
		}
		fmt.Printf("\nutskick-bench: embedded defaults, mail to the embedded capture (one .eml file each)\n")
		fmt.Printf("  recipients                 %d (%d bytes per message)\n", o.n, len(eml))
		fmt.Printf("  utskick                    %.0f msgs/s (%d sent in %.2fs)\n", res.rate, res.sent, res.seconds)
		fmt.Printf("  CPU per 1,000 messages     %.3f s (utskick process, whole run)\n", res.cpu/float64(res.sent)*1000)
		fmt.Printf("  peak RSS                   %.1f MB\n", float64(res.maxRSSKB)/1024)
		return nil
	}
	// With -smtp bdat the BDAT yardstick runs beside smtpblast, before
	// and after, for a like-for-like ratio.
	var c1, c2 blastResult
	bdatYardstick := func(dst *blastResult) error {
		if o.smtp != "bdat" {
			return nil
		}
		var err error
		*dst, err = bdatBlast(sinkAddr, eml, o.blastN, o.conns)
		return err
	}
	log.Printf("smtpblast: %d messages over %d connections", o.blastN, o.conns)
	b1, err := blast()
	if err != nil {
		return err
	}
	if err := bdatYardstick(&c1); err != nil {
		return err
	}

	dkimEnv, err := dkimSettings(o.dkim)
	if err != nil {
		return err
	}
	o.extraEnv = strings.Join(append([]string{o.extraEnv, "UTSKICK_SMTP_CHUNKING=" + strconv.FormatBool(o.smtp == "bdat")}, dkimEnv...), ",")
	res, err := sendCampaign(ctx, o, utskick, tmp, dsn, sinkAddr, campID, o.n)
	if err != nil {
		return err
	}
	b2, err := blast()
	if err != nil {
		return err
	}
	if err := bdatYardstick(&c2); err != nil {
		return err
	}
	var burstDesc string
	var burstRes *sendResult
	var burstProblems []string
	if burst != nil {
		var load *burstLoad
		ob := o
		ob.extraEnv = profileSuffix(o.extraEnv, ".burst")
		// The clicking clients follow the send through it, and the report
		// reads what the burst left.
		watch, err := store.Open(ctx, store.Options{DSN: dsn, AddressKey: store.DeriveAddressKey([]byte(benchSecret))})
		if err != nil {
			return err
		}
		defer watch.Close()
		ob.load = func(base string) func() {
			var stop func()
			load, stop = startBurst(ctx, watch, burst, base)
			return stop
		}
		log.Printf("burst: %d unsubscribing and %d clicking clients while the second campaign sends", burstClients, burstClients)
		if burstRes, err = sendCampaign(ctx, ob, utskick, tmp, dsn, sinkAddr, burst.campID, o.n); err != nil {
			return err
		}
		burstDesc, burstProblems, err = burstReport(ctx, watch, burst, load)
		if err != nil {
			return err
		}
	}
	verified := "unsigned"
	if o.dkim != "" {
		if verified, err = verifySample(ctx, o, utskick, sinkBin, tmp, dsn, sampleID); err != nil {
			return err
		}
	}
	blastRate := (b1.MsgsPerS + b2.MsgsPerS) / 2
	mode := "embedded defaults (SQLite file, in-process Redis)"
	if o.databaseURL != "" || o.redisURL != "" {
		mode = fmt.Sprintf("database %s, redis %s", kind(o.databaseURL, "SQLite"), kind(o.redisURL, "embedded"))
	}
	fmt.Printf("\nutskick-bench: %s\n", mode)
	fmt.Printf("  recipients                 %d (%d bytes per message, %d SMTP connections)\n", o.n, len(eml), o.conns)
	fmt.Printf("  utskick speaks             %s%s\n", map[string]string{"data": "DATA, as smtpblast does", "bdat": "BDAT (CHUNKING); smtpblast speaks DATA"}[o.smtp],
		map[bool]string{true: fmt.Sprintf(", %s round trip to the sink", o.rtt), false: ""}[o.rtt > 0])
	fmt.Printf("  smtpblast (before, after)  %.0f, %.0f msgs/s\n", b1.MsgsPerS, b2.MsgsPerS)
	fmt.Printf("  utskick                    %.0f msgs/s (%d sent in %.2fs)\n", res.rate, res.sent, res.seconds)
	fmt.Printf("  ratio to smtpblast         %.2f\n", res.rate/blastRate)
	bdatRate := (c1.MsgsPerS + c2.MsgsPerS) / 2
	if o.smtp == "bdat" {
		fmt.Printf("  BDAT yardstick             %.0f, %.0f msgs/s; ratio to it %.2f\n", c1.MsgsPerS, c2.MsgsPerS, res.rate/bdatRate)
	}
	fmt.Printf("  from the send call         %.0f msgs/s (%.2fs), %.2f of smtpblast\n", float64(res.sent)/res.fromCall, res.fromCall, float64(res.sent)/res.fromCall/blastRate)
	fmt.Printf("  CPU per 1,000 messages     %.3f s (utskick process, whole run)\n", res.cpu/float64(res.sent)*1000)
	if o.databaseURL != "" {
		fmt.Printf("  Postgres CPU per 1,000     %.3f s (the backends serving utskick, from the send call to sent)\n", res.pgCPU/float64(res.sent)*1000)
	}
	fmt.Printf("  peak RSS                   %.1f MB\n", float64(res.maxRSSKB)/1024)
	fmt.Printf("  SIGTERM to exit            %s\n", res.shutdown.Round(time.Millisecond))
	fmt.Printf("  DKIM                       %s\n", verified)
	engine := rsaEngine(o)
	if engine != "" {
		fmt.Printf("  RSA signed by              %s\n", engine)
	}
	if burstRes != nil {
		fmt.Printf("  under the burst            %.0f msgs/s (%d sent in %.2fs), %.2f of the unloaded rate\n", burstRes.rate, burstRes.sent, burstRes.seconds, burstRes.rate/res.rate)
		fmt.Printf("  burst                      %s\n", burstDesc)
	}
	summary, _ := json.Marshal(map[string]any{
		"mode": mode, "recipients": o.n, "message_bytes": len(eml), "conns": o.conns,
		"blast_msgs_per_s": []float64{b1.MsgsPerS, b2.MsgsPerS}, "utskick_msgs_per_s": round(res.rate),
		"ratio": round(res.rate / blastRate), "ratio_from_call": round(float64(res.sent) / res.fromCall / blastRate), "cpu_s_per_1000": round(res.cpu / float64(res.sent) * 1000),
		"peak_rss_mb": round(float64(res.maxRSSKB) / 1024), "pg_cpu_s_per_1000": round(res.pgCPU / float64(res.sent) * 1000), "shutdown_s": round(res.shutdown.Seconds()),
		"sink": strings.TrimSpace(sinkOut.String()), "dkim": o.dkim, "dkim_sample": verified, "rsa_engine": engine, "smtp": o.smtp, "rtt_ms": o.rtt.Milliseconds(),
		"bdat_blast_msgs_per_s": []float64{round(c1.MsgsPerS), round(c2.MsgsPerS)}, "ratio_bdat": ratioOr0(res.rate, bdatRate),
		"burst": burstDesc, "burst_problems": burstProblems,
	})
	fmt.Println(string(summary))
	if burstRes != nil && burstRes.rate < res.rate/2 {
		burstProblems = append(burstProblems, fmt.Sprintf("the send kept %.2f of its unloaded rate, want at least 0.5", burstRes.rate/res.rate))
	}
	if len(burstProblems) > 0 {
		return fmt.Errorf("burst: %d problems, the first: %s", len(burstProblems), burstProblems[0])
	}
	return nil
}

// ratioOr0 is a/b, or 0 when there is no b (no BDAT yardstick ran).
func ratioOr0(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return round(a / b)
}

// profileSuffix gives a later utskick run of the same benchmark a CPU
// profile file of its own instead of overwriting the main run's.
func profileSuffix(extraEnv, suffix string) string {
	kvs := strings.Split(extraEnv, ",")
	for i, kv := range kvs {
		if v, ok := strings.CutPrefix(kv, "UTSKICK_CPU_PROFILE="); ok && v != "" {
			kvs[i] = "UTSKICK_CPU_PROFILE=" + v + suffix
		}
	}
	return strings.Join(kvs, ",")
}

func kind(url, def string) string {
	if url == "" {
		return def
	}
	if u, err := urlHost(url); err == nil {
		return u
	}
	return "external"
}

func urlHost(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	return u.Scheme + "://" + u.Host, nil
}

type blastResult struct {
	Messages int64   `json:"messages"`
	Seconds  float64 `json:"seconds"`
	MsgsPerS float64 `json:"msgs_per_s"`
	CPU      float64 `json:"cpu_s"`
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitTCP(addr string) {
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freshDatabase returns the DSN of an empty database: a SQLite file, or a
// new schema in the given Postgres database.
func freshDatabase(pg, tmp string) (string, func(), error) {
	if pg == "" {
		return "sqlite:" + filepath.Join(tmp, "bench.db"), func() {}, nil
	}
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	if out, err := exec.Command("psql", pg, "-qc", "CREATE SCHEMA "+schema).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("create schema: %v: %s", err, out)
	}
	u, err := url.Parse(pg)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	// Names utskick's connections, so that the Postgres backends serving
	// them (and only those) can be found and their CPU counted.
	q.Set("application_name", schema)
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String(), func() { exec.Command("psql", pg, "-qc", "DROP SCHEMA "+schema+" CASCADE").Run() }, nil
}

// seedStore makes a list of n confirmed subscribers and a draft campaign
// from the seed issue, and renders one message for smtpblast.
func seedStore(ctx context.Context, st *store.Store, o options) (campID, sampleID int64, eml []byte, err error) {
	l := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Language: "sv", Optin: store.OptinDouble, Visibility: store.VisibilityPublic}
	if err := st.CreateList(ctx, l); err != nil {
		return 0, 0, nil, err
	}
	const chunk = 5000
	for i := 0; i < o.n; i += chunk {
		subs := make([]store.Subscriber, 0, chunk)
		for j := i; j < min(i+chunk, o.n); j++ {
			subs = append(subs, store.Subscriber{Email: fmt.Sprintf("reader%07d@example.org", j),
				Name: fmt.Sprintf("Läsare %d", j), Language: "sv", Attributes: store.Attributes{"kommun": "Järfälla"}})
		}
		if err := st.InsertSubscribersBulk(ctx, subs, l.ID, "benchmark data"); err != nil {
			return 0, 0, nil, err
		}
	}
	body, err := seedMarkdown(o.seed)
	if err != nil {
		return 0, 0, nil, err
	}
	c := &store.Campaign{Name: "Benchmark issue", Subject: "Senaste nytt – {{ first_name }}, nyheter från förbundet",
		Preheader: "Månadens nyheter", Body: body, ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, c); err != nil {
		return 0, 0, nil, err
	}
	// A small list and a copy of the campaign for it: the DKIM sample,
	// sent after the measured run to a sink that keeps what it gets.
	sl := &store.List{Slug: "dkim-sample", Name: "Senaste nytt", Language: "sv", Optin: store.OptinDouble, Visibility: store.VisibilityPublic}
	if err := st.CreateList(ctx, sl); err != nil {
		return 0, 0, nil, err
	}
	var sample []store.Subscriber
	for j := range sampleSize {
		sample = append(sample, store.Subscriber{Email: fmt.Sprintf("sample%03d@example.org", j), Name: fmt.Sprintf("Läsare %d", j),
			Language: "sv", Attributes: store.Attributes{"kommun": "Järfälla"}})
	}
	if err := st.InsertSubscribersBulk(ctx, sample, sl.ID, "benchmark data"); err != nil {
		return 0, 0, nil, err
	}
	sc := &store.Campaign{Name: "DKIM sample", Subject: c.Subject, Preheader: c.Preheader, Body: body, ListIDs: []int64{sl.ID}}
	if err := st.CreateCampaign(ctx, sc); err != nil {
		return 0, 0, nil, err
	}
	tmpl, err := mailtemplates.New()
	if err != nil {
		return 0, 0, nil, err
	}
	sign, _ := links.NewSigner([]byte(benchSecret))
	cp := compose.New(compose.Config{BaseURL: "http://127.0.0.1:8080", From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.org"}}, tmpl, sign)
	comp, err := cp.Compose(ctx, st, c)
	if err != nil {
		return 0, 0, nil, err
	}
	var buf bytes.Buffer
	comp.Compiled.WriteMessage(&buf, cp.Recipient(c.ID, comp.From, store.Recipient{DeliveryID: 1, SubscriberID: 1,
		Email: "reader0000001@example.org", Name: "Läsare 1", Language: "sv"}, time.Now()), mailtemplates.WriteOptions{})
	return c.ID, sc.ID, buf.Bytes(), nil
}

// seedMarkdown turns a plain-text seed export into Markdown: short lines
// that introduce a section become headings, the rest paragraphs. It reads
// the seed at run time; none of its text is kept in the repository.
func seedMarkdown(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case len(line) < 70 && !strings.HasSuffix(line, "."):
			b.WriteString("## " + line + "\n\n")
		default:
			b.WriteString(line + "\n\n")
		}
	}
	b.WriteString("[Läs mer på webbplatsen](https://example.org/nyheter)\n")
	return b.String(), sc.Err()
}

type sendResult struct {
	sent     int64
	seconds  float64
	rate     float64
	cpu      float64
	maxRSSKB int64
	shutdown time.Duration
	pgCPU    float64 // seconds of CPU of the Postgres backends serving utskick; 0 on SQLite
	fromCall float64 // seconds from the send call (lint, dispatch and ramp-up included) to the last message
}

// sendCampaign runs `utskick all` against the store and the sink, sends
// the campaign through the API and waits until it is sent.
func sendCampaign(ctx context.Context, o options, utskick, tmp, dsn, sinkAddr string, campID int64, want int) (*sendResult, error) {
	httpAddr := freeAddr()
	token := "utk_benchbenchbenchbenchbench"
	env := append(os.Environ(),
		"UTSKICK_HTTP_ADDR="+httpAddr, "UTSKICK_DATA_DIR="+filepath.Join(tmp, "data"), "UTSKICK_DATABASE_URL="+dsn,
		"UTSKICK_SECRET="+benchSecret, "UTSKICK_ADMIN_TOKEN="+token,
		"UTSKICK_SMTP_CONNECTIONS="+strconv.Itoa(o.conns), "UTSKICK_LOG_LEVEL=warn",
		"UTSKICK_FROM=Förbundet <nyhetsbrev@example.org>")
	if o.redisURL != "" {
		env = append(env, "UTSKICK_REDIS_URL="+o.redisURL)
	}
	if sinkAddr != "" {
		env = append(env, "UTSKICK_SMTP_URL=smtp://"+sinkAddr+"?tls=none")
	}
	for _, kv := range strings.Split(o.extraEnv, ",") {
		if kv != "" {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(utskick, "all")
	cmd.Env = env
	logf, err := os.Create(filepath.Join(tmp, "utskick.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + httpAddr
	api := func(method, path string, out any) error {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
	for i := 0; ; i++ {
		if api("GET", "/api/v1/lists", nil) == nil {
			break
		}
		if i > 200 {
			return nil, fmt.Errorf("utskick did not start; see %s", logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Printf("utskick: sending the campaign to %d recipients", want)
	called := time.Now()
	if err := api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", campID), nil); err != nil {
		return nil, err
	}
	stopLoad := func() {}
	if o.load != nil {
		var once sync.Once
		stop := o.load(base)
		stopLoad = func() { once.Do(stop) }
	}
	defer stopLoad()
	var stats store.CampaignStats
	var peakRSS int64
	pg := newPGCPU(o.databaseURL, dsn)
	defer pg.close()
	for {
		time.Sleep(250 * time.Millisecond)
		pg.sample()
		if rss := rssKB(cmd.Process.Pid); rss > peakRSS {
			peakRSS = rss
		}
		if err := api("GET", fmt.Sprintf("/api/v1/campaigns/%d/stats", campID), &stats); err != nil {
			return nil, err
		}
		if stats.Status == store.CampaignSent {
			stopLoad()
			break
		}
		select {
		case <-exited:
			stopLoad()
			return nil, fmt.Errorf("utskick exited; see %s", logf.Name())
		default:
		}
	}
	if o.load != nil {
		// Those who unsubscribed before their message was claimed are
		// withdrawn, not sent.
		want = int(stats.Sent)
	}
	if stats.Sent != int64(want) || stats.Sent == 0 {
		return nil, fmt.Errorf("campaign sent with %d of %d delivered: %+v", stats.Sent, want, stats)
	}
	pg.sample()
	res := &sendResult{sent: stats.Sent, seconds: stats.FinishedAt.Sub(*stats.StartedAt).Seconds(), pgCPU: pg.seconds(),
		fromCall: stats.FinishedAt.Sub(called).Seconds()}
	res.rate = float64(res.sent) / res.seconds
	t := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	res.shutdown = time.Since(t)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		res.maxRSSKB = max(ru.Maxrss, peakRSS)
	}
	return res, nil
}

// rssKB reads a process's resident set size from /proc.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(f)[0], 10, 64)
			return n
		}
	}
	return 0
}
