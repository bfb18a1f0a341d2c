package bounce

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// The MIME work (header fields, multipart bodies, transfer encodings,
// charsets) is done by go-message. What is left here is the leniency that
// bounces need and a mail reader does not: MTAs write bounces in a hurry,
// with bad header lines, parts without a header, boundaries that do not
// match the Content-Type, lone CR line endings and truncated bodies, and a
// partial diagnostic is worth more than an error.

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
	body      []byte            // transfer-decoded body, UTF-8 for text/*
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
	raw = normalizeLines(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))
	raw = bytes.TrimLeft(raw, "\n")
	// Messages handed over from an mbox or some MDAs start with the
	// "From sender date" envelope line, which is not a header field.
	if first, rest, _ := bytes.Cut(raw, []byte("\n")); isMboxFromLine(first) {
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

// normalizeLines turns CRLF and lone CR (old Mac mailers, some gateways)
// into LF, and whitespace-only lines into empty ones: some generators put
// those between DSN field groups, and no real field is folded over one.
// Everything downstream then deals with one line ending only. It returns b
// itself when there is nothing to change.
func normalizeLines(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 && !hasBlankishLine(b) {
		return b
	}
	out := make([]byte, 0, len(b))
	lineStart := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\r' {
			if i+1 < len(b) && b[i+1] == '\n' {
				continue
			}
			c = '\n'
		}
		if c == '\n' && len(bytes.Trim(out[lineStart:], " \t")) == 0 {
			out = out[:lineStart]
		}
		out = append(out, c)
		if c == '\n' {
			lineStart = len(out)
		}
	}
	return out
}

// hasBlankishLine reports a line of only spaces and tabs.
func hasBlankishLine(b []byte) bool {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		if len(line) > 0 && len(bytes.Trim(line, " \t")) == 0 {
			return true
		}
		b = rest
	}
	return false
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
	e := &entity{header: h, mediaType: mt, params: params}
	if !strings.HasPrefix(mt, "multipart/") {
		e.body = decodeBody(mt, params, h.get("content-transfer-encoding"), body)
		return e
	}
	// RFC 2045 allows no transfer encoding on a multipart entity; go-message
	// ignores one too.
	e.body = body
	if depth >= maxDepth {
		return e
	}
	parts := splitParts(body, params["boundary"], *budget)
	if len(parts) == 0 {
		// The Content-Type names a boundary the body does not use (or
		// none): look for the one it does use.
		if b := sniffBoundary(body); b != "" && b != params["boundary"] {
			parts = splitParts(body, b, *budget)
		}
	}
	for _, p := range parts {
		if *budget <= 0 {
			break
		}
		e.parts = append(e.parts, newEntity(p.header, p.body, depth+1, budget))
	}
	return e
}

// decodeBody undoes the transfer encoding and, for text, the charset, with
// go-message. Broken encodings decode as far as they can and an unknown
// charset leaves the bytes as they are: a partial diagnostic is better
// than none.
func decodeBody(mediaType string, params map[string]string, cte string, body []byte) []byte {
	var th textproto.Header
	if cs := params["charset"]; cs != "" && strings.HasPrefix(mediaType, "text/") {
		th.Set("Content-Type", mime.FormatMediaType(mediaType, map[string]string{"charset": strings.TrimSpace(cs)}))
	}
	if cte = strings.ToLower(strings.TrimSpace(cte)); cte == "base64" || cte == "quoted-printable" {
		th.Set("Content-Transfer-Encoding", cte)
	}
	if th.Len() == 0 {
		return body
	}
	ent, err := message.New(message.Header{Header: th}, bytes.NewReader(body))
	if ent == nil {
		// Only an unknown transfer encoding returns no entity, and only
		// base64 and quoted-printable are passed on.
		_ = err
		return body
	}
	out, _ := io.ReadAll(ent.Body)
	// Encoded bodies carry their own line endings, usually CRLF.
	return normalizeLines(out)
}

// rawPart is one part of a multipart body before it is decoded.
type rawPart struct {
	header header
	body   []byte
}

// splitParts returns at most limit parts of a multipart body, split by
// go-message's multipart reader. A missing close delimiter (a truncated
// message) leaves the last part running to the end of the data, and a
// part whose header is broken keeps what could be read of it.
func splitParts(body []byte, boundary string, limit int) []rawPart {
	if boundary == "" || limit <= 0 {
		return nil
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(repairPartHeaders(body, boundary, limit)), boundary)
	var parts []rawPart
	for len(parts) < limit {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p) // io.ErrUnexpectedEOF: truncated, keep what came
		parts = append(parts, rawPart{header: fromTextproto(p.Header), body: b})
	}
	return parts
}

