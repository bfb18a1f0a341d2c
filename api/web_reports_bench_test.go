package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// BenchmarkCampaignReportPage times GET /admin/campaigns/{id}/report — the
// stats, the first page of the delivery log, the charts and the template —
// on each of storetest.Backends (Postgres when UTSKICK_TEST_POSTGRES is
// set) with UTSKICK_BENCH_DELIVERIES deliveries (100,000 by default;
// docs/reports.md quotes 1,000,000, where the budget is 100 ms):
//
//	UTSKICK_BENCH_DELIVERIES=1000000 go test -run '^$' -bench CampaignReportPage ./api
func BenchmarkCampaignReportPage(b *testing.B) {
	n := 100_000
	if v := os.Getenv("UTSKICK_BENCH_DELIVERIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("UTSKICK_BENCH_DELIVERIES=%q: want a number ≥ 1000", v)
		}
	}
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) { benchReportPage(b, be.Name, be.DSN(b), n) })
	}
}

func benchReportPage(b *testing.B, engine, dsn string, n int) {
	st := storetest.OpenDSN(b, dsn, storetest.Options{})
	campaignID := seedReportBench(b, st, engine, dsn, n)
	tmpl, err := mailtemplates.New()
	if err != nil {
		b.Fatal(err)
	}
	srv, err := api.New(api.Deps{Store: st, Templates: tmpl, Site: api.Site{BaseURL: webBase, Org: "Förbundet"}})
	if err != nil {
		b.Fatal(err)
	}
	cookie := benchSession(b, st)
	// Where a page's time goes, once, for the log.
	for range 3 {
		t0 := time.Now()
		if _, err := st.CampaignStats(context.Background(), campaignID); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, _, err := st.Deliveries(context.Background(), store.DeliveryQuery{CampaignID: campaignID, Limit: 50}); err != nil {
			b.Fatal(err)
		}
		b.Logf("CampaignStats %s, first log page %s", t1.Sub(t0).Round(time.Microsecond), time.Since(t1).Round(time.Microsecond))
	}
	for _, q := range []struct{ name, query string }{
		{"report", ""},
		{"bounced", "?status=bounced"},
		{"search", "?q=r4242"},
		{"late_page", fmt.Sprintf("?after=%d", n-100)},
	} {
		b.Run(q.name, func(b *testing.B) {
			path := fmt.Sprintf("/admin/campaigns/%d/report%s", campaignID, q.query)
			var took []time.Duration
			cpu0 := cpuTime()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				t0 := time.Now()
				srv.ServeHTTP(rec, req)
				took = append(took, time.Since(t0))
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="chart-sends-svg"`) {
					b.Fatalf("%s: %d\n%.500s", path, rec.Code, rec.Body)
				}
			}
			// On a shared machine the wall time waits for the cores; the
			// process's CPU time per page (Go and SQLite, one process) is
			// the steadier figure, and the median the fairer wall time.
			cpu := (cpuTime() - cpu0) / time.Duration(len(took))
			b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu-ms/op")
			slices.Sort(took)
			median := took[len(took)/2]
			b.ReportMetric(float64(median.Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "worst-ms")
			// The budget is judged on CPU time: wall time on a machine
			// shared with other builds measures the queue for the cores.
			// The budget is the issue's, for SQLite; on Postgres the
			// queries run in the server's processes, which this process's
			// CPU time does not see, so the median wall time is only
			// reported (docs/reports.md).
			if engine == "sqlite" && n >= 1_000_000 && cpu > 100*time.Millisecond {
				b.Errorf("%s CPU per page at %d deliveries (median wall %s); the budget is 100 ms", cpu, n, median)
			}
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSession makes a viewer with a session and returns its cookie.
func benchSession(b *testing.B, st *store.Store) *http.Cookie {
	ctx := context.Background()
	u := &store.User{Email: "bench@example.se", Name: "bench", Role: store.RoleViewer}
	if err := st.CreateUser(ctx, u, store.Actor{Source: "test"}); err != nil {
		b.Fatal(err)
	}
	secret, _, err := st.CreateUserToken(ctx, u.ID, store.PurposeInvite)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.UseUserToken(ctx, secret, store.SetPassword{Password: "long enough password 1"}, store.Actor{Source: "test"}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	sec, _, err := st.CreateSession(ctx, store.NewSession{UserID: u.ID, Now: now, ExpiresAt: now.Add(24 * time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	return &http.Cookie{Name: "utskick_session", Value: sec}
}

// seedReportBench fills a tracked list and a campaign with n subscribers
// and deliveries in set-based statements on a second connection to the
// same database (the triggers keep the counters as they go), then a
// month of hourly event counters over 20 links, as the tracking path
// leaves them.
func seedReportBench(b *testing.B, st *store.Store, engine, dsn string, n int) int64 {
	ctx := context.Background()
	l := &store.List{Slug: "big", Name: "Big", Language: "sv", Optin: store.OptinSingle, Visibility: store.VisibilityPrivate,
		TrackOpens: true, TrackClicks: true}
	if err := st.CreateList(ctx, l); err != nil {
		b.Fatal(err)
	}
	c := &store.Campaign{Name: "Nyhetsbrev november", Subject: "November", Body: "b", ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, c); err != nil {
		b.Fatal(err)
	}
	var db *gorm.DB
	var err error
	if engine == "postgres" {
		db, err = gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	} else {
		db, err = gorm.Open(sqlite.Open(strings.TrimPrefix(dsn, "sqlite:")+"?_busy_timeout=10000"), &gorm.Config{Logger: logger.Discard})
	}
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if sdb, err := db.DB(); err == nil {
			sdb.Close()
		}
	}()
	start := time.Now()
	now := time.Date(2026, 11, 3, 7, 0, 0, 0, time.UTC)
	seq := fmt.Sprintf("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) SELECT i FROM g", n)
	if engine == "postgres" {
		seq = fmt.Sprintf("SELECT i FROM generate_series(1, %d) AS g(i)", n)
	}
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO subscribers (email, name, language, attributes, email_hash, created_at, updated_at)
			SELECT 'r' || i || '@example.org', '', 'sv', '{}', 'h' || i, ?, ? FROM (` + seq + `) g`, []any{now, now}},
		{`INSERT INTO subscriptions (subscriber_id, list_id, status, consent_basis, created_at, updated_at)
			SELECT id, ?, 'confirmed', 'import', ?, ? FROM subscribers`, []any{l.ID, now, now}},
		{`INSERT INTO deliveries (campaign_id, subscriber_id, status, failure_class, attempts, smtp_code, smtp_message, message_id, created_at, updated_at, sent_at)
			SELECT ?, id,
				CASE WHEN id % 100 = 0 THEN 'bounced' WHEN id % 50 = 1 THEN 'failed' WHEN id % 97 = 0 THEN 'suppressed' ELSE 'sent' END,
				CASE WHEN id % 50 = 1 THEN 'permanent' ELSE '' END, 1, 250, '2.0.0 Ok: queued', 'd' || id || '@example.se', ?, ?, ?
			FROM subscribers`, []any{c.ID, now, now, now.Add(time.Hour)}},
		{`UPDATE campaigns SET status = 'sent', started_at = ?, finished_at = ? WHERE id = ?`, []any{now, now.Add(2 * time.Hour), c.ID}},
	} {
		if err := db.Exec(s.sql, s.args...).Error; err != nil {
			b.Fatal(err)
		}
	}
	var rows [][]any
	for h := range 30 * 24 {
		bucket := now.Add(time.Duration(h)*time.Hour).Unix() / 3600 * 3600
		sent := int64(0)
		if h < 2 {
			sent = int64(n / 2)
		}
		for m, v := range map[string]int64{"sent": sent, "opens": int64(n/1000 + h%7), "opens.human": int64(n/2000 + h%5),
			"clicks": int64(n/5000 + h%3), "clicks.human": int64(n/8000 + h%2), "unsubscribes": int64(h % 3)} {
			rows = append(rows, []any{"c", c.ID, m, -1, bucket, v})
		}
	}
	for link := range 20 {
		for _, m := range []string{"link.clicks", "link.human", "link.human_unique"} {
			rows = append(rows, []any{"c", c.ID, m, link, 0, int64(n / 50)})
		}
		rows = append(rows, []any{"lnk", c.ID, fmt.Sprintf("https://example.se/nyheter/%d", link), link, 0, 0})
	}
	for _, m := range []string{"opens.machine", "opens.unique", "opens.human_unique", "clicks.machine", "clicks.unique", "clicks.human_unique"} {
		rows = append(rows, []any{"c", c.ID, m, -1, 0, int64(n / 10)})
	}
	err = db.Transaction(func(tx *gorm.DB) error {
		for _, r := range rows {
			q := "INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, scope_id, metric, link, bucket) DO UPDATE SET n = excluded.n"
			if r[0] == "lnk" {
				q, r = "INSERT INTO campaign_links (campaign_id, idx, url) VALUES (?, ?, ?)", []any{r[1], r[3], r[2]}
			}
			if err := tx.Exec(q, r...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	db.Exec("ANALYZE")
	if engine == "sqlite" {
		// As a server that has run a while would have it: the bulk insert
		// folded from the WAL into the database file.
		db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	b.Logf("%s: seeded %d subscribers and deliveries in %s", engine, n, time.Since(start).Round(time.Millisecond))
	return c.ID
}
