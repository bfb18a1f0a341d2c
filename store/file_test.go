package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// The SQLite file holds addresses, consent records and token hashes: it
// and its -wal and -shm files are for the service's user only.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "utskick.db")
	s := storetest.OpenDSN(t, "sqlite:"+path, storetest.Options{})
	if _, err := s.CreateToken(context.Background(), "t", store.RoleAdmin, store.NewTokenSecret()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	t.Logf("files: %v", files)
	if len(files) < 3 {
		t.Fatalf("files %v: want the database, its -wal and its -shm", files)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", strings.TrimPrefix(f, filepath.Dir(path)+"/"), m)
		}
	}
}
