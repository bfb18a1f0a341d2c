package mailtemplates

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Recipient is everything about one recipient that a message needs.
type Recipient struct {
	Email      string
	Name       string
	Language   string
	Attributes map[string]any
	// UnsubscribeURL is the one-click https link (also the body link);
	// UnsubscribeMailto the mailto: alternative for List-Unsubscribe.
	UnsubscribeURL    string
	UnsubscribeMailto string
	PreferencesURL    string
	MessageID         string // without angle brackets
	Date              time.Time
	// Headers are added after the campaign's own (Feedback-ID, ...).
	Headers []Header
	// LinkURL, when set, gives the tracked URL of link i of a campaign
	// compiled with Tracking.Clicks; nil writes the original links.
	LinkURL func(i int) string
	// OpenURL, when set, is the open pixel's URL (Tracking.Opens).
	OpenURL string
}

// WriteOptions vary one message.
type WriteOptions struct {
	SubjectPrefix string // "[TEST] " for test sends
}

func (c *Compiled) variant(lang string) *variant { return c.variants[NormalizeLanguage(lang)] }

// buildStaticHeader pre-formats the headers that are the same for every
// recipient.
func (c *Compiled) buildStaticHeader() []byte {
	var b bytes.Buffer
	writeHeader(&b, "From", addressHeader(len("From"), c.in.From))
	if c.in.ListID != "" {
		writeHeader(&b, "List-Id", listIDValue(c.in.ListName, c.in.ListID))
	}
	writeHeader(&b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	for _, h := range c.in.Headers {
		writeHeader(&b, h.Name, h.Value)
	}
	writeHeader(&b, "MIME-Version", "1.0")
	writeHeader(&b, "Content-Type", `multipart/alternative; boundary="`+c.boundary+`"`)
	return b.Bytes()
}

func listIDValue(name, id string) string {
	if name == "" {
		return "<" + id + ">"
	}
	return mime.QEncoding.Encode("utf-8", name) + " <" + id + ">"
}

// MaxSubjectChars caps a subject once its placeholders are filled in: a
// 3,000-character attribute once made a 3,082-character header line that
// the receiving server refused (554), a permanent failure. Phones show
// about 60 characters; the rest is cut on a whole character with "…".
const MaxSubjectChars = 255

// Subject returns the recipient's subject line, unencoded, at most
// MaxSubjectChars long.
func (c *Compiled) Subject(r *Recipient) string {
	var b strings.Builder
	for _, p := range c.subject {
		if p.ph < 0 {
			b.WriteString(p.raw)
		} else {
			b.WriteString(oneLine(c.placeholders[p.ph].value(r)))
		}
	}
	return capChars(b.String(), MaxSubjectChars)
}

// capChars cuts s to at most n characters, whole ones, ending in "…".
func capChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return strings.TrimRight(s[:i], " ") + "…"
}

// oneLine keeps a header value on one line whatever a subscriber's name
// contains.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// WriteMessage appends the complete RFC 5322 message for r to buf, with
// CRLF line endings.
func (c *Compiled) WriteMessage(buf *bytes.Buffer, r *Recipient, o WriteOptions) {
	v := c.variant(r.Language)
	writeHeader(buf, "Date", r.Date.Format(time.RFC1123Z))
	writeHeader(buf, "To", addressHeader(len("To"), mail.Address{Name: oneLine(r.Name), Address: r.Email}))
	writeHeader(buf, "Subject", encodeHeaderText(len("Subject"), capChars(o.SubjectPrefix+c.Subject(r), MaxSubjectChars)))
	writeHeader(buf, "Message-ID", "<"+r.MessageID+">")
	if r.UnsubscribeURL != "" {
		lu := "<" + r.UnsubscribeURL + ">"
		if r.UnsubscribeMailto != "" {
			lu += ",\r\n <" + r.UnsubscribeMailto + ">"
		}
		writeHeader(buf, "List-Unsubscribe", lu)
	}
	for _, h := range r.Headers {
		writeHeader(buf, h.Name, h.Value)
	}
	buf.Write(c.staticHeader)
	buf.WriteString("\r\n")
	buf.WriteString("--" + c.boundary + "\r\n")
	buf.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	c.writeQP(buf, v.text, r)
	buf.WriteString("\r\n--" + c.boundary + "\r\n")
	buf.WriteString("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	c.writeQP(buf, v.html, r)
	buf.WriteString("\r\n--" + c.boundary + "--\r\n")
}

func (c *Compiled) writeQP(buf *bytes.Buffer, ps []piece, r *Recipient) {
	var scratch [256]byte
	col := 0
	for i, p := range ps {
		if p.ph < 0 {
			buf.Write(p.qp)
			col = p.col
		} else {
			enc, n := appendQP(scratch[:0], escape(c.placeholders[p.ph].value(r), p.ctx), 0)
			buf.Write(enc)
			col = n
		}
		if i+1 < len(ps) && col > 0 {
			buf.WriteString("=\r\n")
			col = 0
		}
	}
}

// HTML returns the recipient's HTML part, decoded, for previews.
func (c *Compiled) HTML(r *Recipient) string { return c.plain(c.variant(r.Language).html, r) }

// Text returns the recipient's plain-text part, decoded, for previews.
func (c *Compiled) Text(r *Recipient) string { return c.plain(c.variant(r.Language).text, r) }

func (c *Compiled) plain(ps []piece, r *Recipient) string {
	var b strings.Builder
	for _, p := range ps {
		if p.ph < 0 {
			b.WriteString(p.raw)
		} else {
			b.WriteString(escape(c.placeholders[p.ph].value(r), p.ctx))
		}
	}
	return b.String()
}

// maxLine is RFC 5322's recommended line length (2.1.1), without CRLF.
const maxLine = 78

// writeHeader writes "Name: value\r\n". Values are already encoded;
// writeHeader folds them at their spaces so that lines stay within 78
// characters where they can (RFC 5322 2.2.3).
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(fold(len(name)+2, value))
	b.WriteString("\r\n")
}

