package csvimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Limits of one row of an import file. encoding/csv holds a whole record
// in memory (a 200 MB cell took an import from 190 MB to 2.1 GB), so the
// import reads with Reader, which keeps at most MaxRecord bytes
// of a row and skips the rest of a longer one.
const (
	MaxField  = 64 << 10  // one cell
	MaxRecord = 256 << 10 // one row, all cells
)

// RowTooLongError is a row past the limits. It was read to its end and
// not kept; reading goes on with the next row.
type RowTooLongError struct {
	Line   int64 // where the row starts
	Column int   // 1-based; 0 when the row as a whole is too long
	Limit  int   // bytes
}

func (e *RowTooLongError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("column %d is longer than %d KiB", e.Column, e.Limit>>10)
	}
	return fmt.Sprintf("the row is longer than %d KiB", e.Limit>>10)
}

// Reader reads records the way encoding/csv does with LazyQuotes and
// a variable number of fields per record (blank lines skipped, "\r\n"
// read as "\n", a quote inside a quoted field that is not doubled taken
// as it is), but with bounded memory: the fields of a record are kept up
// to the limits, and a longer record is consumed without being kept and
// reported as a *RowTooLongError.
type Reader struct {
	src      io.Reader
	buf      []byte
	pos, end int
	eof      bool
	err      error // a read error other than io.EOF

	comma     byte
	maxField  int
	maxRecord int

	line   int64 // the line the next byte is on
	offset int64 // bytes consumed

	rec    []byte // the fields of the record being read, back to back
	ends   []int  // where each kept field ends in rec
	fields []string
}

// Bytes kept by Reader that are not slices of its buffer, which moves
// when it is refilled.
var (
	quote = []byte{'"'}
	cr    = []byte{'\r'}
	lf    = []byte{'\n'}
)

// NewReader reads from r with the given delimiter (an ASCII byte other
// than a quote or a line break) and limits in bytes.
func NewReader(r io.Reader, comma byte, maxField, maxRecord int) *Reader {
	return &Reader{src: r, buf: make([]byte, 64<<10), comma: comma, maxField: maxField, maxRecord: maxRecord, line: 1}
}

// InputOffset is the number of bytes consumed so far: the end of the last
// record returned.
func (r *Reader) InputOffset() int64 { return r.offset }

// Read returns the next record and the line it starts on. The slice is
// reused by the next call. At the end it returns io.EOF; a record over the
// limits returns the fields kept before the limit was passed with a
// *RowTooLongError, after which Read may be called again.
func (r *Reader) Read() ([]string, int64, error) {
	// Skip blank lines.
	for {
		if r.need(1) == 0 {
			if r.err != nil {
				return nil, r.line, r.err
			}
			return nil, r.line, io.EOF
		}
		c := r.buf[r.pos]
		if c == '\n' {
			r.advance(1)
			r.line++
			continue
		}
		if c == '\r' {
			n := r.need(2)
			if n == 1 { // "\r" at the end of the input is dropped
				r.advance(1)
				continue
			}
			if r.buf[r.pos+1] == '\n' {
				r.advance(2)
				r.line++
				continue
			}
		}
		break
	}
	start := r.line
	r.rec, r.ends = r.rec[:0], r.ends[:0]
	var tooLong *RowTooLongError
	fieldStart := 0
	keep := func(p []byte) {
		if tooLong != nil || len(p) == 0 {
			return
		}
		switch {
		case len(r.rec)-fieldStart+len(p) > r.maxField:
			tooLong = &RowTooLongError{Line: start, Column: len(r.ends) + 1, Limit: r.maxField}
		case len(r.rec)+len(p) > r.maxRecord:
			tooLong = &RowTooLongError{Line: start, Limit: r.maxRecord}
		default:
			r.rec = append(r.rec, p...)
		}
	}
	endField := func() {
		if tooLong == nil {
			r.ends = append(r.ends, len(r.rec))
		}
		fieldStart = len(r.rec)
	}
	for {
		// One field; returns at the end of the record.
		if r.need(1) > 0 && r.buf[r.pos] == '"' {
			r.advance(1)
			if r.quotedField(keep) {
				endField()
				continue
			}
		} else if r.plainField(keep) {
			endField()
			continue
		}
		endField()
		break
	}
	if r.err != nil && !errors.Is(r.err, io.EOF) {
		return nil, start, r.err
	}
	// One string for the whole record, sliced per field, as encoding/csv
	// does: one allocation however many fields.
	all := string(r.rec)
	r.fields = r.fields[:0]
	prev := 0
	for _, e := range r.ends {
		r.fields = append(r.fields, all[prev:e])
		prev = e
	}
	if tooLong != nil {
		return r.fields, start, tooLong
	}
	return r.fields, start, nil
}

