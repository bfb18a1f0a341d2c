package bounce

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime"
	"regexp"
	"strings"
)

// Limits that keep a hostile message from costing much more than its own
// size in memory and time. Real bounces are far inside all of them.
const (
	maxHeaderFields = 1000     // fields kept per header block
	maxFieldBytes   = 64 << 10 // bytes kept per unfolded field value
	maxDepth        = 8        // multipart nesting followed
	maxEntities     = 256      // MIME entities built per message
	maxBlocks       = 1000     // field blocks read from a report part
)

// field is one unfolded header field.
type field struct {
	name  string // lower-case
	value string // unfolded and trimmed, still RFC 2047 encoded
}

// header is a header block in its original order. A slice rather than a
// map because order matters for token search and blocks are small.
type header []field

// get returns the first value of the lower-case field name.
func (h header) get(name string) string {
	for _, f := range h {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// has reports whether the field is present, even with an empty value.
func (h header) has(name string) bool {
	for _, f := range h {
		if f.name == name {
			return true
		}
	}
	return false
}

// values returns every value of the lower-case field name in order.
func (h header) values(name string) []string {
	var vs []string
	for _, f := range h {
		if f.name == name {
			vs = append(vs, f.value)
		}
	}
	return vs
}

// entity is one MIME entity: the message itself or one of its parts.
type entity struct {
	header    header
	mediaType string            // lower-case type/subtype
	params    map[string]string // Content-Type parameters, lower-case keys
	body      []byte            // transfer-decoded body
	parts     []*entity         // children of a multipart entity
}

// walk visits e and its descendants depth-first in document order. It never
// enters message/rfc822 bodies: a returned original message is data to be
// inspected, not part of the report's own structure.
func (e *entity) walk(fn func(*entity)) {
	fn(e)
	for _, p := range e.parts {
		p.walk(fn)
	}
}

// find returns the first entity (e itself included) whose media type is one
// of types, or nil.
func (e *entity) find(types ...string) *entity {
	var found *entity
	e.walk(func(x *entity) {
		if found == nil && contains(types, x.mediaType) {
			found = x
		}
	})
	return found
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// wellKnownFields are header fields at least one of which any real message
// has. Requiring one separates mail from arbitrary text that happens to
// start with "word: ...".
var wellKnownFields = []string{
	"from", "to", "subject", "date", "message-id", "received", "return-path",
	"content-type", "mime-version", "delivered-to", "sender", "reply-to",
}

// parseMessage splits a raw message into its MIME tree. It is lenient in
// everything except the header: input without a recognisable header block
// is not mail.
func parseMessage(raw []byte) (*entity, error) {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	raw = bytes.TrimLeft(raw, "\r\n")
	// Messages handed over from an mbox or some MDAs start with the
	// "From sender date" envelope line, which is not a header field.
	if first, rest := cutLine(raw); isMboxFromLine(first) {
		raw = rest
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrNotMail)
	}
	h, body, ok := readHeader(raw)
	if !ok {
		return nil, fmt.Errorf("%w: first line is not a header field", ErrNotMail)
	}
	known := false
	for _, f := range h {
		if contains(wellKnownFields, f.name) {
			known = true
			break
		}
	}
	if !known {
		return nil, fmt.Errorf("%w: no standard header field among %d fields", ErrNotMail, len(h))
	}
	budget := maxEntities
	return newEntity(h, body, 0, &budget), nil
}

// isMboxFromLine tells "From sender date" from an obsolete-syntax
// "From : address" header field.
func isMboxFromLine(line []byte) bool {
	rest, found := bytes.CutPrefix(line, []byte("From "))
	return found && !bytes.HasPrefix(bytes.TrimLeft(rest, " \t"), []byte(":"))
}

// newEntity builds the entity for header h and raw body, recursing into
// multipart bodies. budget counts the entities still allowed.
func newEntity(h header, body []byte, depth int, budget *int) *entity {
	*budget--
	mt, params := parseContentType(h.get("content-type"))
	e := &entity{
		header:    h,
		mediaType: mt,
		params:    params,
		body:      decodeTransfer(h.get("content-transfer-encoding"), body),
	}
	if !strings.HasPrefix(mt, "multipart/") || depth >= maxDepth || params["boundary"] == "" {
		return e
	}
	for _, raw := range splitMultipart(e.body, params["boundary"], *budget) {
		if *budget <= 0 {
			break
		}
		ph, pbody, ok := readHeader(raw)
		if !ok {
			// A part whose first line is not a field has no header;
			// keep it all as body rather than lose it.
			ph, pbody = nil, raw
		}
		e.parts = append(e.parts, newEntity(ph, pbody, depth+1, budget))
	}
	return e
}

// cutLine returns the first line of b without its line ending, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:]
}

// isBlank treats whitespace-only lines as blank: some generators emit them
// between DSN field groups, and no real field is folded over one.
func isBlank(line []byte) bool {
	return len(bytes.TrimSpace(line)) == 0
}

// readHeader parses the header block at the start of b and returns it and
// the bytes after the blank line that ends it. ok is false, and nothing is
// consumed, when the first line is neither blank nor a header field. Bad
// lines after the first are skipped: bounce generators are sloppy and a
// single broken line should not hide the rest.
func readHeader(b []byte) (h header, rest []byte, ok bool) {
	var (
		name  string
		value []byte
	)
	flush := func() {
		if name != "" {
			h = append(h, field{name: name, value: string(value)})
		}
		name = ""
	}
	for first := true; len(b) > 0; first = false {
		line, next := cutLine(b)
		switch {
		case isBlank(line):
			flush()
			return h, next, true
		case line[0] == ' ' || line[0] == '\t':
			if first {
				return nil, b, false
			}
			cont := bytes.TrimSpace(line)
			if name != "" && len(value)+1+len(cont) <= maxFieldBytes {
				value = append(append(value, ' '), cont...)
			}
		default:
			n, v, isField := splitField(line)
			if !isField {
				if first {
					return nil, b, false
				}
				break
			}
			flush()
			if len(h) < maxHeaderFields {
				name = n
				value = append(value[:0], v[:min(len(v), maxFieldBytes)]...)
			}
		}
		b = next
	}
	flush()
	return h, nil, true
}

// splitField splits "Name: value" and reports whether line is a field.
func splitField(line []byte) (name string, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", nil, false
	}
	n := bytes.TrimRight(line[:i], " \t")
	if len(n) == 0 {
		return "", nil, false
	}
	for _, c := range n {
		if c < 33 || c > 126 {
			return "", nil, false
		}
	}
	return strings.ToLower(string(n)), bytes.TrimSpace(line[i+1:]), true
}

