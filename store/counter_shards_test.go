package store_test

import (
	"context"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestConcurrentUnsubscribesDoNotWaitOnTheListCounter: on Postgres, two
// transactions that change subscriptions of the same list in the same
// way (as fifty one-click unsubscribes after a send do) no longer queue
// on the list's counter row: the second goes through while the first is
// still open. The list's counts stay exact.
func TestConcurrentUnsubscribesDoNotWaitOnTheListCounter(t *testing.T) {
	s := storetest.OpenDSN(t, storetest.PostgresDSN(t), storetest.Options{})
	ctx := context.Background()
	l := &store.List{Slug: "nyheter", Name: "Nyheter", Language: "sv", Optin: store.OptinSingle, Visibility: store.VisibilityPublic}
	if err := s.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	var subs []store.Subscriber
	for i := range 4 {
		subs = append(subs, store.Subscriber{Email: fmt.Sprintf("p%d@example.org", i), Language: "sv"})
	}
	if err := s.InsertSubscribersBulk(ctx, subs, l.ID, "test"); err != nil {
		t.Fatal(err)
	}
	db := store.DBForTest(s)
	var ids []int64
	if err := db.Raw(`SELECT subscriber_id FROM subscriptions WHERE list_id = ? ORDER BY 1`, l.ID).Scan(&ids).Error; err != nil || len(ids) != 4 {
		t.Fatalf("subscriptions %v %v", ids, err)
	}

	// Two sessions whose backends fall in different shards (pids are
	// what the shard is taken from; a third session is tried if the
	// first two share one).
	var open []*gorm.DB
	defer func() {
		for _, tx := range open {
			tx.Rollback()
		}
	}()
	shardOf := map[int]*gorm.DB{}
	for len(shardOf) < 2 && len(open) < 20 {
		tx := db.Begin()
		open = append(open, tx)
		var shard int
		if err := tx.Raw(`SELECT utskick_counter_shard()`).Scan(&shard).Error; err != nil {
			t.Fatal(err)
		}
		if shardOf[shard] == nil {
			shardOf[shard] = tx
		}
	}
	var a, b *gorm.DB
	for _, tx := range shardOf {
		if a == nil {
			a = tx
		} else {
			b = tx
		}
	}
	unsub := `UPDATE subscriptions SET status = 'unsubscribed' WHERE list_id = ? AND subscriber_id = ?`
	if err := a.Exec(unsub, l.ID, ids[0]).Error; err != nil {
		t.Fatal(err)
	}
	// Before the shards, this waited for a's commit on the counter row.
	if err := b.Exec(`SET LOCAL lock_timeout = '2s'`).Error; err != nil {
		t.Fatal(err)
	}
	if err := b.Exec(unsub, l.ID, ids[1]).Error; err != nil {
		t.Fatalf("the second unsubscribe waited on the first: %v", err)
	}
	if err := b.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if err := a.Commit().Error; err != nil {
		t.Fatal(err)
	}
	// A deletion is counted too, from a third session's shard.
	if err := db.Exec(`DELETE FROM subscriptions WHERE list_id = ? AND subscriber_id = ?`, l.ID, ids[2]).Error; err != nil {
		t.Fatal(err)
	}

	var got, want []struct {
		Status string
		N      int64
	}
	if err := db.Raw(`SELECT status, n FROM list_counts WHERE list_id = ? AND n <> 0 ORDER BY status`, l.ID).Scan(&got).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Raw(`SELECT status, COUNT(*) AS n FROM subscriptions WHERE list_id = ? GROUP BY status ORDER BY status`, l.ID).Scan(&want).Error; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list_counts %v, subscriptions say %v", got, want)
	}
	var shards int
	db.Raw(`SELECT COUNT(DISTINCT shard) FROM list_count_shards WHERE list_id = ?`, l.ID).Scan(&shards)
	if shards < 2 {
		t.Fatalf("the counts of list %d are in %d shard(s)", l.ID, shards)
	}
}
