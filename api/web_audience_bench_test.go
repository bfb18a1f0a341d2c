package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// benchSubscribers is the audience of BenchmarkAudiencePages: 100,000
// by default so that a run stays short; UTSKICK_BENCH_SUBSCRIBERS=1000000
// for the figures docs/benchmarks.md quotes.
func benchSubscribers(b *testing.B) int {
	if v := os.Getenv("UTSKICK_BENCH_SUBSCRIBERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10000 {
			b.Fatalf("UTSKICK_BENCH_SUBSCRIBERS=%q: want a number ≥ 10000", v)
		}
		return n
	}
	return 100_000
}

// BenchmarkAudiencePages times the subscriber search page and a person's
// page through the whole app (routing, session, store, template), on a
// database of n subscribers built with set-based SQL: each on a list
// (every 40th unsubscribed), with two consent events and a delivery of
// one sent campaign. The searches are a surname (about a hundred
// matches), a full address, a domain shared by a 26th of everyone (the
// dense path), and the first page of a list's unsubscribed.
func BenchmarkAudiencePages(b *testing.B) {
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			n := benchSubscribers(b)
			dsn := be.DSN(b)
			st := storetest.OpenDSN(b, dsn, storetest.Options{})
			ctx := context.Background()
			l := &store.List{Slug: "bus", Name: "BUS"}
			if err := st.CreateList(ctx, l); err != nil {
				b.Fatal(err)
			}
			c := &store.Campaign{Name: "Nyhetsbrev", Subject: "Nytt från förbundet", Body: "b", ListIDs: []int64{l.ID}}
			if err := st.CreateCampaign(ctx, c); err != nil {
				b.Fatal(err)
			}
			var db *gorm.DB
			var err error
			if be.Name == "sqlite" {
				db, err = gorm.Open(sqlite.Open(strings.TrimPrefix(dsn, "sqlite:")+"?_busy_timeout=10000"), &gorm.Config{Logger: logger.Discard})
			} else {
				db, err = gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
			}
			if err != nil {
				b.Fatal(err)
			}
			seq := fmt.Sprintf("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) SELECT i FROM g", n)
			if be.Name == "postgres" {
				seq = fmt.Sprintf("SELECT i FROM generate_series(1, %d) AS g(i)", n)
			}
			now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
			start := time.Now()
			for _, s := range []struct {
				sql  string
				args []any
			}{
				// name_fold is the name as store.Fold writes it; lower()
				// does the same to these names (their one non-ASCII
				// letter is a lower-case ö already).
				{`INSERT INTO subscribers (email, name, name_fold, language, attributes, email_hash, created_at, updated_at)
					SELECT 'person' || i || '@kommun' || (i % 26) || '.example.se', 'Förnamn' || (i % 500) || ' Efternamn' || (i % 9973),
						'förnamn' || (i % 500) || ' efternamn' || (i % 9973), 'sv', '{}', 'h' || i, ?, ? FROM (` + seq + `) g`, []any{now, now}},
				{`INSERT INTO subscriptions (subscriber_id, list_id, status, consent_basis, created_at, updated_at, confirmed_at)
					SELECT id, ?, CASE WHEN id % 40 = 0 THEN 'unsubscribed' ELSE 'confirmed' END, 'medlemsregistret', ?, ?, ? FROM subscribers`,
					[]any{l.ID, now, now, now}},
				{`INSERT INTO events (kind, subscriber_id, list_id, source, data, created_at)
					SELECT 'subscriber.created', id, NULL, 'import', '{}', ? FROM subscribers`, []any{now}},
				{`INSERT INTO events (kind, subscriber_id, list_id, source, data, created_at)
					SELECT 'confirmed', id, ?, 'import', '{"consent_basis":"medlemsregistret"}', ? FROM subscribers`, []any{l.ID, now}},
				{`INSERT INTO deliveries (campaign_id, subscriber_id, status, failure_class, attempts, message_id, created_at, updated_at, sent_at)
					SELECT ?, id, 'sent', '', 1, 'd' || id || '@example.se', ?, ?, ? FROM subscribers`, []any{c.ID, now, now, now}},
			} {
				if err := db.Exec(s.sql, s.args...).Error; err != nil {
					b.Fatal(err)
				}
			}
			db.Exec("ANALYZE") // as a database in use would have statistics
			if sdb, err := db.DB(); err == nil {
				sdb.Close()
			}
			b.Logf("%s: %d subscribers with events and deliveries in %s", be.Name, n, time.Since(start).Round(time.Second))

			mr := miniredis.RunT(b)
			rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			defer rc.Close()
			tmpl, err := mailtemplates.New()
			if err != nil {
				b.Fatal(err)
			}
			sign, _ := links.NewSigner(testKey)
			ccfg := compose.Config{BaseURL: webBase, From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}
			srv, err := api.New(api.Deps{Store: st, Queue: queue.Client{C: asynq.NewClientFromRedisClient(rc)},
				Composer: compose.New(ccfg, tmpl, sign), Templates: tmpl, Signer: sign, Site: api.Site{BaseURL: webBase, Org: "Förbundet"},
				Limits: api.Limits{Limiter: queue.NewLimiter(rc, "b:")}})
			if err != nil {
				b.Fatal(err)
			}
			u := &store.User{Email: "redaktor@example.se", Name: "Redaktör", Role: store.RoleEditor}
			if err := st.CreateUser(ctx, u, store.Actor{Source: "test"}); err != nil {
				b.Fatal(err)
			}
			invite, _, err := st.CreateUserToken(ctx, u.ID, store.PurposeInvite)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.UseUserToken(ctx, invite, store.SetPassword{Password: "ett långt lösenord"}, store.Actor{Source: "test"}); err != nil {
				b.Fatal(err)
			}
			secret, _, err := st.CreateSession(ctx, store.NewSession{UserID: u.ID, Now: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
			if err != nil {
				b.Fatal(err)
			}
			person := strconv.Itoa(n / 2)
			for _, page := range []struct{ name, path, want string }{
				{"search-surname", "/admin/subscribers?q=efternamn4321", "Efternamn4321"},
				{"search-address", "/admin/subscribers?q=person" + person + "@", "person" + person + "@"},
				{"search-domain", "/admin/subscribers?q=kommun7.example", "kommun7.example.se"},
				{"list-unsubscribed", "/admin/subscribers?list=" + strconv.FormatInt(l.ID, 10) + "&status=unsubscribed", "Avregistrerad"},
				{"first-page", "/admin/subscribers", "Nästa sida"},
				{"person", "/admin/subscribers/" + person, "medlemsregistret"},
			} {
				b.Run(page.name, func(b *testing.B) {
					get := func() *httptest.ResponseRecorder {
						req := httptest.NewRequest(http.MethodGet, page.path, nil)
						req.AddCookie(&http.Cookie{Name: "utskick_session", Value: secret})
						rec := httptest.NewRecorder()
						srv.ServeHTTP(rec, req)
						return rec
					}
					if rec := get(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), page.want) {
						b.Fatalf("%s: %d, want 200 with %q\n%.2000s", page.path, rec.Code, page.want, rec.Body)
					}
					for b.Loop() {
						get()
					}
				})
			}
		})
	}
}
