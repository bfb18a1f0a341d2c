//go:build linux && cgo

package main

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

func TestMallocTunedLeavesTheOperatorsSetting(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, false},
		{map[string]string{"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536"}, true},
		{map[string]string{"MALLOC_MMAP_THRESHOLD_": "65536"}, true},
	} {
		if got := mallocTuned(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("mallocTuned(%v) = %v, want %v", c.env, got, c.want)
		}
	}
}

// SQLite's sorter grows its buffer to several MiB for a large ORDER BY
// (the fan-out of a campaign). With glibc's sliding threshold the first
// such buffer is mapped, its free raises the threshold, and the buffers
// after it stay resident in the arenas of the threads that sorted.
func TestLargeSQLiteSortsLeaveNothingResident(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector's malloc replaces glibc's; .ci/run runs this without it")
	}
	fixMmapThreshold(mmapThreshold)
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "sort.db")+"?_cache_size=-8000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE a (v BLOB);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
		INSERT INTO a SELECT randomblob(16) FROM c`); err != nil {
		t.Fatal(err)
	}
	// Four connections with the table in their page caches, which stay.
	conns := make([]*sql.Conn, 4)
	for i := range conns {
		if conns[i], err = db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
		var n int
		if err := conns[i].QueryRowContext(ctx, `SELECT count(*) FROM a WHERE length(v) = 16`).Scan(&n); err != nil || n != 200000 {
			t.Fatalf("read the table: %d rows, %v", n, err)
		}
	}
	sorted := func(c *sql.Conn) error {
		// The sorter holds every row before the first comes back.
		rows, err := c.QueryContext(ctx, `SELECT v FROM a ORDER BY v`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	}
	// The first sort's buffer is mapped whatever the threshold; with a
	// sliding one, its free raises the threshold past the next buffers.
	if err := sorted(conns[0]); err != nil {
		t.Fatal(err)
	}
	before := rssAnonKB(t)
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A thread of its own, so that glibc gives it an arena.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			errs <- sorted(c)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	grew := rssAnonKB(t) - before
	t.Logf("anonymous RSS grew by %d KiB over four sorts at once", grew)
	if grew > 4<<10 {
		t.Errorf("four sorts left %d KiB resident; want their buffers returned", grew)
	}
}

// rssAnonKB is the process's anonymous RSS once Go has given its free
// heap back, so that what it measures is the C heap's.
func rssAnonKB(t *testing.T) int64 {
	t.Helper()
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssAnon in /proc/self/status")
	return 0
}
