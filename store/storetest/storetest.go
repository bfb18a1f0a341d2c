// Package storetest opens real databases for tests: a SQLite file in the
// test's temp dir always, and a fresh Postgres schema when
// UTSKICK_TEST_POSTGRES names a server. CI sets it, so there a Postgres
// problem fails the tests instead of skipping them.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/storsthlm/utskick/store"
)

// EnvPostgres names the variable holding a Postgres URL for tests, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgres = "UTSKICK_TEST_POSTGRES"

// Options tune the opened store.
type Options struct {
	Now func() time.Time
}

// Open returns a migrated store on a new SQLite file.
func Open(t testing.TB) *store.Store {
	return OpenDSN(t, SQLiteDSN(t), Options{})
}

// SQLiteDSN returns the DSN of a new SQLite file in t's temp dir.
func SQLiteDSN(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "utskick.db")
}

// OpenDSN opens and migrates the store at dsn, closing it when t ends.
func OpenDSN(t testing.TB, dsn string, o Options) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{DSN: dsn, Now: o.Now, AddressKey: []byte("storetest address key")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresDSN returns the URL of a new, empty schema on the test Postgres
// server, dropped when t ends; it skips t when EnvPostgres is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("%s not set: Postgres tests skipped", EnvPostgres)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("%s: create schema: %v", EnvPostgres, err)
	}
	sqlDB, _ := admin.DB()
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		sqlDB.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Backend is a database kind the suite runs on.
type Backend struct {
	Name string
	DSN  func(testing.TB) string
}

// Backends are SQLite and Postgres.
var Backends = []Backend{
	{Name: "sqlite", DSN: SQLiteDSN},
	{Name: "postgres", DSN: PostgresDSN},
}

// Run runs fn once per backend as subtests, each with a fresh store.
func Run(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	RunOpts(t, Options{}, fn)
}

// RunOpts is Run with options.
func RunOpts(t *testing.T, o Options, fn func(t *testing.T, s *store.Store)) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, OpenDSN(t, b.DSN(t), o))
		})
	}
}

// Seed describes a campaign that Sent makes.
type Seed struct {
	Subscribers int
	TrackOpens  bool
	TrackClicks bool
	Consent     bool      // the subscribers agreed to tracking
	Links       []string  // the campaign's tracked links
	SentAt      time.Time // when the deliveries were accepted; zero: the store's now
}

// Seeded is what Sent made.
type Seeded struct {
	ListID      int64
	CampaignID  int64
	Subscribers []int64
	Emails      []string
	Deliveries  []int64 // by subscriber, in the same order
}

// Sent makes a list of confirmed subscribers and a campaign to it whose
// deliveries were all sent, through the store's own path: schedule,
// dispatch, claim, outcome.
func Sent(t testing.TB, s *store.Store, seed Seed) *Seeded {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var b [4]byte
	rand.Read(b[:])
	tag := hex.EncodeToString(b[:])
	l := &store.List{Slug: "l-" + tag, Name: "List " + tag, Language: "sv", Optin: store.OptinSingle,
		Visibility: store.VisibilityPublic, TrackOpens: seed.TrackOpens, TrackClicks: seed.TrackClicks}
	must(s.CreateList(ctx, l))
	out := &Seeded{ListID: l.ID}
	consent := seed.Consent
	for i := range seed.Subscribers {
		sub := &store.Subscriber{Email: "s" + tag + "-" + strconv.Itoa(i) + "@example.se", Language: "sv"}
		must(s.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed,
			ConsentBasis: "test", TrackingConsent: &consent}}, store.Actor{Source: "test"}))
		out.Subscribers = append(out.Subscribers, sub.ID)
		out.Emails = append(out.Emails, sub.Email)
	}
	c := &store.Campaign{Name: "c", Subject: "s", Body: "b", ListIDs: []int64{l.ID}}
	must(s.CreateCampaign(ctx, c))
	out.CampaignID = c.ID
	c, err := s.ScheduleCampaign(ctx, c.ID, s.Now())
	must(err)
	_, err = s.MaterializeDeliveries(ctx, c.ID, c.Revision)
	must(err)
	must(s.SaveCampaignLinks(ctx, c.ID, seed.Links))
	res, err := s.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID,
		Limit: seed.Subscribers + 1, Token: "seed-" + tag, Lease: time.Minute, MessageIDSuffix: "@example.se"})
	must(err)
	at := seed.SentAt
	if at.IsZero() {
		at = s.Now()
	}
	byID := map[int64]int64{}
	var outs []store.Outcome
	for _, r := range res.Recipients {
		byID[r.SubscriberID] = r.DeliveryID
		outs = append(outs, store.Outcome{DeliveryID: r.DeliveryID, Status: store.DeliverySent, SMTPCode: 250, SMTPMessage: "ok", At: at})
	}
	must(s.RecordOutcomes(ctx, outs))
	for _, id := range out.Subscribers {
		out.Deliveries = append(out.Deliveries, byID[id])
	}
	return out
}

// Suppressed reports whether email is on s's suppression list.
func Suppressed(t testing.TB, s *store.Store, email string) bool {
	t.Helper()
	_, err := s.SuppressionOf(context.Background(), email)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// Clock is real time moved by an offset a test sets, for store, API and
// worker at once: it runs on by itself, and a test can jump it to the
// morning of a scheduled send. The zero Clock is real time.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the clock's time; pass it as the Now of store, API and worker.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Set makes it t now.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
