// The module root holds no code, only this test of how the packages below
// it may depend on each other.
package utskick_test

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/storsthlm/utskick"

// moduleImports reads the imports of every package of the module from its
// non-test Go files: package directory (relative to the module root, "/"
// separated) → the module's packages it imports, sorted.
func moduleImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if dep, ok := strings.CutPrefix(p, module+"/"); ok && !slices.Contains(out[pkg], dep) {
				out[pkg] = append(out[pkg], dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, deps := range out {
		slices.Sort(deps)
	}
	return out
}

// closure is every module package that pkg depends on, directly or not.
func closure(imports map[string][]string, pkg string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, d := range imports[p] {
			if !seen[d] {
				seen[d] = true
				walk(d)
			}
		}
	}
	walk(pkg)
	var out []string
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func under(pkg string, roots ...string) bool {
	for _, r := range roots {
		if pkg == r || strings.HasPrefix(pkg, r+"/") {
			return true
		}
	}
	return false
}

// TestPackagesKeepToTheirRooms holds the layout of docs/architecture.md:
// the API depends only on the store, the rendering (mailtemplates), the
// queue's contract and the outbound HTTP guard, never on the worker or
// inbound mail; only cmd wires the worker; the queue's contract and the
// store depend on neither side.
func TestPackagesKeepToTheirRooms(t *testing.T) {
	imports := moduleImports(t, ".")
	if len(imports["api"]) == 0 || len(imports["worker"]) == 0 {
		t.Fatalf("found no imports of api or worker in %v: wrong root?", imports)
	}
	for _, dep := range closure(imports, "api") {
		if !under(dep, "store", "mailtemplates", "queue", "internal/outbound") {
			t.Errorf("api depends on %s (via %v): the API may use only store, mailtemplates, queue and internal/outbound",
				dep, why(imports, "api", dep))
		}
	}
	for pkg, deps := range imports {
		for _, dep := range deps {
			switch {
			case under(dep, "worker") && !under(pkg, "worker", "cmd"):
				t.Errorf("%s imports %s: only cmd wires the worker", pkg, dep)
			case under(dep, "api") && !under(pkg, "api", "cmd"):
				t.Errorf("%s imports %s: only cmd wires the API", pkg, dep)
			case under(dep, "inbound") && !under(pkg, "inbound", "cmd") && dep != "inbound/bounce":
				t.Errorf("%s imports %s: inbound mail is wired by cmd", pkg, dep)
			case pkg == "queue" || pkg == "store":
				t.Errorf("%s imports %s: it depends on no other part", pkg, dep)
			}
		}
	}
}

// why is one import path from pkg to dep.
func why(imports map[string][]string, pkg, dep string) []string {
	prev := map[string]string{pkg: ""}
	todo := []string{pkg}
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		if p == dep {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append([]string{p}, path...)
			}
			return path
		}
		for _, d := range imports[p] {
			if _, ok := prev[d]; !ok {
				prev[d] = p
				todo = append(todo, d)
			}
		}
	}
	return nil
}

// TestArchitectureDocListsTheImports compares the import table in
// docs/architecture.md with the code, so that the picture a newcomer reads
// is the one the compiler sees: every package, and exactly its imports.
func TestArchitectureDocListsTheImports(t *testing.T) {
	f, err := os.Open("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc := map[string][]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "<!-- imports -->"):
			in = true
			continue
		case in && strings.HasPrefix(line, "<!-- /imports -->"):
			in = false
		}
		if !in || strings.HasPrefix(line, "```") || strings.TrimSpace(line) == "" {
			continue
		}
		pkg, deps, ok := strings.Cut(line, "→")
		if !ok {
			t.Fatalf("docs/architecture.md: %q: want \"package → imports\"", line)
		}
		list := strings.FieldsFunc(deps, func(r rune) bool { return r == ',' || r == ' ' })
		list = slices.DeleteFunc(list, func(s string) bool { return s == "-" })
		slices.Sort(list)
		doc[strings.TrimSpace(pkg)] = list
	}
	if len(doc) == 0 {
		t.Fatal("docs/architecture.md has no <!-- imports --> table")
	}
	code := moduleImports(t, ".")
	for pkg, deps := range code {
		got, ok := doc[pkg]
		switch {
		case !ok:
			t.Errorf("docs/architecture.md does not list package %s (it imports %v)", pkg, deps)
		case !slices.Equal(got, deps):
			t.Errorf("docs/architecture.md: %s → %v, but the code imports %v", pkg, got, deps)
		}
	}
	for pkg := range doc {
		if _, ok := code[pkg]; !ok {
			t.Errorf("docs/architecture.md lists %s, which is not a package", pkg)
		}
	}
}