// repairPartHeaders makes every part header of a multipart body one that
// go-message reads: a part that starts with text instead of a header, or
// whose header has a line that is no field, gets a blank line inserted
// before that line, so the text becomes the part's body rather than an
// error that loses the rest of the message. It returns body itself when
// every part header is well formed.
func repairPartHeaders(body []byte, boundary string, limit int) []byte {
	delim := []byte("--" + boundary)
	var out []byte
	copied := 0 // body[:copied] is in out
	inHeader := false
	seen := 0
	for off := 0; off < len(body); {
		end := len(body)
		if i := bytes.IndexByte(body[off:], '\n'); i >= 0 {
			end = off + i
		}
		line := body[off:end]
		next := min(end+1, len(body))
		isDelim := false
		if tail, ok := bytes.CutPrefix(line, delim); ok {
			tail = bytes.TrimRight(tail, " \t")
			isDelim = len(tail) == 0 || string(tail) == "--"
			if isDelim && len(tail) > 0 {
				break // the close delimiter
			}
		}
		switch {
		case isDelim:
			if inHeader {
				// A header ended by the next delimiter, without the blank
				// line: the part is empty.
				out, copied = insertBlank(out, body, copied, off)
			}
			seen++
			if seen > limit {
				off = len(body)
				continue
			}
			inHeader = true
		case !inHeader:
		case len(line) == 0:
			inHeader = false
		case line[0] == ' ' || line[0] == '\t':
			// a continuation line
		case !isFieldLine(line):
			out, copied = insertBlank(out, body, copied, off)
			inHeader = false
		}
		off = next
	}
	if out == nil {
		return body
	}
	return append(out, body[copied:]...)
}

// insertBlank copies body[copied:at] to out followed by an empty line.
func insertBlank(out, body []byte, copied, at int) ([]byte, int) {
	if out == nil {
		out = make([]byte, 0, len(body)+64)
	}
	out = append(out, body[copied:at]...)
	return append(out, '\n'), at
}

// isFieldLine reports a "Name: value" line whose name go-message accepts.
func isFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// boundaryLineRe matches a line that can open a multipart part.
var boundaryLineRe = regexp.MustCompile(`(?m)^--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*$`)

// sniffBoundary finds the boundary a multipart body really uses: the first
// "--x" line that comes back later as "--x" or "--x--".
func sniffBoundary(body []byte) string {
	for _, m := range boundaryLineRe.FindAllSubmatch(body[:min(len(body), 1<<20)], 20) {
		b := strings.TrimSuffix(string(m[1]), "--")
		if b == "" {
			continue
		}
		if bytes.Count(body, []byte("\n--"+b)) >= 1 && bytes.Count(body, []byte("--"+b)) >= 2 {
			return b
		}
	}
	return ""
}

// maxHeaderBytes bounds the header block handed to go-message, as its own
// ReadOptions.MaxHeaderBytes does by default; a longer one is cut there.
const maxHeaderBytes = 1 << 20

// readHeader parses the header block at the start of b with go-message and
// returns it and the bytes after the blank line that ends it. ok is false,
// and nothing is consumed, when the first line is neither blank nor a
// header field. A bad line after the first is skipped, where go-message
// would stop: bounce generators are sloppy and a single broken line should
// not hide the rest. b must have LF line endings (see normalizeLines).
func readHeader(b []byte) (h header, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, true
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	if len(first) > 0 && (first[0] == ' ' || first[0] == '\t' || !isFieldLine(first)) {
		return nil, b, false
	}
	end, restAt := len(b), len(b)
	if b[0] == '\n' {
		end, restAt = 0, 1
	} else if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		end, restAt = i+1, i+2
	}
	block := b[:min(end, maxHeaderBytes)]
	if len(block) > 0 && block[len(block)-1] != '\n' {
		// go-message drops a last field that no line ending closes, as in
		// a message cut short by a size limit.
		block = append(block[:len(block):len(block)], '\n')
	}
	r := bytes.NewReader(block)
	br := bufio.NewReader(r)
	for len(h) < maxHeaderFields {
		th, err := textproto.ReadHeader(br)
		h = append(h, fromTextproto(th)...)
		if err == nil || err == io.EOF || r.Len()+br.Buffered() == 0 {
			break
		}
		// go-message stopped at a bad line, which it has consumed: go on
		// after it.
	}
	if len(h) > maxHeaderFields {
		h = h[:maxHeaderFields]
	}
	return h, b[restAt:], true
}

// fromTextproto converts a go-message header to a header, in order, with
// each value cut to maxFieldBytes and at most maxHeaderFields fields.
func fromTextproto(th textproto.Header) header {
	h := make(header, 0, th.Len())
	for fs := th.Fields(); fs.Next() && len(h) < maxHeaderFields; {
		v := fs.Value()
		if len(v) > maxFieldBytes {
			v = v[:maxFieldBytes]
		}
		h = append(h, field{name: strings.ToLower(fs.Key()), value: v})
	}
	return h
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

// text returns the first limit bytes of a text entity's body as a string,
// HTML reduced to text.
func (e *entity) text(limit int) string {
	s := string(e.body[:min(len(e.body), limit)])
	if e.mediaType == "text/html" {
		s = stripHTML(s)
	}
	return s
}

// wordDecoder decodes RFC 2047 encoded words in any charset go-message's
// charset package knows.
var wordDecoder = mime.WordDecoder{CharsetReader: charset.Reader}

// decodeHeader decodes RFC 2047 encoded words, returning v unchanged when it
// cannot: a raw subject still matches most patterns.
func decodeHeader(v string) string {
	s, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return s
}

// addresses returns the lower-case addresses of an address-list field,
// parsed by go-message's mail package, or nil when it does not parse.
func addresses(v string) []string {
	var th textproto.Header
	th.Set("To", v)
	mh := mail.Header{Header: message.Header{Header: th}}
	list, err := mh.AddressList("To")
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, strings.ToLower(a.Address))
	}
	return out
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
	h, _, ok := readHeader(bytes.TrimLeft(e.body, "\n"))
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
