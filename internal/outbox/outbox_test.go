package outbox

import (
	"os"
	"path/filepath"
	"testing"
)

// Captured mail is personal data: its directory is not for other users.
func TestOutboxDirIsNotReadableByOthers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	s, err := Start(Config{Addr: "127.0.0.1:0", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m&0o007 != 0 {
		t.Fatalf("outbox dir mode %04o, want no access for others", m)
	}
}
