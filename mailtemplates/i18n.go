package mailtemplates

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed i18n/*.json
var i18nFS embed.FS

// Languages utskick speaks to subscribers, the first being the default.
var Languages = []string{"sv", "en"}

// Catalog holds the translated strings of one language.
type Catalog map[string]string

// loadCatalogs reads every i18n/<lang>.json and checks that each language
// has every key the default language has, so a missing translation fails at
// start-up rather than in a subscriber's mailbox.
func loadCatalogs() (map[string]Catalog, error) {
	out := map[string]Catalog{}
	for _, lang := range Languages {
		b, err := i18nFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("i18n %s: %w", lang, err)
		}
		c := Catalog{}
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("i18n %s: %w", lang, err)
		}
		out[lang] = c
	}
	for k := range out[Languages[0]] {
		for _, lang := range Languages[1:] {
			if _, ok := out[lang][k]; !ok {
				return nil, fmt.Errorf("i18n %s: missing key %q", lang, k)
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
