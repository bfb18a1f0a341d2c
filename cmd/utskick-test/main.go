// Command utskick-test runs `go test` with the arguments it is given and
// prints what go test prints, followed by a summary: how many tests passed,
// failed and were skipped, and one line per reason for skipping.
//
// Plain `go test ./...` shows a skipped test only with -v, so a run on a
// machine without Postgres, Redis, Chromium or spamassassin looks as green
// as a full one. This command is the README's test command and the one
// .ci/run uses, so that every run says what it did not test:
//
//	go run ./cmd/utskick-test -race ./...
//
// With -v everything go test prints is passed through as well.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
)

func main() {
	os.Exit(run(".", os.Args[1:], os.Stdout, os.Stderr))
}

// run runs go test -json args in dir, writes the readable output and the
// summary to stdout, and returns go test's exit code.
func run(dir string, args []string, stdout, stderr io.Writer) int {
	cmd := exec.Command("go", append([]string{"test", "-json"}, args...)...)
	cmd.Dir = dir
	cmd.Stderr = stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	s := newSummary(stdout, slices.Contains(args, "-v"))
	s.read(pipe)
	err = cmd.Wait()
	s.print()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode()
	case err != nil:
		fmt.Fprintln(stderr, err)
		return 2
	case s.failed > 0:
		return 1
	}
	return 0
}

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output
}

type testKey struct{ pkg, test string }

// summary turns the event stream into go test's usual output and counts
// what happened.
type summary struct {
	w       io.Writer
	verbose bool
	out     map[testKey][]string // output of tests and packages not yet ended

	passed, failed, skipped int
	reasons                 map[string][]string // skip reason → tests
}

func newSummary(w io.Writer, verbose bool) *summary {
	return &summary{w: w, verbose: verbose, out: map[testKey][]string{}, reasons: map[string][]string{}}
}

func (s *summary) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// Not an event (go test prints a few plain lines, such as
			// a build error in an older toolchain): pass it on.
			fmt.Fprintln(s.w, sc.Text())
			continue
		}
		s.event(e)
	}
}

func (s *summary) event(e event) {
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.w, e.Output)
	case "output":
		if s.verbose {
			fmt.Fprint(s.w, e.Output)
			if e.Test != "" {
				s.out[k] = append(s.out[k], e.Output) // for the skip reason
			}
			return
		}
		s.out[k] = append(s.out[k], e.Output)
	case "pass", "fail", "skip":
		lines := s.out[k]
		delete(s.out, k)
		if e.Test == "" {
			s.packageEnd(e, lines)
			return
		}
		switch e.Action {
		case "pass":
			s.passed++
		case "fail":
			s.failed++
			if !s.verbose {
				for _, l := range lines {
					if !running.MatchString(l) {
						fmt.Fprint(s.w, l)
					}
				}
			}
		case "skip":
			s.skipped++
			r := skipReason(lines)
			s.reasons[r] = append(s.reasons[r], shortPkg(e.Package)+" "+e.Test)
		}
	}
}

// packageEnd prints what go test prints for a package without -v: one
// line when it passed, everything it printed when it failed.
func (s *summary) packageEnd(e event, lines []string) {
	if e.Action == "fail" {
		// Output of tests still running when the package failed (a
		// panic, a timeout) belongs to the failure.
		for k, l := range s.out {
			if k.pkg == e.Package {
				lines = append(l, lines...)
				delete(s.out, k)
			}
		}
	}
	if s.verbose {
		return
	}
	for _, l := range lines {
		if e.Action == "fail" || strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "?") ||
			strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "--- FAIL") {
			fmt.Fprint(s.w, l)
		}
	}
}

var (
	running  = regexp.MustCompile(`^=== (RUN|PAUSE|CONT|NAME)`)
	framing  = regexp.MustCompile(`^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (SKIP|PASS|FAIL))`)
	location = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)
)

// skipReason is what a skipped test logged, without file and line: the
// message of its t.Skip.
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		if framing.MatchString(l) {
			continue
		}
		l = strings.TrimSpace(location.ReplaceAllString(l, ""))
		if l != "" {
			msg = append(msg, l)
		}
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msg, " / ")
}

func shortPkg(p string) string {
	if i := strings.Index(p, "/utskick/"); i >= 0 {
		return p[i+len("/utskick/"):]
	}
	return p
}

// maxReasons bounds the summary: reasons beyond it are counted, not listed.
const maxReasons = 15

func (s *summary) print() {
	fmt.Fprintf(s.w, "\ntests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	type reason struct {
		text  string
		tests []string
	}
	var rs []reason
	for t, ts := range s.reasons {
		rs = append(rs, reason{t, ts})
	}
	sort.Slice(rs, func(i, j int) bool {
		if len(rs[i].tests) != len(rs[j].tests) {
			return len(rs[i].tests) > len(rs[j].tests)
		}
		return rs[i].text < rs[j].text
	})
	for i, r := range rs {
		if i == maxReasons {
			fmt.Fprintf(s.w, "  … and %d more reasons\n", len(rs)-maxReasons)
			break
		}
		sort.Strings(r.tests)
		eg := r.tests
		more := ""
		if len(eg) > 2 {
			eg, more = eg[:2], fmt.Sprintf(", +%d more", len(r.tests)-2)
		}
		fmt.Fprintf(s.w, "  skipped %d: %s (%s%s)\n", len(r.tests), r.text, strings.Join(eg, ", "), more)
	}
}