// fold breaks value before a space wherever a line would pass maxLine;
// start is the length of what precedes value on its first line. Existing
// folds are kept. A word longer than a line stays whole (the callers
// encode text that has one).
func fold(start int, value string) string {
	if start+len(value) <= maxLine && !strings.Contains(value, "\r\n") {
		return value
	}
	var out strings.Builder
	for i, seg := range strings.Split(value, "\r\n") {
		col := start
		if i > 0 {
			out.WriteString("\r\n")
			col = 0
		}
		for j, w := range strings.Split(seg, " ") {
			switch {
			case j == 0:
				out.WriteString(w)
				col += len(w)
			case w != "" && col+1+len(w) > maxLine && col > 1:
				out.WriteString("\r\n " + w)
				col = 1 + len(w)
			default:
				out.WriteString(" " + w)
				col += 1 + len(w)
			}
		}
	}
	return out.String()
}

// fits tells whether fold(start, v) keeps every line within maxLine.
func fits(start int, v string) bool {
	for i, w := range strings.Split(v, " ") {
		if i == 0 && start+len(w) > maxLine || len(w)+1 > maxLine {
			return false
		}
	}
	return true
}

// addressHeader writes a as a From or To value that folds within maxLine:
// a display name that cannot (one long word) is written as encoded words,
// one per line, and the address on a line of its own.
func addressHeader(nameLen int, a mail.Address) string {
	v := a.String()
	if fits(nameLen+2, v) {
		return v
	}
	if a.Name == "" {
		return v // an address alone cannot be folded; the API bounds it
	}
	return qWords(nameLen, a.Name) + "\r\n <" + a.Address + ">"
}

// encodeHeaderText encodes unstructured header text (a subject): printable
// ASCII as it is, folded at its spaces; text that is not (other
// characters, a word too long for a line, or something that reads like
// an encoded word) as RFC 2047 Q-encoded words of at most 75 characters,
// one per line, so that no line, counting the header name (nameLen
// characters and ": "), passes 76 characters.
func encodeHeaderText(nameLen int, s string) string {
	plain := !strings.Contains(s, "=?")
	for i := 0; i < len(s) && plain; i++ {
		if s[i] >= 0x80 || s[i] < 0x20 || s[i] == 0x7f {
			plain = false
		}
	}
	if plain && fits(nameLen+2, s) {
		return s
	}
	return qWords(nameLen, s)
}

// qWords is s as Q-encoded words, each holding whole characters, the
// first fitting after "Name: ", separated by CRLF SP.
func qWords(nameLen int, s string) string {
	const open, closing = "=?utf-8?q?", "?="
	var out strings.Builder
	var word strings.Builder
	limit := min(75, 76-nameLen-2) // the first line holds "Name: "
	flush := func() {
		if out.Len() > 0 {
			out.WriteString("\r\n ")
		}
		out.WriteString(open + word.String() + closing)
		word.Reset()
		limit = 75 // continuation lines start with a space
	}
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < 0x80 && r > 0x20 && r != '=' && r != '?' && r != '_' && r != '"' && r != '(' && r != ')':
			enc = string(r)
		default:
			var b [4]byte
			n := utf8.EncodeRune(b[:], r)
			for _, c := range b[:n] {
				enc += "=" + string(hexUpper[c>>4]) + string(hexUpper[c&15])
			}
		}
		if len(open)+word.Len()+len(enc)+len(closing) > limit {
			flush()
		}
		word.WriteString(enc)
	}
	if word.Len() > 0 || out.Len() == 0 {
		flush()
	}
	return out.String()
}