// plainField reads an unquoted field. It reports whether a delimiter
// ended it (another field follows) rather than a line break or the end.
func (r *Reader) plainField(keep func([]byte)) bool {
	for {
		if r.need(1) == 0 {
			return false
		}
		chunk := r.buf[r.pos:r.end]
		nl := bytes.IndexByte(chunk, '\n')
		seg := chunk
		if nl >= 0 {
			seg = chunk[:nl]
		}
		if i := bytes.IndexByte(seg, r.comma); i >= 0 {
			keep(seg[:i])
			r.advance(i + 1)
			return true
		}
		if nl >= 0 {
			keep(bytes.TrimSuffix(seg, []byte{'\r'}))
			r.advance(nl + 1)
			r.line++
			return false
		}
		// Neither in the buffer: keep it, except a final "\r" that may
		// be half of a "\r\n".
		n := len(seg)
		if seg[n-1] == '\r' {
			if n == 1 {
				if r.need(2) == 1 { // "\r" at the end of the input is dropped
					r.advance(1)
					return false
				}
				if r.buf[r.pos+1] == '\n' {
					r.advance(2)
					r.line++
					return false
				}
				keep(cr)
				r.advance(1)
				continue
			}
			n--
		}
		keep(seg[:n])
		r.advance(n)
	}
}

// quotedField reads a quoted field after its opening quote, with the
// rules of encoding/csv's LazyQuotes. It reports whether a delimiter
// ended it.
func (r *Reader) quotedField(keep func([]byte)) bool {
	for {
		if r.need(1) == 0 {
			return false // the input ends inside the quotes: the field ends there
		}
		chunk := r.buf[r.pos:r.end]
		q := bytes.IndexByte(chunk, '"')
		if q < 0 {
			n := len(chunk)
			if chunk[n-1] == '\r' {
				if n == 1 {
					if r.need(2) == 1 {
						r.advance(1)
						return false
					}
					if r.buf[r.pos+1] == '\n' {
						keep(lf)
						r.advance(2)
						r.line++
						continue
					}
					keep(cr)
					r.advance(1)
					continue
				}
				n-- // may be half of a "\r\n"
			}
			r.keepQuoted(chunk[:n], keep)
			r.advance(n)
			continue
		}
		r.keepQuoted(chunk[:q], keep)
		r.advance(q + 1)
		// What follows the quote decides what it was.
		if r.need(1) == 0 {
			return false
		}
		switch c := r.buf[r.pos]; {
		case c == '"': // a doubled quote is one quote
			keep(quote)
			r.advance(1)
		case c == r.comma:
			r.advance(1)
			return true
		case c == '\n':
			r.advance(1)
			r.line++
			return false
		case c == '\r' && r.need(2) == 1:
			r.advance(1)
			return false
		case c == '\r' && r.buf[r.pos+1] == '\n':
			r.advance(2)
			r.line++
			return false
		default: // a lone quote inside the field is kept (LazyQuotes)
			keep(quote)
		}
	}
}

// keepQuoted keeps p, text inside quotes: line breaks count as lines, and
// "\r\n" is kept as "\n".
func (r *Reader) keepQuoted(p []byte, keep func([]byte)) {
	r.line += int64(bytes.Count(p, []byte{'\n'}))
	for {
		i := bytes.Index(p, []byte("\r\n"))
		if i < 0 {
			keep(p)
			return
		}
		keep(p[:i])
		keep(lf)
		p = p[i+2:]
	}
}

// need makes at least n bytes available in the buffer unless the input
// ends first, and returns how many there are, up to n.
func (r *Reader) need(n int) int {
	for r.end-r.pos < n && !r.eof {
		if r.pos > 0 {
			copy(r.buf, r.buf[r.pos:r.end])
			r.end -= r.pos
			r.pos = 0
		}
		m, err := r.src.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			r.eof = true
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
		}
	}
	return min(r.end-r.pos, n)
}

func (r *Reader) advance(n int) {
	r.pos += n
	r.offset += int64(n)
}
