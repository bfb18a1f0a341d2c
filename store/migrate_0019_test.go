package store

import (
	"path/filepath"
	"testing"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// TestMigration0019FoldsExistingRows: rows written before 0019 get their
// folded forms (ASCII names by lower(), the rest by Fold), and the
// search finds them by any case afterwards.
func TestMigration0019FoldsExistingRows(t *testing.T) {
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "m.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	run := func(m migration) {
		if err := db.Transaction(func(tx *gorm.DB) error { return m.Up(tx, DialectSQLite) }); err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
	}
	var step migration
	for _, m := range migrations {
		if m.ID == "0019_search_fold" {
			step = m
			break
		}
		run(m)
	}
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for i, name := range []string{"KARIN JÖNSSON", "Bo Ek", "", "Åsa Öberg"} {
		if err := db.Exec("INSERT INTO subscribers (email, name, language, attributes, email_hash, created_at, updated_at) VALUES (?, ?, 'sv', '{}', ?, ?, ?)",
			string(rune('a'+i))+"@example.se", name, "h"+name, now, now).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Exec("INSERT INTO campaigns (name, subject, body, status, created_at, updated_at) VALUES ('ÖPPET HUS', 'Välkommen', 'b', 'draft', ?, ?)", now, now).Error; err != nil {
		t.Fatal(err)
	}
	run(step)
	var folds []string
	db.Raw("SELECT name_fold FROM subscribers ORDER BY id").Scan(&folds)
	if want := []string{"karin jönsson", "bo ek", "", "åsa öberg"}; len(folds) != 4 || folds[0] != want[0] || folds[1] != want[1] || folds[2] != want[2] || folds[3] != want[3] {
		t.Errorf("name_fold %q, want %q", folds, want)
	}
	var camp string
	db.Raw("SELECT search_fold FROM campaigns").Scan(&camp)
	if camp != "öppet hus\nvälkommen" {
		t.Errorf("search_fold %q", camp)
	}
	cond, args := searchCond(DialectSQLite, "subscribers", "jöns")
	var n int64
	if err := db.Raw("SELECT COUNT(*) FROM subscribers WHERE "+cond, args...).Scan(&n).Error; err != nil || n != 1 {
		t.Errorf("search after 0019: %d rows, %v", n, err)
	}
}
