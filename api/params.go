package api

import (
	"regexp"
	"strconv"
	"strings"
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

// text checks a string field: trimmed, required or not, at most max
// characters, no control characters.
func text(field string, v *string, required bool, max int) error {
	if v == nil {
		if required {
			return fieldErr(field, "is required")
		}
		return nil
	}
	*v = strings.TrimSpace(*v)
	if *v == "" && required {
		return fieldErr(field, "must not be empty")
	}
	if !utf8.ValidString(*v) {
		return fieldErr(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(*v); n > max {
		return fieldErr(field, "must be at most %d characters, got %d", max, n)
	}
	for _, r := range *v {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return fieldErr(field, "must not contain control characters")
		}
	}
	return nil
}

// oneLineText is text that must also fit on one line (names, subjects).
func oneLineText(field string, v *string, required bool, max int) error {
	if err := text(field, v, required, max); err != nil {
		return err
	}
	if v != nil && strings.ContainsAny(*v, "\n\t") {
		return fieldErr(field, "must be one line")
	}
	return nil
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
