// Package store holds utskick's data: the gorm models and every query that
// reads or writes them. It is the source of truth for lists, subscribers,
// campaigns and deliveries; the task queue only rings the bell. It knows
// nothing of HTTP or of the queue.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialects a Store can run on.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Options configure Open.
type Options struct {
	// DSN is "sqlite:<path>" (or "file:<path>") for an embedded SQLite file,
	// or a "postgres://" / "postgresql://" URL.
	DSN string
	// MaxOpenConns bounds the Postgres pool and the SQLite reader pool
	// (default 16). The SQLite writer always has exactly one connection.
	MaxOpenConns int
	// Log receives slow queries and database errors; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject a fixed clock.
	Now func() time.Time
	// AddressKey keys the hash that suppressions match addresses by. It
	// must stay the same for the life of the database; cmd/utskick derives
	// it from UTSKICK_SECRET.
	AddressKey []byte
}

// Store is the database handle. Its zero value is not usable; call Open.
type Store struct {
	// db takes every write. On SQLite it is a pool of one connection so
	// that writers queue in Go instead of spinning on SQLITE_BUSY; reads go
	// to rdb, which WAL lets run beside the writer.
	db      *gorm.DB
	rdb     *gorm.DB
	dialect string
	now     func() time.Time
	addrKey []byte
	pw      *hasher // argon2id for staff passwords, bounded in concurrency

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // SQLite: statements of the send path, prepared on first use

	// publicTurn (SQLite only) lets one write of the public pages
	// (unsubscribes, tracked hits) at a time queue for the writer; see
	// publicWrite.
	publicTurn chan struct{}

	// Public writes that come in bursts share transactions (groupcommit.go);
	// each shared transaction takes its turn through publicWrite.
	unsubs group[*unsubReq]
	hits   group[*hitReq]

	// fanout is what MaterializeDeliveries needs to know beyond the
	// database; tests shrink the chunk and look between chunks.
	fanout struct {
		chunk int64            // subscriber ids per transaction; 0 is fanoutChunk
		after func(from int64) // called after each chunk's commit, if set
	}
}

// Open connects to the database named by opts.DSN and applies pending
// migrations.
func Open(ctx context.Context, opts Options) (*Store, error) {
	s, err := open(opts)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// OpenNoMigrate connects without migrating; `utskick migrate` and tests of
// the migrations themselves use it.
func OpenNoMigrate(opts Options) (*Store, error) { return open(opts) }

func open(opts Options) (*Store, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	utcNow := func() time.Time { return now().UTC().Truncate(time.Microsecond) }
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 16
	}
	lg := logger.Discard
	if opts.Log != nil {
		lg = quietTrace{Interface: logger.NewSlogLogger(opts.Log.With("component", "gorm"), logger.Config{
			SlowThreshold:             slowQuery,
			LogLevel:                  logger.Warn,
			IgnoreRecordNotFoundError: true,
			ParameterizedQueries:      true, // never log subscriber addresses
		}), level: logger.Warn}
	}
	cfg := func() *gorm.Config {
		return &gorm.Config{
			TranslateError:         true,
			NowFunc:                utcNow,
			Logger:                 lg,
			SkipDefaultTransaction: true, // our writes choose their own transactions
			PrepareStmt:            false,
		}
	}

	if len(opts.AddressKey) == 0 {
		return nil, errors.New("store: AddressKey is required")
	}
	s := &Store{now: utcNow, addrKey: append([]byte(nil), opts.AddressKey...), pw: newHasher()}
	switch {
	case strings.HasPrefix(opts.DSN, "postgres://"), strings.HasPrefix(opts.DSN, "postgresql://"):
		db, err := gorm.Open(postgres.Open(opts.DSN), cfg())
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
		sqlDB.SetMaxIdleConns(opts.MaxOpenConns)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		s.db, s.rdb, s.dialect = db, db, DialectPostgres
	case strings.HasPrefix(opts.DSN, "sqlite:"), strings.HasPrefix(opts.DSN, "file:"):
		path := strings.TrimPrefix(strings.TrimPrefix(opts.DSN, "sqlite:"), "file:")
		path = strings.TrimPrefix(path, "//")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i] // our pragmas are not negotiable
		}
		if path == "" {
			return nil, errors.New("open sqlite: empty path")
		}
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		// WAL lets readers run beside the one writer; NORMAL synchronous is
		// durable across process crashes (not power loss) and several times
		// faster; _txlock=immediate takes the write lock at BEGIN so two
		// writers never deadlock upgrading a read lock. The page caches
		// are peak RSS once the database outgrows them (a million
		// subscribers): the writer's is 8 MB and each reader's 1 MB (up to
		// MaxOpenConns readers). A 1,000,000-recipient send peaked at 99.5
		// MB so, at 0.77 of smtpblast; with 16 MB and 1 MB at 119 MB, at
		// 0.70 (docs/benchmarks.md).
		base := "file:" + (&url.URL{Path: path}).EscapedPath() +
			"?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=NORMAL"
		w, err := gorm.Open(sqlite.Open(base+"&_txlock=immediate&_cache_size=-8000"), cfg())
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		wdb, _ := w.DB()
		wdb.SetMaxOpenConns(1)
		wdb.SetMaxIdleConns(1)
		wdb.SetConnMaxIdleTime(0)
		wdb.SetConnMaxLifetime(0)
		// Force creation of the file and WAL mode before readers open it.
		if err := wdb.Ping(); err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		r, err := gorm.Open(sqlite.Open(base+"&_txlock=deferred&_query_only=true&_cache_size=-1000"), cfg())
		if err != nil {
			wdb.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		rdb, _ := r.DB()
		rdb.SetMaxOpenConns(opts.MaxOpenConns)
		rdb.SetMaxIdleConns(opts.MaxOpenConns)
		s.db, s.rdb, s.dialect = w, r, DialectSQLite
		s.publicTurn = make(chan struct{}, 1)
	default:
		return nil, fmt.Errorf("unsupported database URL %q: want sqlite:<path> or postgres://", redactDSN(opts.DSN))
	}
	if err := registerAuditCallbacks(s.db); err != nil {
		s.Close()
		return nil, fmt.Errorf("register audit callbacks: %w", err)
	}
	return s, nil
}

