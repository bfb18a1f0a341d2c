package main

import (
	"database/sql"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx"
)

// pgCPU adds up the CPU time of the Postgres backends that serve utskick:
// those whose application_name is the run's schema (set in the DSN).
// Postgres runs on this machine (loopback), so their /proc entries are
// readable. A backend's last fraction of a second before it exits is
// missed; the pool keeps its connections through a send, so that is
// little.
type pgCPU struct {
	admin    *sql.DB // one connection, kept: not a backend of utskick's
	app      string
	ticks    map[int]int64 // utime+stime by backend pid, last seen
	lastList time.Time
	pids     []int
}

func newPGCPU(adminURL, dsn string) *pgCPU {
	if adminURL == "" {
		return nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil
	}
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return nil
	}
	db.SetMaxOpenConns(1)
	return &pgCPU{admin: db, app: u.Query().Get("application_name"), ticks: map[int]int64{}}
}

// sample reads the backends' CPU; the list of backends is refreshed once
// a second over the kept connection. (A psql a second for it cost 3 % of
// the two cores in a perf profile, taken from the send it measured.)
func (p *pgCPU) sample() {
	if p == nil {
		return
	}
	if time.Since(p.lastList) > time.Second {
		p.lastList = time.Now()
		if pids, err := p.backends(); err == nil {
			p.pids = pids
		}
	}
	for _, pid := range p.pids {
		if t, ok := procTicks(pid); ok && t > p.ticks[pid] {
			p.ticks[pid] = t
		}
	}
}

// backends are the pids of the sessions utskick opened.
func (p *pgCPU) backends() ([]int, error) {
	rows, err := p.admin.Query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, p.app)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		pids = append(pids, pid)
	}
	return pids, rows.Err()
}

func (p *pgCPU) close() {
	if p != nil {
		p.admin.Close()
	}
}

func (p *pgCPU) seconds() float64 {
	if p == nil {
		return 0
	}
	var sum int64
	for _, t := range p.ticks {
		sum += t
	}
	return float64(sum) / 100 // USER_HZ
}

// procTicks is utime+stime of a process, in clock ticks.
func procTicks(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, true
}
