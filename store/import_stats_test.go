package store_test

import (
	"context"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestFinishedImportRefreshesPostgresStatistics(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		if s.Dialect() != store.DialectPostgres {
			t.Skip("Postgres statistics only")
		}
		ctx := context.Background()
		l := mustList(t, s, "senaste-nytt")
		imp := &store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{l.ID}, ConsentBasis: "test"}
		if err := s.CreateImport(ctx, imp); err != nil {
			t.Fatal(err)
		}
		file := "email\r\nanna@example.se\r\n"
		if err := s.AppendImportChunk(ctx, imp.ID, 0, []byte(file)); err != nil {
			t.Fatal(err)
		}
		if err := s.QueueImport(ctx, imp.ID, int64(len(file))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StartImport(ctx, imp.ID); err != nil {
			t.Fatal(err)
		}
		analyzed := func() bool {
			var n int64
			if err := store.DBForTest(s).Raw(`SELECT COUNT(*) FROM pg_stat_user_tables
				WHERE schemaname = current_schema() AND relname IN ('subscribers', 'subscriptions') AND last_analyze IS NOT NULL`).
				Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n == 2
		}
		if analyzed() {
			t.Fatal("analyzed before the import finished: the test proves nothing")
		}
		if err := s.FinishImport(ctx, imp.ID, store.ImportDone, ""); err != nil {
			t.Fatal(err)
		}
		if !analyzed() {
			t.Error("subscribers and subscriptions not analyzed after the import")
		}
	})
}
