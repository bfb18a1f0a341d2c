package api

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/lint"
)

// TestEveryLintFindingHasSwedishAndEnglishWords: each wording the lint
// can produce (lint.Messages, by Key) has an i18n string in sv and en
// naming the same {placeholders} as its English, and no lint string in
// the files is left over from a wording that no longer exists.
func TestEveryLintFindingHasSwedishAndEnglishWords(t *testing.T) {
	w, err := loadWebUI(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ph := regexp.MustCompile(`\{(\w+)\}`)
	names := func(s string) []string {
		var out []string
		for _, m := range ph.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if len(lint.Messages) < 40 {
		t.Fatalf("only %d lint wordings", len(lint.Messages))
	}
	for key, english := range lint.Messages {
		for _, lang := range mailtemplates.Languages {
			s, ok := w.cats[lang]["lint."+key]
			if !ok {
				t.Errorf("lint %s: no %s string", key, lang)
				continue
			}
			if got, want := names(s), names(english); !slices.Equal(got, want) {
				t.Errorf("lint %s in %s has placeholders %v, the finding gives %v", key, lang, got, want)
			}
		}
	}
	for _, lang := range mailtemplates.Languages {
		for k := range w.cats[lang] {
			key, ok := strings.CutPrefix(k, "lint.")
			if ok && !strings.HasPrefix(key, "why_") && lint.Messages[key] == "" {
				t.Errorf("%s has %s, which no finding uses", lang, k)
			}
		}
	}
}
