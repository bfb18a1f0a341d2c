package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// benchDeliveries is the campaign size of BenchmarkStats: 100,000 by
// default so CI stays quick; UTSKICK_BENCH_DELIVERIES=1000000 for the
// figure docs/reports.md quotes.
func benchDeliveries(b *testing.B) int {
	if v := os.Getenv("UTSKICK_BENCH_DELIVERIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("UTSKICK_BENCH_DELIVERIES=%q: want a number ≥ 1000", v)
		}
		return n
	}
	return 100_000
}

// seedBig fills a list and a campaign with n subscribers and deliveries in
// a few set-based statements (the triggers keep the counters as they go),
// plus a month of hourly event counters over 20 links, 20% opens and 0.5%
// unsubscribes as events.
func seedBig(b testing.TB, s *store.Store, n int) (listID, campaignID int64) {
	ctx := context.Background()
	l := &store.List{Slug: "big", Name: "Big", Language: "sv", Optin: store.OptinSingle, Visibility: store.VisibilityPrivate}
	if err := s.CreateList(ctx, l); err != nil {
		b.Fatal(err)
	}
	c := &store.Campaign{Name: "big", Subject: "s", Body: "b", ListIDs: []int64{l.ID}}
	if err := s.CreateCampaign(ctx, c); err != nil {
		b.Fatal(err)
	}
	db := store.DBForTest(s)
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	seq := fmt.Sprintf("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) SELECT i FROM g", n)
	if s.Dialect() == store.DialectPostgres {
		seq = fmt.Sprintf("SELECT i FROM generate_series(1, %d) AS g(i)", n)
	}
	start := time.Now()
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO subscribers (email, name, language, attributes, email_hash, created_at, updated_at)
			SELECT 'r' || i || '@example.org', '', 'sv', '{}', 'h' || i, ?, ? FROM (` + seq + `) g`, []any{now, now}},
		{`INSERT INTO subscriptions (subscriber_id, list_id, status, consent_basis, created_at, updated_at)
			SELECT id, ?, CASE WHEN id % 50 = 0 THEN 'unsubscribed' ELSE 'confirmed' END, 'import', ?, ? FROM subscribers`, []any{l.ID, now, now}},
		{`INSERT INTO deliveries (campaign_id, subscriber_id, status, failure_class, attempts, message_id, created_at, updated_at, sent_at)
			SELECT ?, id,
				CASE WHEN id % 100 = 0 THEN 'bounced' WHEN id % 50 = 1 THEN 'failed' WHEN id % 97 = 0 THEN 'suppressed' ELSE 'sent' END,
				CASE WHEN id % 50 = 1 THEN 'permanent' ELSE '' END, 1, 'd' || id || '@example.se', ?, ?, ?
			FROM subscribers`, []any{c.ID, now, now, now.Add(time.Hour)}},
		{`INSERT INTO events (kind, subscriber_id, campaign_id, delivery_id, source, data, created_at)
			SELECT 'opened', subscriber_id, campaign_id, id, 'tracking', '{"machine":false}', ? FROM deliveries WHERE id % 5 = 0`, []any{now.Add(2 * time.Hour)}},
		{`INSERT INTO events (kind, subscriber_id, list_id, campaign_id, source, data, created_at)
			SELECT 'unsubscribed', subscriber_id, ?, campaign_id, 'one-click', '{}', ? FROM deliveries WHERE id % 200 = 3`, []any{l.ID, now.Add(3 * time.Hour)}},
	}
	for _, st := range stmts {
		if err := db.Exec(st.sql, st.args...).Error; err != nil {
			b.Fatal(err)
		}
	}
	// Event counters as the tracking path leaves them: 30 days of hours.
	var rows [][]any
	for h := range 30 * 24 {
		bucket := now.Add(time.Duration(h)*time.Hour).Unix() / 3600 * 3600
		for _, m := range []string{"opens", "opens.human", "clicks", "clicks.human", "unsubscribes", "bounces.hard", "bounces.soft", "complaints"} {
			rows = append(rows, []any{"c", c.ID, m, -1, bucket, int64(n/1000 + h%7)})
		}
		for _, m := range []string{"subscribed", "confirmed", "unsubscribed", "bounced"} {
			if h%24 == 0 {
				rows = append(rows, []any{"l", l.ID, m, -1, bucket, int64(n / 100)})
			}
		}
	}
	for link := range 20 {
		for _, m := range []string{"link.clicks", "link.human", "link.human_unique"} {
			rows = append(rows, []any{"c", c.ID, m, link, 0, int64(n / 50)})
		}
	}
	for _, m := range []string{"opens.machine", "opens.unique", "opens.human_unique", "clicks.machine", "clicks.unique", "clicks.human_unique"} {
		rows = append(rows, []any{"c", c.ID, m, -1, 0, int64(n / 10)})
	}
	for len(rows) > 0 {
		k := min(len(rows), 500)
		sql := "INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n) VALUES "
		var args []any
		for i, r := range rows[:k] {
			if i > 0 {
				sql += ","
			}
			sql += "(?, ?, ?, ?, ?, ?)"
			args = append(args, r...)
		}
		if err := db.Exec(sql, args...).Error; err != nil {
			b.Fatal(err)
		}
		rows = rows[k:]
	}
	if s.Dialect() == store.DialectPostgres {
		db.Exec("ANALYZE")
	} else {
		db.Exec("ANALYZE")
	}
	b.Logf("%s: seeded %d subscribers and deliveries in %s", s.Dialect(), n, time.Since(start).Round(time.Millisecond))
	return l.ID, c.ID
}

// BenchmarkStats times the campaign and list reports on a campaign of
// benchDeliveries deliveries, on SQLite and (with UTSKICK_TEST_POSTGRES)
// Postgres. At a million deliveries each report must take under 50 ms.
func BenchmarkStats(b *testing.B) {
	n := benchDeliveries(b)
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			s := storetest.OpenDSN(b, be.DSN(b), storetest.Options{})
			listID, campaignID := seedBig(b, s, n)
			ctx := context.Background()
			check := func(b *testing.B) {
				if n >= 1_000_000 && b.Elapsed()/time.Duration(b.N) > 50*time.Millisecond {
					b.Errorf("%s per report at %d deliveries; the budget is 50ms", b.Elapsed()/time.Duration(b.N), n)
				}
			}
			b.Run("campaign", func(b *testing.B) {
				for b.Loop() {
					st, err := s.CampaignStats(ctx, campaignID)
					if err != nil {
						b.Fatal(err)
					}
					if st.Recipients != int64(n) || len(st.Links) != 20 || len(st.Timeline) != 30*24 {
						b.Fatalf("report of %d recipients, %d links, %d hours", st.Recipients, len(st.Links), len(st.Timeline))
					}
				}
				check(b)
			})
			b.Run("list", func(b *testing.B) {
				for b.Loop() {
					st, err := s.ListStats(ctx, listID, 90)
					if err != nil {
						b.Fatal(err)
					}
					if st.Size.Confirmed+st.Size.Unsubscribed != int64(n) {
						b.Fatalf("list size %+v", st.Size)
					}
				}
				check(b)
			})
			b.Run("guardrail", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.CheckGuardrail(ctx, campaignID, store.Guardrail{MinSample: 1, MaxFailureRate: 0.5}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkSendPathWrites measures what the counter triggers add to the
// send path: claim a batch of 100 deliveries and record their outcomes,
// with the triggers and with them dropped. Reported per message.
func BenchmarkSendPathWrites(b *testing.B) {
	for _, be := range storetest.Backends {
		for _, triggers := range []bool{true, false} {
			name := be.Name + "/counters"
			if !triggers {
				name = be.Name + "/no_counters"
			}
			b.Run(name, func(b *testing.B) {
				s := storetest.OpenDSN(b, be.DSN(b), storetest.Options{})
				ctx := context.Background()
				db := store.DBForTest(s)
				if !triggers {
					for _, t := range []string{"trg_delivery_counts_ins", "trg_delivery_counts_upd", "trg_delivery_counts_sent", "trg_delivery_counts_del"} {
						q := "DROP TRIGGER IF EXISTS " + t
						if s.Dialect() == store.DialectPostgres {
							q += " ON deliveries"
						}
						if err := db.Exec(q).Error; err != nil {
							b.Fatal(err)
						}
					}
				}
				listID, campaignID := seedBig(b, s, 20_000)
				_ = listID
				if err := db.Exec("UPDATE deliveries SET status = 'pending', failure_class = '', sent_at = NULL").Error; err != nil {
					b.Fatal(err)
				}
				db.Exec("UPDATE campaigns SET status = 'sending'")
				msgs := 0
				for b.Loop() {
					res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: campaignID, Limit: 100,
						Token: fmt.Sprint("b", msgs), Lease: time.Minute})
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Recipients) == 0 {
						// Start over: everything back to pending.
						b.StopTimer()
						db.Exec("UPDATE deliveries SET status = 'pending', failure_class = '', sent_at = NULL")
						b.StartTimer()
						continue
					}
					outs := make([]store.Outcome, len(res.Recipients))
					for i, r := range res.Recipients {
						outs[i] = store.Outcome{DeliveryID: r.DeliveryID, Status: store.DeliverySent, SMTPCode: 250, SMTPMessage: "ok", At: time.Now()}
					}
					if err := s.RecordOutcomes(ctx, outs); err != nil {
						b.Fatal(err)
					}
					msgs += len(outs)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(msgs, 1)), "ns/msg")
			})
		}
	}
}