// paramRe recovers parameters from a Content-Type that mime.ParseMediaType
// rejects (duplicate or badly quoted parameters are common in bounces).
var paramRe = regexp.MustCompile(`(?i);\s*([a-z0-9*._-]+)\s*=\s*(?:"([^"]*)"|([^\s;"]+))`)

// parseContentType returns the lower-case media type and its parameters,
// defaulting to text/plain as RFC 2045 says.
func parseContentType(v string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", nil
	}
	if mt, params, err := mime.ParseMediaType(v); err == nil {
		return mt, params
	}
	mt, _, _ := strings.Cut(v, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	params := make(map[string]string)
	for _, m := range paramRe.FindAllStringSubmatch(v, 20) {
		key := strings.ToLower(m[1])
		if _, dup := params[key]; !dup {
			params[key] = m[2] + m[3]
		}
	}
	return mt, params
}

// splitMultipart returns the bodies of the parts of a multipart body,
// at most limit of them. A missing close delimiter (a truncated message)
// leaves the last part running to the end of the data instead of losing it.
func splitMultipart(b []byte, boundary string, limit int) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1 // where the current part's content begins
	for off := 0; off < len(b) && len(parts) < limit; {
		lineEnd, next := len(b), len(b)
		if i := bytes.IndexByte(b[off:], '\n'); i >= 0 {
			lineEnd, next = off+i, off+i+1
		}
		line := bytes.TrimRight(b[off:lineEnd], " \t\r")
		if tail, found := bytes.CutPrefix(line, delim); found && (len(tail) == 0 || string(tail) == "--") {
			if start >= 0 {
				parts = append(parts, trimDelimiterNewline(b[start:off]))
			}
			if len(tail) > 0 {
				return parts
			}
			start = next
		}
		off = next
	}
	if start >= 0 && len(parts) < limit {
		parts = append(parts, b[start:])
	}
	return parts
}

// trimDelimiterNewline drops the line break before a boundary delimiter,
// which RFC 2046 makes part of the delimiter, not of the content.
func trimDelimiterNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// decodeTransfer undoes a Content-Transfer-Encoding. Broken encodings decode
// as far as they can: a partial diagnostic is better than none.
func decodeTransfer(cte string, body []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return decodeBase64(body)
	case "quoted-printable":
		return decodeQuotedPrintable(body)
	default:
		return body
	}
}

func decodeBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 { // one dangling character cannot encode a byte
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// decodeQuotedPrintable is hand-written because mime/quotedprintable stops
// at the first malformed escape, and bounce generators produce plenty.
func decodeQuotedPrintable(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
			continue
		}
		// Soft line break: "=" then optional whitespace then the line end.
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			i = j
			continue
		}
		if j == len(b) {
			break
		}
		out = append(out, c)
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	default:
		return c - '0'
	}
}

// isLatin1 lists the single-byte charsets European MTAs still label their
// bounces with. windows-1252 and ISO-8859-15 differ from ISO-8859-1 in a
// few punctuation positions only, which does not matter for classification.
func isLatin1(charset string) bool {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "iso-8859-15":
		return true
	}
	return false
}

func latin1ToUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// text returns the first limit bytes of a text entity's body as a string
// with LF line endings, HTML reduced to text.
func (e *entity) text(limit int) string {
	b := e.body[:min(len(e.body), limit)]
	var s string
	if isLatin1(e.params["charset"]) {
		s = latin1ToUTF8(b)
	} else {
		s = string(b)
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if e.mediaType == "text/html" {
		s = stripHTML(s)
	}
	return s
}

// decodeHeader decodes RFC 2047 encoded words, returning v unchanged when it
// cannot: a raw subject still matches most patterns.
func decodeHeader(v string) string {
	d := mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
		if !isLatin1(charset) {
			return nil, fmt.Errorf("unsupported charset %q", charset)
		}
		b, err := io.ReadAll(input)
		return strings.NewReader(latin1ToUTF8(b)), err
	}}
	s, err := d.DecodeHeader(v)
	if err != nil {
		return v
	}
	return s
}

var (
	htmlDropRe  = regexp.MustCompile(`(?is)<(?:script|style|head)\b.*?</(?:script|style|head)\s*>`)
	htmlBreakRe = regexp.MustCompile(`(?i)<(?:br|/?p|/?div|/?tr|/?li|/?h[1-6]|/?table)\b[^>]*>`)
	htmlTagRe   = regexp.MustCompile(`<[^>]*>`)
)

// stripHTML reduces HTML to text good enough for phrase and code matching;
// line structure is kept where block elements end so that line-based rules
// still work.
func stripHTML(s string) string {
	s = htmlDropRe.ReplaceAllString(s, " ")
	s = htmlBreakRe.ReplaceAllString(s, "\n")
	s = htmlTagRe.ReplaceAllString(s, " ")
	return html.UnescapeString(s)
}

// maxTextBytes bounds the human-readable text the heuristics scan. A
// bounce's own words fit in a few kilobytes; scanning megabytes of a
// hostile body with a dozen patterns would cost seconds per message.
const maxTextBytes = 64 << 10

// humanText returns the human-readable text of a message: its text/plain
// parts, or failing that its first text/html part, excluding attachments,
// at most about maxTextBytes of it. Returned originals are never included
// (walk does not enter them), so our own campaign text cannot be mistaken
// for a diagnostic.
func humanText(msg *entity) string {
	var (
		plain    []string
		size     int
		htmlPart *entity
	)
	msg.walk(func(e *entity) {
		if len(e.parts) > 0 || isAttachment(e) {
			return
		}
		switch {
		case e.mediaType == "text/plain" && size < maxTextBytes:
			t := e.text(maxTextBytes - size)
			plain = append(plain, t)
			size += len(t)
		case e.mediaType == "text/html" && htmlPart == nil:
			htmlPart = e
		}
	})
	if len(plain) > 0 {
		return strings.Join(plain, "\n\n")
	}
	if htmlPart != nil {
		// Markup is most of an HTML body; allow for it before stripping.
		return htmlPart.text(4 * maxTextBytes)
	}
	return ""
}

func isAttachment(e *entity) bool {
	d, _, _ := strings.Cut(e.header.get("content-disposition"), ";")
	return strings.EqualFold(strings.TrimSpace(d), "attachment")
}

// originalTypes are the media types a report uses to return the original
// message or its header (RFC 3462, RFC 5965, RFC 6533).
var originalTypes = []string{"message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"}

// attachedOriginal returns the header of the returned original message
// attached to msg, or nil.
func attachedOriginal(msg *entity) header {
	e := msg.find(originalTypes...)
	if e == nil || e == msg {
		return nil
	}
	h, _, ok := readHeader(bytes.TrimLeft(e.body, "\r\n"))
	if !ok {
		return nil
	}
	return h
}

var msgIDRe = regexp.MustCompile(`<([^<>\s]+)>`)

// messageID returns the first Message-ID of h without angle brackets.
func messageID(h header) string {
	v := h.get("message-id")
	if m := msgIDRe.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	if f := strings.Fields(v); len(f) > 0 {
		return f[0]
	}
	return ""
}
