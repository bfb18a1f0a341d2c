package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module of its own with a passing, a failing and three skipped tests
// (two for the same reason, one in a subtest), and a package without
// tests.
var fixture = map[string]string{
	"go.mod": "module example.com/fixture\n\ngo 1.22\n",
	"a/a_test.go": `package a

import "testing"

func TestPasses(t *testing.T) {}

func TestNeedsPostgres(t *testing.T) { t.Skip("UTSKICK_TEST_POSTGRES not set") }

func TestEitherDatabase(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {})
	t.Run("postgres", func(t *testing.T) { t.Skipf("%s not set", "UTSKICK_TEST_POSTGRES") })
}

func TestNoReason(t *testing.T) { t.SkipNow() }
`,
	"b/b_test.go": `package b

import "testing"

func TestFails(t *testing.T) {
	t.Log("what went wrong")
	t.Fatal("want 1, got 2")
}

func TestPassesQuietly(t *testing.T) { t.Log("not shown") }
`,
	"c/c.go": "package c\n",
}

func TestSummaryCountsTestsAndNamesEachSkipReason(t *testing.T) {
	dir := t.TempDir()
	for name, body := range fixture {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "-count=1")
	var out, errb bytes.Buffer
	code := run(dir, []string{"./..."}, &out, &errb)
	got := out.String()
	t.Logf("output:\n%s", got)
	if code != 1 {
		t.Errorf("exit code %d, want go test's 1 (stderr: %s)", code, errb.String())
	}
	for _, want := range []string{
		"ok  \texample.com/fixture/a",
		"FAIL\texample.com/fixture/b",
		"?   \texample.com/fixture/c\t[no test files]",
		"what went wrong", "want 1, got 2", // a failing test's output is shown
		"tests: 4 passed, 1 failed, 3 skipped\n",
		"  skipped 2: UTSKICK_TEST_POSTGRES not set (example.com/fixture/a TestEitherDatabase/postgres, example.com/fixture/a TestNeedsPostgres)\n",
		"  skipped 1: (no reason given) (example.com/fixture/a TestNoReason)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, not := range []string{"not shown", "=== RUN", "--- SKIP", "--- PASS"} {
		if strings.Contains(got, not) {
			t.Errorf("output shows %q, which plain go test hides", not)
		}
	}
}
