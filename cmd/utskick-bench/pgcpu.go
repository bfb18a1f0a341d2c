package main

import (
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// pgCPU adds up the CPU time of the Postgres backends that serve utskick:
// those whose application_name is the run's schema (set in the DSN).
// Postgres runs on this machine (loopback), so their /proc entries are
// readable. A backend's last fraction of a second before it exits is
// missed; the pool keeps its connections through a send, so that is
// little.
type pgCPU struct {
	admin, app string
	ticks      map[int]int64 // utime+stime by backend pid, last seen
	lastList   time.Time
	pids       []int
}

func newPGCPU(adminURL, dsn string) *pgCPU {
	if adminURL == "" {
		return nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil
	}
	return &pgCPU{admin: adminURL, app: u.Query().Get("application_name"), ticks: map[int]int64{}}
}

// sample reads the backends' CPU; the list of backends is refreshed once
// a second (it takes a psql).
func (p *pgCPU) sample() {
	if p == nil {
		return
	}
	if time.Since(p.lastList) > time.Second {
		p.lastList = time.Now()
		out, err := exec.Command("psql", p.admin, "-Atc",
			"SELECT pid FROM pg_stat_activity WHERE application_name = '"+p.app+"'").Output()
		if err == nil {
			p.pids = p.pids[:0]
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					p.pids = append(p.pids, pid)
				}
			}
		}
	}
	for _, pid := range p.pids {
		if t, ok := procTicks(pid); ok && t > p.ticks[pid] {
			p.ticks[pid] = t
		}
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
