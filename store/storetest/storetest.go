// Package storetest opens real databases for tests: a SQLite file in the
// test's temp dir always, and a fresh Postgres schema when
// UTSKICK_TEST_POSTGRES names a server. CI sets it, so there a Postgres
// problem fails the tests instead of skipping them.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
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
