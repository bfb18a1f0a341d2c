package bounce

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// deliveryStatusTypes are the machine-readable parts of a DSN: RFC 3464's
// and its internationalised RFC 6533 counterpart.
var deliveryStatusTypes = []string{"message/delivery-status", "message/global-delivery-status"}

// parseDSN classifies a message carrying a delivery-status part. It does not
// insist on multipart/report; report-type=delivery-status around the part,
// since the part alone is unambiguous and some MTAs get the wrapper wrong.
func parseDSN(msg, part *entity) (Report, header) {
	orig := attachedOriginal(msg)
	blocks := fieldBlocks(part.body)

	var rcpts []header
	reporter := ""
	for _, b := range blocks {
		if reporter == "" {
			reporter = stripType(b.get("reporting-mta"))
		}
		if b.has("final-recipient") || b.has("original-recipient") || b.has("action") {
			rcpts = append(rcpts, b)
		}
	}

	rcpt, action := pickRecipient(rcpts, sentTo(orig))
	if rcpt == nil {
		if len(rcpts) > 0 {
			// Every recipient was delivered, relayed or expanded: a
			// success notification, nothing to act on.
			return Report{Kind: KindUnknown}, orig
		}
		// An empty or mangled delivery-status part still marks the
		// message as a bounce; read what the human-readable part says.
		rep, textOrig := parseTextBounce(msg, true)
		rep.Reporter = reporter
		return rep, textOrig
	}

	diag := stripType(rcpt.get("diagnostic-code"))
	status := parseStatus(rcpt.get("status"))
	if status == "" {
		status = statusFromText(diag)
	}
	if diag == "" {
		analysis, _ := cutAtOriginal(humanText(msg))
		diag = codeDiagnostic(recipientSegment(analysis, []string{dsnRecipient(rcpt)}))
	}
	rep := Report{
		Recipient:  dsnRecipient(rcpt),
		Status:     status,
		Diagnostic: diag,
		MessageID:  messageID(orig),
		Reporter:   reporter,
	}
	if action == "delayed" {
		rep.Kind = KindDelayed
	} else {
		// 4.x.x, which some MTAs report as "failed" once they give up, is
		// soft unless it is a policy deferral; a failure without any code
		// is judged by its diagnostic.
		rep.Kind = FailureKind(status, diag)
	}
	return rep, orig
}

// fieldBlocks splits a report part into its field groups (RFC 3464 section
// 2.1: blank-line separated header-like blocks). Lines that are not fields
// are skipped so that one broken line does not lose a recipient.
func fieldBlocks(b []byte) []header {
	var blocks []header
	for len(b) > 0 && len(blocks) < maxBlocks {
		b = bytes.TrimLeft(b, " \t\n")
		if len(b) == 0 {
			break
		}
		h, rest, ok := readHeader(b)
		if !ok {
			_, b, _ = bytes.Cut(b, []byte("\n"))
			continue
		}
		if len(h) > 0 {
			blocks = append(blocks, h)
		}
		b = rest
	}
	return blocks
}

// pickRecipient returns the recipient block the report is about, with its
// normalised action: among the failed recipients, else the delayed ones,
// the one whose address is one we sent to, else the first. A DSN can list
// recipients that were not ours (an alias expanded at the receiver) and
// each has its own status. Recipients without an Action field get one
// inferred from their Status class.
func pickRecipient(rcpts []header, ours []string) (header, string) {
	for _, want := range []string{"failed", "delayed"} {
		var first header
		for _, r := range rcpts {
			if recipientAction(r) != want {
				continue
			}
			if first == nil {
				first = r
			}
			for _, name := range []string{"original-recipient", "final-recipient"} {
				if a := normalizeAddress(stripType(r.get(name))); a != "" && contains(ours, a) {
					return r, want
				}
			}
		}
		if first != nil {
			return first, want
		}
	}
	return nil, ""
}

func recipientAction(r header) string {
	if f := strings.Fields(strings.ToLower(r.get("action"))); len(f) > 0 {
		return strings.TrimRight(f[0], ";,.")
	}
	switch statusClass(parseStatus(r.get("status"))) {
	case '5', '4':
		return "failed"
	case '2':
		return "delivered"
	}
	return ""
}

// dsnRecipient prefers Original-Recipient, the address exactly as we sent
// it, over Final-Recipient, which a forwarder or alias may have rewritten
// into an address that is in no list of ours.
func dsnRecipient(r header) string {
	for _, name := range []string{"original-recipient", "final-recipient"} {
		if a := normalizeAddress(stripType(r.get(name))); strings.Contains(a, "@") {
			return a
		}
	}
	return ""
}

// stripType removes the "type;" prefix of a DSN field ("rfc822; a@b",
// "dns; mx.example", "smtp; 550 ...") and collapses folding whitespace.
func stripType(v string) string {
	if t, rest, found := strings.Cut(v, ";"); found && isTypeName(strings.TrimSpace(t)) {
		v = rest
	}
	return collapse(v)
}

func isTypeName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isWordByte(c) && c != '-' {
			return false
		}
	}
	return true
}

// normalizeAddress turns an address field value into a bare lower-case
// address: angle brackets and trailing comments go, and RFC 6533
// \x{HEX} escapes are decoded.
func normalizeAddress(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	if f := strings.Fields(v); len(f) > 0 {
		v = f[0]
	} else {
		return ""
	}
	return strings.ToLower(decodeUnicodeEscapes(v))
}

// decodeUnicodeEscapes decodes the \x{HEX} form RFC 6533 uses to carry
// non-ASCII addresses in ASCII-only fields. Malformed escapes stay as they
// are.
func decodeUnicodeEscapes(s string) string {
	if !strings.Contains(s, `\x{`) {
		return s
	}
	var sb strings.Builder
	for {
		i := strings.Index(s, `\x{`)
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		n, err := strconv.ParseUint(s[i+3:i+j], 16, 32)
		if err != nil || !utf8.ValidRune(rune(n)) {
			sb.WriteString(s[:i+j+1])
		} else {
			sb.WriteString(s[:i])
			sb.WriteRune(rune(n))
		}
		s = s[i+j+1:]
	}
	sb.WriteString(s)
	return sb.String()
}
