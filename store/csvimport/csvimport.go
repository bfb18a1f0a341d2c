// Package csvimport reads a subscriber import file: the header that names
// the columns (checked by the API when the file is uploaded) and the rows,
// with bounded memory, turned into store.ImportRow for the worker that
// runs the import.
package csvimport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
)

// Columns is the parsed header row of an import file.
type Columns struct {
	Comma    rune
	N        int // columns in the header
	Email    int
	Name     int // -1: none
	Language int // -1: none
	Tracking int // -1: none; tracking_consent, per row
	Attrs    []Attr
	// BOMLen is the length of a UTF-8 byte order mark before the header,
	// which Excel writes; it counts towards the bytes read.
	BOMLen int
}

// Attr is a column that becomes a subscriber attribute.
type Attr struct {
	Index int
	Name  string
}

// HeaderError says why an import file's header was refused.
type HeaderError struct{ Msg string }

func (e *HeaderError) Error() string { return e.Msg }

var attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Column names understood besides attributes. Swedish spellings are
// accepted because Swedish spreadsheets use them.
var importAliases = map[string]string{
	"email": "email", "e-mail": "email", "e-post": "email", "epost": "email", "mail": "email",
	"name": "name", "namn": "name",
	"language": "language", "lang": "language", "språk": "language", "sprak": "language",
	"tracking_consent": "tracking_consent", "tracking-consent": "tracking_consent", "tracking": "tracking_consent",
	"spårning": "tracking_consent", "sparning": "tracking_consent",
}

// importIgnored are the columns GET /subscribers.csv writes that are not
// attributes, so an export can be imported again as it is.
var importIgnored = map[string]bool{
	"id": true, "created_at": true, "updated_at": true, "status": true, "confirmed_at": true,
	"unsubscribed_at": true, "consent_basis": true, "lists": true,
}

// ReadHeader reads the header of an import file from r and returns
// the columns and a reader positioned at the first data row. The
// delimiter is whichever of , ; or tab the header uses most: Swedish Excel
// writes semicolons.
func ReadHeader(r io.Reader) (*Columns, *Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	cols := &Columns{Email: -1, Name: -1, Language: -1, Tracking: -1}
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
		cols.BOMLen = 3
	}
	first, err := br.Peek(br.Size())
	if len(first) == 0 {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, nil, fmt.Errorf("read import file: %w", err)
		}
		return nil, nil, &HeaderError{"the file is empty; the first line must name the columns, with an email column"}
	}
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	cols.Comma = ','
	best := bytes.Count(first, []byte{','})
	for _, c := range []rune{';', '\t'} {
		if n := bytes.Count(first, []byte(string(c))); n > best {
			cols.Comma, best = c, n
		}
	}
	// Rows with a wrong count are reported per row, not fatal.
	cr := NewReader(br, byte(cols.Comma), MaxField, MaxRecord)
	header, _, err := cr.Read()
	var tl *RowTooLongError
	switch {
	case errors.As(err, &tl):
		return nil, nil, &HeaderError{"the first line is not a CSV header: " + tl.Error()}
	case errors.Is(err, io.EOF):
		return nil, nil, &HeaderError{"the first line is not a CSV header: it is empty"}
	case err != nil:
		return nil, nil, fmt.Errorf("read import header: %w", err)
	}
	cols.N = len(header)
	seen := map[string]int{}
	for i, h := range header {
		name := strings.TrimSpace(h)
		if !utf8.ValidString(name) {
			return nil, nil, &HeaderError{fmt.Sprintf("column %d: the name is not valid UTF-8 (save the file as UTF-8)", i+1)}
		}
		key := strings.ToLower(name)
		if canon, ok := importAliases[key]; ok {
			key = canon
		}
		if j, dup := seen[key]; dup {
			return nil, nil, &HeaderError{fmt.Sprintf("columns %d and %d are both %q", j+1, i+1, name)}
		}
		seen[key] = i
		switch {
		case key == "email":
			cols.Email = i
		case key == "name":
			cols.Name = i
		case key == "language":
			cols.Language = i
		case key == "tracking_consent":
			cols.Tracking = i
		case importIgnored[key]:
		case name == "":
			return nil, nil, &HeaderError{fmt.Sprintf("column %d has no name", i+1)}
		case !attrNameRE.MatchString(name):
			return nil, nil, &HeaderError{fmt.Sprintf("column %d %q: attribute names are 1-64 letters, digits, _ and -", i+1, name)}
		default:
			cols.Attrs = append(cols.Attrs, Attr{Index: i, Name: name})
		}
	}
	if cols.Email < 0 {
		return nil, nil, &HeaderError{"no email column: the first line must name the columns, e.g. email,name,language"}
	}
	return cols, cr, nil
}

