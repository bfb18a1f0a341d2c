package store_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestMigrationsMatchModels migrates an empty database and checks that
// every table, column and named index of the live models exists, so a
// model edit without a migration step fails here.
func TestMigrationsMatchModels(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		applied, err := s.AppliedMigrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) == 0 {
			t.Fatal("no migrations recorded")
		}
		// Migrating again is a no-op.
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		again, _ := s.AppliedMigrations(ctx)
		if len(again) != len(applied) {
			t.Fatalf("second migrate recorded %d steps, first %d", len(again), len(applied))
		}
		db := store.DBForTest(s)
		m := db.Migrator()
		for _, model := range store.Models() {
			stmt := &gorm.Statement{DB: db}
			if err := stmt.Parse(model); err != nil {
				t.Fatal(err)
			}
			sch := stmt.Schema
			if !m.HasTable(model) && !isView(t, db, sch.Table) {
				t.Errorf("table %s missing", sch.Table)
				continue
			}
			for _, f := range sch.Fields {
				if f.DBName == "" || f.IgnoreMigration {
					continue
				}
				if !m.HasColumn(model, f.DBName) {
					t.Errorf("column %s.%s missing", sch.Table, f.DBName)
				}
			}
			for _, idx := range sch.ParseIndexes() {
				if !m.HasIndex(model, idx.Name) {
					t.Errorf("index %s on %s missing", idx.Name, sch.Table)
				}
			}
		}
	})
}

// isView reports that name is a view in the test's schema: on Postgres the
// counters are views over their shards (migration 0015_counter_shards).
func isView(t *testing.T, db *gorm.DB, name string) bool {
	if db.Dialector.Name() != "postgres" {
		return false
	}
	var n int64
	if err := db.Raw(`SELECT count(*) FROM information_schema.views WHERE table_schema = current_schema() AND table_name = ?`, name).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n == 1
}
