package worker_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
)

// TestStaleSessionsAfterAPauseCostNoAttempt: the server closes sessions
// that are quiet for 400ms, as real servers do after their idle limit.
// After a pause, the pooled sessions are all closed; the next campaign
// must go out at once over new ones, with one attempt per delivery and no
// wait for RetryBase (30s here).
func TestStaleSessionsAfterAPauseCostNoAttempt(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		s := newSinkIdle(t, "", 0, 400*time.Millisecond)
		e := newSinkEnv(t, st, s, func(c *worker.Config) {
			c.Retry.Base, c.Retry.Max = 30*time.Second, time.Minute
		})
		f := seed(t, st, 120)
		e.start(t)
		e.schedule(t, f.camp.ID)
		if stats := e.waitSent(t, f.camp.ID, 30*time.Second); stats.Sent != 120 || stats.Failed != 0 {
			// Seen once on a machine at load 20: one delivery of the first
			// campaign ended without reaching the server. Say how.
			for _, d := range deliveries(t, st, f.camp.ID) {
				if d.Status != store.DeliverySent {
					t.Errorf("first campaign: delivery %d %s after %d attempts (%d %s)", d.ID, d.Status, d.Attempts, d.SMTPCode, d.SMTPMessage)
				}
			}
			t.Fatalf("first campaign: stats %+v", stats)
		}

		time.Sleep(1200 * time.Millisecond) // every pooled session is closed by now
		c2 := &store.Campaign{Name: "December", Subject: "Hej igen", Body: "Text.", ListIDs: f.camp.ListIDs}
		if err := st.CreateCampaign(context.Background(), c2); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		e.schedule(t, c2.ID)
		stats := e.waitSent(t, c2.ID, 15*time.Second) // a burned attempt waits ≥ 24s
		if stats.Sent != 120 || stats.Failed != 0 {
			t.Fatalf("stats %+v", stats)
		}
		for _, d := range deliveries(t, st, c2.ID) {
			if d.Attempts != 1 {
				t.Fatalf("delivery %d took %d attempts (%d %s)", d.ID, d.Attempts, d.SMTPCode, d.SMTPMessage)
			}
		}
		for r, k := range s.perRecipient() {
			if k != 2 {
				t.Fatalf("%s got %d messages, want one per campaign", r, k)
			}
		}
		t.Logf("second campaign sent in %s over %d sessions in all", time.Since(start).Round(time.Millisecond), s.sessions.Load())
	})
}

// TestSmallCampaignIsSpreadOverTheSenders: 200 recipients, batches of
// 100 and eight senders on a slow server. Claiming whole batches left six
// senders idle while two sent everything; each sender must get a share.
func TestSmallCampaignIsSpreadOverTheSenders(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		s := newSink(t, "", 0)
		s.delay.Store(int64(20 * time.Millisecond))
		e := newSinkEnv(t, st, s, func(c *worker.Config) {
			c.SMTP.Connections, c.Senders.Slots, c.Senders.BatchSize = 8, 8, 100
		})
		f := seed(t, st, 200)
		e.start(t)
		start := time.Now()
		e.schedule(t, f.camp.ID)
		stats := e.waitSent(t, f.camp.ID, 60*time.Second)
		if stats.Sent != 200 {
			t.Fatalf("stats %+v", stats)
		}
		per := map[int64]int{}
		for _, m := range s.received() {
			per[m.session]++
		}
		if len(per) < 6 {
			t.Fatalf("200 messages went over %d sessions (%v); want most of the 8 senders at work", len(per), per)
		}
		t.Logf("sent in %s over %d sessions: %v", time.Since(start).Round(time.Millisecond), len(per), per)
	})
}

// TestUnrecordedOutcomesStayBoundedWhileWritesStall: another connection
// holds the database's write lock for two seconds in the middle of a
// campaign, so no outcome can be written. Mail the server accepted but
// the database does not record is what a SIGKILL would send twice; it
// must stay within SMTPConnections × UnrecordedPerConn however long the
// stall, and the campaign completes once writes work again.
func TestUnrecordedOutcomesStayBoundedWhileWritesStall(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			st := storetest.OpenDSN(t, dsn, storetest.Options{})
			s := newSink(t, "", 0)
			const conns = 4
			e := newSinkEnv(t, st, s, func(c *worker.Config) {
				c.SMTP.Connections, c.Senders.Slots, c.Senders.BatchSize = conns, conns, 100
			})
			f := seed(t, st, 900)
			e.start(t)
			e.schedule(t, f.camp.ID)
			waitFor(t, "sending", 30*time.Second, func() bool { return len(s.received()) >= 50 })

			release := holdWriteLock(t, b.Name, dsn)
			maxGap, stallEnds := 0, time.Now().Add(2*time.Second)
			for time.Now().Before(stallEnds) {
				accepted := len(s.received()) // first: the database can only catch up meanwhile
				stats, err := st.CampaignStats(context.Background(), f.camp.ID)
				if err != nil {
					t.Fatal(err)
				}
				maxGap = max(maxGap, accepted-int(stats.Sent))
				time.Sleep(5 * time.Millisecond)
			}
			release()
			stats := e.waitSent(t, f.camp.ID, 60*time.Second)
			if stats.Sent != 900 {
				t.Fatalf("stats %+v", stats)
			}
			for r, k := range s.perRecipient() {
				if k != 1 {
					t.Fatalf("%s got %d", r, k)
				}
			}
			if bound := conns * worker.UnrecordedPerConn; maxGap > bound {
				t.Fatalf("up to %d messages accepted by the server but not recorded while writes stalled; the bound is %d", maxGap, bound)
			}
			t.Logf("at most %d accepted and unrecorded while writes stalled", maxGap)
		})
	}
}

// holdWriteLock takes the database's write lock from a connection of its
// own, as a long transaction or a backup would, and returns its release.
// Reads go on meanwhile.
func holdWriteLock(t *testing.T, backend, dsn string) (release func()) {
	t.Helper()
	var dial gorm.Dialector
	lock := "LOCK TABLE deliveries IN EXCLUSIVE MODE" // blocks writers, not readers
	if backend == "sqlite" {
		path := strings.TrimPrefix(dsn, "sqlite:")
		dial = sqlite.Open("file:" + (&url.URL{Path: path}).EscapedPath() + "?_busy_timeout=10000&_txlock=immediate")
		lock = "UPDATE deliveries SET id = id WHERE 0 = 1" // BEGIN IMMEDIATE already holds it
	} else {
		dial = postgres.Open(dsn)
	}
	db, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	tx := db.Begin()
	if err := tx.Error; err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(lock).Error; err != nil {
		t.Fatal(err)
	}
	return func() {
		tx.Rollback()
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}
}
