package api

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
)

// TestEveryContentErrorKeyHasSwedishAndEnglishWords: each key a body or
// placeholder mistake carries (mailtemplates' newProblem and
// PlaceholderError.Key) has words in every language, so that no editor
// falls back to the English.
func TestEveryContentErrorKeyHasSwedishAndEnglishWords(t *testing.T) {
	w, err := loadWebUI(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../mailtemplates/*.go")
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile(`newProblem\("([a-z_.]+)"`)
	placeholder := regexp.MustCompile(`Key: "([a-z_]+)"|placeholderProblem\{[^\n]*?, "([a-z_]+)", (?:nil|map)`)
	var keys []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range body.FindAllStringSubmatch(string(src), -1) {
			if strings.HasSuffix(m[1], ".") { // "unsafe_url."+kind
				keys = append(keys, "content."+m[1]+"link", "content."+m[1]+"image")
				continue
			}
			keys = append(keys, "content."+m[1])
		}
		for _, m := range placeholder.FindAllStringSubmatch(string(src), -1) {
			keys = append(keys, "content.placeholder."+m[1]+m[2])
		}
	}
	if len(keys) < 25 {
		t.Fatalf("found only %d content error keys: %v", len(keys), keys)
	}
	for _, k := range append(keys, "content.at_line", "content.placeholder") {
		for _, lang := range mailtemplates.Languages {
			if _, ok := w.cats[lang][k]; !ok {
				t.Errorf("%s: no %s words", k, lang)
			}
		}
	}
}
