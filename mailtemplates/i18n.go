package mailtemplates

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/Stockholm without the host's zoneinfo (distroless images have none)
)

//go:embed i18n/*.json
var i18nFS embed.FS

// Languages utskick speaks to subscribers, the first being the default.
var Languages = []string{"sv", "en"}

// Catalog holds the translated strings of one language.
type Catalog map[string]string

// loadCatalogs reads the subscriber-facing words, i18n/<lang>.json.
func loadCatalogs() (map[string]Catalog, error) { return LoadCatalogs(i18nFS, "i18n") }

// LoadCatalogs reads <dir>/<lang>.json of fsys for every language, and
// any <dir>/<lang>.<part>.json beside it (one file per screen family, so
// that words added for one screen do not touch another's file), and
// checks that each language has every key of every other, so a missing
// translation fails at start-up rather than in front of a reader. A key
// defined in two files of one language is an error too. The staff
// interface's words are loaded with it.
//
// Made are words written by code rather than in a file (the English of
// the lint findings, whose wording lives with the checks), keyed by
// language; they join the files' words under the same checks.
func LoadCatalogs(fsys fs.FS, dir string, made ...map[string]Catalog) (map[string]Catalog, error) {
	out := map[string]Catalog{}
	for _, lang := range Languages {
		parts, err := fs.Glob(fsys, dir+"/"+lang+".*.json")
		if err != nil {
			return nil, fmt.Errorf("i18n %s: %w", lang, err)
		}
		c := Catalog{}
		from := map[string]string{}
		for i, m := range made {
			for k, v := range m[lang] {
				if prev, dup := from[k]; dup {
					return nil, fmt.Errorf("i18n: key %q made by code is also in %s", k, prev)
				}
				c[k], from[k] = v, fmt.Sprintf("made words %d", i)
			}
		}
		for _, name := range append([]string{dir + "/" + lang + ".json"}, parts...) {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, fmt.Errorf("i18n %s: %w", lang, err)
			}
			var part Catalog
			if err := json.Unmarshal(b, &part); err != nil {
				return nil, fmt.Errorf("i18n %s: %w", name, err)
			}
			for k, v := range part {
				if prev, dup := from[k]; dup {
					return nil, fmt.Errorf("i18n %s: key %q is also in %s", name, k, prev)
				}
				c[k], from[k] = v, name
			}
		}
		out[lang] = c
	}
	for _, a := range Languages {
		for k := range out[a] {
			for _, b := range Languages {
				if _, ok := out[b][k]; !ok {
					return nil, fmt.Errorf("i18n %s: missing key %q (%s has it)", b, k, a)
				}
			}
		}
	}
	return out, nil
}

// T returns the text for key with {name} arguments filled in; args are
// name, value pairs. An unknown key returns the key itself, visibly.
func (c Catalog) T(key string, args ...string) string {
	s, ok := c[key]
	if !ok {
		return key
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{"+args[i]+"}", args[i+1])
	}
	return s
}

// NormalizeLanguage maps anything unsupported to the default language.
func NormalizeLanguage(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		lang = lang[:i]
	}
	for _, l := range Languages {
		if l == lang {
			return l
		}
	}
	return Languages[0]
}

// Stockholm is Europe/Stockholm, where utskick's readers and staff are:
// times are stored in UTC and shown in it.
var Stockholm = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		panic(err) // embedded by time/tzdata
	}
	return loc
})