// createPrivate makes a new database file readable by its owner only: it
// holds addresses, consent records and token hashes. SQLite itself would
// create it 0644 (less the umask), and it gives the -wal and -shm files
// the mode of the database file, so they follow. An existing file keeps
// the mode its operator chose.
func createPrivate(path string) error {
	if strings.HasPrefix(path, ":memory:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// redactDSN hides a password in a database URL for error messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}

// Dialect reports DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

// Now is the store's clock, in UTC with microsecond precision (what both
// databases keep).
func (s *Store) Now() time.Time { return s.now() }

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	var errs []error
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	for _, g := range []*gorm.DB{s.db, s.rdb} {
		if g == nil {
			continue
		}
		if sqlDB, err := g.DB(); err == nil {
			errs = append(errs, sqlDB.Close())
		}
		if s.rdb == s.db {
			break
		}
	}
	return errors.Join(errs...)
}

// publicWrite waits for the turn of a write from a public page and
// returns its end. SQLite has one writer connection, and database/sql hands
// it to a random waiter: under a burst of clicks and one-click unsubscribes
// (100 clients in utskick-bench -burst) the sender's outcome writes and
// claims waited among a hundred others, the crash window filled and the
// send all but stopped, while the unsubscribes themselves waited up to
// seconds in the lottery. Taking turns here, the public writes queue in
// arrival order (a channel's waiters are served in order) and at most one
// of them competes with the send path for the connection. Postgres has a
// pool and row locks: no turn there.
func (s *Store) publicWrite(ctx context.Context) (func(), error) {
	if s.publicTurn == nil {
		return func() {}, nil
	}
	select {
	case s.publicTurn <- struct{}{}:
		return func() { <-s.publicTurn }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// slowQuery is the duration from which a statement is logged.
const slowQuery = 500 * time.Millisecond

// quietTrace is gorm's slog logger without the cost of statements it does
// not log: that logger renders every statement with its values
// (Dialector.Explain, a pass of regular expressions over the SQL) before
// deciding whether to log it. On Postgres that was 14 % of the allocations
// and 4 % of the CPU of a send (the outcome write has up to 1,800 values).
type quietTrace struct {
	logger.Interface
	level logger.LogLevel
}

func (q quietTrace) LogMode(l logger.LogLevel) logger.Interface {
	return quietTrace{Interface: q.Interface.LogMode(l), level: l}
}

func (q quietTrace) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if q.level < logger.Info && (err == nil || errors.Is(err, gorm.ErrRecordNotFound)) && time.Since(begin) <= slowQuery {
		return
	}
	q.Interface.Trace(ctx, begin, fc, err)
}

// writer is the handle for writes (and reads that must see them); reader
// is for reads that may run beside a writer.
// Inside Store.Atomic both are its transaction.
func (s *Store) writer(ctx context.Context) *gorm.DB {
	if tx := txOf(ctx); tx != nil {
		return tx.Session(&gorm.Session{NewDB: true, Context: ctx})
	}
	return s.db.WithContext(ctx)
}

func (s *Store) reader(ctx context.Context) *gorm.DB {
	if tx := txOf(ctx); tx != nil {
		return tx.Session(&gorm.Session{NewDB: true, Context: ctx})
	}
	return s.rdb.WithContext(ctx)
}

// tsParam is a placeholder for a timestamp in a position where Postgres
// cannot infer the type (a SELECT list, VALUES).
func (s *Store) tsParam() string {
	if s.dialect == DialectPostgres {
		return "CAST(? AS TIMESTAMPTZ)"
	}
	return "?"
}

// isDup reports whether err is a unique-constraint violation.
func isDup(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }

// isMissing reports whether err says no row matched.
func isMissing(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }

// RowCounts returns the number of rows of every table, for diagnostics
// and for tests that assert a rejected request wrote nothing.
func (s *Store) RowCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, m := range models() {
		stmt := &gorm.Statement{DB: s.rdb}
		if err := stmt.Parse(m); err != nil {
			return nil, err
		}
		var n int64
		if err := s.reader(ctx).Table(stmt.Schema.Table).Count(&n).Error; err != nil {
			return nil, fmt.Errorf("count %s: %w", stmt.Schema.Table, err)
		}
		out[stmt.Schema.Table] = n
	}
	return out, nil
}