// maxImportAttrs bounds the attribute cells of one row, as JSON, like
// the API's attributes: a row's worth of memory stays small.
const maxImportAttrs = 16 << 10

// Row turns one record into an import row: the address normalised (or
// the reason it is refused), the name on one line, the language one
// utskick speaks, the tracking consent, and the non-empty attribute
// cells.
func (c *Columns) Row(rec []string, line int64) store.ImportRow {
	r := store.ImportRow{Line: line}
	if c.Email < len(rec) {
		r.Raw = rec[c.Email]
	}
	if len(rec) > c.N {
		for _, extra := range rec[c.N:] {
			if strings.TrimSpace(extra) != "" {
				r.Raw = reportCell(r.Raw)
				r.Invalid, r.Reason = fmt.Sprintf("%d columns, the header has %d", len(rec), c.N), store.RejectBadRow
				return r
			}
		}
	}
	cell := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return clean(strings.TrimSpace(rec[i]))
	}
	email, err := store.NormalizeEmail(r.Raw)
	// The report and the database get only valid UTF-8 without control
	// characters: Postgres refuses NUL and broken UTF-8 in text, and one
	// such cell must not fail the whole import.
	r.Raw = reportCell(r.Raw)
	if err != nil {
		var ae *store.AddressError
		r.Invalid = err.Error()
		if errors.As(err, &ae) {
			r.Invalid = ae.Reason
		}
		return r
	}
	r.Email = email
	if n := strings.Join(strings.Fields(cell(c.Name)), " "); n != "" {
		r.Name = truncateRunes(n, 200)
	}
	if l := cell(c.Language); l != "" {
		r.Language = mailtemplates.NormalizeLanguage(l)
	}
	if v := cell(c.Tracking); v != "" {
		b, ok := parseConsent(v)
		if !ok {
			r.Invalid, r.Reason = fmt.Sprintf("tracking_consent %q: want yes or no (ja/nej, true/false, 1/0)", truncateRunes(v, 40)), store.RejectBadValue
			return r
		}
		r.TrackingConsent = &b
	}
	size := 2
	for _, a := range c.Attrs {
		if v := cell(a.Index); v != "" {
			if r.Attributes == nil {
				r.Attributes = store.Attributes{}
			}
			v = truncateRunes(v, 1000)
			if size += len(a.Name) + len(v) + 6; size > maxImportAttrs {
				r.Attributes = nil
				r.Invalid, r.Reason = fmt.Sprintf("the attribute columns hold more than %d KiB", maxImportAttrs>>10), store.RejectTooLong
				return r
			}
			r.Attributes[a.Name] = v
		}
	}
	return r
}

// TooLong is the import row of a record Reader refused as too long:
// the address, if it came before the limit, and the reason.
func (c *Columns) TooLong(rec []string, tl *RowTooLongError) store.ImportRow {
	r := store.ImportRow{Line: tl.Line, Invalid: tl.Error(), Reason: store.RejectTooLong}
	if c.Email < len(rec) {
		r.Raw = reportCell(strings.TrimSpace(rec[c.Email]))
	}
	return r
}

// parseConsent reads a yes or no in the spellings spreadsheets use.
func parseConsent(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "yes", "y", "ja", "true", "sant", "1":
		return true, true
	case "no", "n", "nej", "false", "falskt", "0":
		return false, true
	}
	return false, false
}

// reportCell is a cell as it goes into the reject report: printable, and
// no longer than the report keeps (a row held until its batch is written
// must not hold a 64 KiB cell).
func reportCell(s string) string {
	return truncateRunes(clean(s), 320)
}

func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// truncateRunes cuts s after n characters, on a character boundary.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}
