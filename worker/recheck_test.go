package worker_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestRecheckSeesAnUnsubscribeThatCommitsAfterALaterEvent: on Postgres an
// event's id is taken when its row is inserted, not when its transaction
// commits. An unsubscribe holding id n can become visible after an event
// with id n+1 was seen; a sender that judged "nothing new" by the largest
// id then sent to the person who had left (the burst benchmark saw one,
// 564 ms after the answer). Senders now judge by the withdrawal mark, a
// sum that every committed withdrawal raises (store.WithdrawalMark); this
// is the case it must not miss.
func TestRecheckSeesAnUnsubscribeThatCommitsAfterALaterEvent(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	st := storetest.OpenDSN(t, dsn, storetest.Options{})
	e := newEnv(t, st, nil)
	f := seed(t, st, 3)
	ctx := context.Background()
	leaver, other := f.subs[0], f.subs[1]

	// The leaver's unsubscribe, held open on a connection of its own after
	// it took its event id.
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		t.Cleanup(func() { sqlDB.Close() })
	}
	tx := db.Begin()
	defer tx.Rollback()
	if err := tx.Exec("UPDATE subscriptions SET status = ? WHERE subscriber_id = ?", store.SubUnsubscribed, leaver.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec("INSERT INTO events (kind, subscriber_id, source, data, created_at) VALUES ('unsubscribed', ?, 'test', '{}', ?)", leaver.ID, time.Now()).Error; err != nil {
		t.Fatal(err)
	}
	// A later event commits first.
	if _, err := st.Unsubscribe(ctx, other.ID, nil, 0, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	withdrawn, seen, err := e.h.Recheck(ctx, f.camp.ID, []int64{leaver.ID}, 0)
	if err != nil || withdrawn[leaver.ID] {
		t.Fatalf("before the unsubscribe commits: withdrawn %v, %v", withdrawn, err)
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond) // past the shared look at the mark
	withdrawn, _, err = e.h.Recheck(ctx, f.camp.ID, []int64{leaver.ID}, seen)
	if err != nil {
		t.Fatal(err)
	}
	if !withdrawn[leaver.ID] {
		t.Fatal("the unsubscribe that committed after a later event was not seen: the message would go out")
	}
}
