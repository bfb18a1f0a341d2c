package api

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
)

// pathID reads a positive integer path parameter.
func pathID(c echo.Context, name string) (int64, error) {
	v := c.Param(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, fieldErr(name, "must be a positive integer, not %q", v)
	}
	return id, nil
}

// queryInt reads an optional non-negative integer query parameter.
func queryInt(c echo.Context, name string, def int64) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fieldErr(name, "must be a non-negative integer, not %q", v)
	}
	return n, nil
}

// queryLimit reads ?limit= between 1 and max (default def).
func queryLimit(c echo.Context, def, max int) (int, error) {
	n, err := queryInt(c, "limit", int64(def))
	if err != nil {
		return 0, err
	}
	if n < 1 || n > int64(max) {
		return 0, fieldErr("limit", "must be between 1 and %d", max)
	}
	return int(n), nil
}

// keyset reads a page request: the cursor parameter (after or before)
// and ?limit= between 1 and max (default def).
func keyset(c echo.Context, cursor string, def, max int) (int64, int, error) {
	at, err := queryInt(c, cursor, 0)
	if err != nil {
		return 0, 0, err
	}
	limit, err := queryLimit(c, def, max)
	return at, limit, err
}

// page is the shape of every paginated response: next is the cursor to
// pass as ?after= (or ?before=), null on the last page.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  *int64 `json:"next"`
}

func newPage[T any](items []T, next int64) page[T] {
	if items == nil {
		items = []T{}
	}
	p := page[T]{Items: items}
	if next != 0 {
		p.Next = &next
	}
	return p
}

// textRule is what a text field accepts.
type textRule struct {
	max     int  // characters (runes), after trimming
	oneLine bool // no line breaks or tabs
}

// textProblem is why cleanText refused a value. The JSON API words it in
// English (checkText), the public forms in the page's language (formName).
type textProblem string

const (
	textOK      textProblem = ""
	textBlank   textProblem = "blank"    // only spaces: a value that looks empty is a mistake, not a name
	textBadUTF8 textProblem = "utf8"     // a browser or JSON encoder never sends it; Postgres refuses it
	textControl textProblem = "control"  // NUL and the rest of Unicode's Cc: invisible, and NUL breaks Postgres
	textLines   textProblem = "one_line" // a line break in a name or subject
	textTooLong textProblem = "too_long"
)

// cleanText is the one check of free text, for the JSON API and the
// public forms alike: s trimmed of Unicode spaces and zero-width
// characters at both ends (NBSP, ideographic space, BOM…), then refused
// if it is not valid UTF-8, holds control characters (other than line
// breaks and tabs in multi-line text), breaks a one-line rule, or is
// longer than r.max characters. "\r\n" becomes "\n" first, as a
// Windows client sends it. A value of only spaces comes back as "" with
// textBlank, so each caller decides whether that is an error.
func cleanText(s string, r textRule) (string, textProblem) {
	if !utf8.ValidString(s) {
		return s, textBadUTF8
	}
	if strings.Contains(s, "\r\n") {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	t := strings.TrimFunc(s, isEdgeSpace)
	if t == "" && s != "" {
		return "", textBlank
	}
	for _, c := range t {
		switch {
		case c == '\n' || c == '\t' || c == '\u2028' || c == '\u2029':
			if r.oneLine {
				return t, textLines
			}
		case unicode.IsControl(c):
			return t, textControl
		}
	}
	if n := utf8.RuneCountInString(t); n > r.max {
		return t, textTooLong
	}
	return t, textOK
}

// isEdgeSpace is what cleanText trims: Unicode white space and the
// invisible zero-width characters a copy from a web page or Word brings.
func isEdgeSpace(c rune) bool {
	switch c {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u180e':
		return true
	}
	return unicode.IsSpace(c)
}

// text checks an optional (or, with required, mandatory) string field of
// the JSON API with cleanText and stores the cleaned value; a refusal is
// a 400 naming the field.
func text(field string, v *string, required bool, max int) error {
	return checkText(field, v, required, textRule{max: max})
}

// oneLineText is text that must also fit on one line (names, subjects).
func oneLineText(field string, v *string, required bool, max int) error {
	return checkText(field, v, required, textRule{max: max, oneLine: true})
}

func checkText(field string, v *string, required bool, r textRule) error {
	// Each refusal carries the staff pages' words for it (Key) besides
	// the API's English, so a form shows it in the user's language.
	keyed := func(fe *FieldError, key string, args ...string) *FieldError {
		fe.Key, fe.Args = key, args
		return fe
	}
	if v == nil {
		if required {
			return keyed(fieldErr(field, "is required"), "err.required")
		}
		return nil
	}
	t, p := cleanText(*v, r)
	switch p {
	case textOK:
		if t == "" && required {
			return &FieldError{Field: field, Msg: "must not be empty", Key: "err.required"}
		}
		*v = t
		return nil
	case textBlank:
		if required {
			return &FieldError{Field: field, Msg: "must not be empty (it holds only spaces)", Key: "err.required"}
		}
		return keyed(fieldErr(field, "holds only spaces; send \"\" to leave it empty"), "err.text_blank")
	case textBadUTF8:
		return keyed(fieldErr(field, "must be valid UTF-8"), "err.text_control")
	case textControl:
		return keyed(fieldErr(field, "must not contain control characters (%s)", firstControl(t)), "err.text_control")
	case textLines:
		return keyed(fieldErr(field, "must be one line"), "err.text_one_line")
	case textTooLong:
		return &FieldError{Field: field, Msg: fmt.Sprintf("must be at most %d characters, got %d", r.max, utf8.RuneCountInString(t)),
			Key: "err.too_long", Args: []string{"max", strconv.Itoa(r.max)}}
	}
	return fieldErr(field, "is not valid text")
}

func firstControl(s string) string {
	for _, c := range s {
		if unicode.IsControl(c) && c != '\n' && c != '\t' {
			return fmt.Sprintf("U+%04X", c)
		}
	}
	return ""
}

func oneOf(field string, v *string, def string, allowed ...string) error {
	if v == nil {
		return nil
	}
	if *v == "" && def != "" {
		*v = def
	}
	for _, a := range allowed {
		if *v == a {
			return nil
		}
	}
	return fieldErr(field, "must be one of %s", strings.Join(allowed, ", "))
}

func language(field string, v *string) error {
	return oneOf(field, v, mailtemplates.Languages[0], mailtemplates.Languages...)
}

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
