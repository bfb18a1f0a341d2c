package bounce

import (
	"regexp"
	"strings"
)

// Local-part prefixes of the addresses that carry a delivery token.
const (
	prefixBounces     = "bounces"
	prefixUnsubscribe = "unsubscribe"
)

// Token length bounds. Tokens are unpadded lower-case base32; anything
// outside these bounds is some other plus-address, not ours.
const (
	minTokenLen = 20
	maxTokenLen = 120
)

// TokenFromAddress returns the token in a "<prefix>+<token>@domain" address
// for prefix "bounces" or "unsubscribe" (matched case-insensitively and
// returned lower-case), and which prefix it was. The token is lower-cased
// and must be 20 to 120 characters of unpadded base32 (a-z, 2-7).
// Surrounding angle brackets, a display name, a "mailto:" scheme and a URL
// query are tolerated, so List-Unsubscribe entries can be passed as they are.
func TokenFromAddress(addr string) (prefix, token string, ok bool) {
	a := strings.TrimSpace(addr)
	if i := strings.LastIndexByte(a, '<'); i >= 0 {
		if j := strings.IndexByte(a[i:], '>'); j > 0 {
			a = a[i+1 : i+j]
		}
	}
	if len(a) >= len("mailto:") && strings.EqualFold(a[:len("mailto:")], "mailto:") {
		a = a[len("mailto:"):]
	}
	a, _, _ = strings.Cut(a, "?")
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.ContainsAny(a[at+1:], " \t\r\n<>\"") {
		return "", "", false
	}
	p, t, found := strings.Cut(a[:at], "+")
	if !found {
		return "", "", false
	}
	p = strings.ToLower(p)
	if p != prefixBounces && p != prefixUnsubscribe {
		return "", "", false
	}
	t = strings.ToLower(t)
	if !validToken(t) {
		return "", "", false
	}
	return p, t, true
}

func validToken(t string) bool {
	if len(t) < minTokenLen || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// addrRe finds addr-specs in header values and free text. It is looser
// than RFC 5322 (no quoted local parts) and stricter than what people type,
// which is right for finding machine-generated addresses.
var addrRe = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*`)

// maxAddrsPerValue bounds the work per header value; real ones hold a few.
const maxAddrsPerValue = 50

// addressedFields are the fields naming whom the message was delivered to,
// in the order they are searched.
var addressedFields = []string{"to", "delivered-to", "x-original-to", "envelope-to"}

// addressedTokens returns the first bounces+ and the first unsubscribe+
// token among the addresses the message was delivered to: the envelope
// recipients first, as they cannot be forged by the sender, then the
// addressed header fields.
func addressedTokens(h header, envelopeRcpts []string) (bounces, unsubscribe string) {
	note := func(addr string) {
		prefix, token, ok := TokenFromAddress(addr)
		switch {
		case !ok:
		case prefix == prefixBounces && bounces == "":
			bounces = token
		case prefix == prefixUnsubscribe && unsubscribe == "":
			unsubscribe = token
		}
	}
	for _, rcpt := range envelopeRcpts {
		note(rcpt)
	}
	for _, name := range addressedFields {
		for _, v := range h.values(name) {
			for _, addr := range addrRe.FindAllString(v, maxAddrsPerValue) {
				note(addr)
			}
		}
	}
	return bounces, unsubscribe
}

// tokenFromOriginal searches the header of a returned original message:
// Return-Path (our VERP sender), List-Unsubscribe, then any bounces+
// address at all, since some MTAs rewrite or drop Return-Path but keep
// e.g. Sender or an X-header with the envelope sender.
func tokenFromOriginal(orig header) string {
	for _, name := range []string{"return-path", "list-unsubscribe"} {
		for _, v := range orig.values(name) {
			for _, addr := range addrRe.FindAllString(v, maxAddrsPerValue) {
				if _, token, ok := TokenFromAddress(addr); ok {
					return token
				}
			}
		}
	}
	for _, f := range orig {
		for _, addr := range addrRe.FindAllString(f.value, maxAddrsPerValue) {
			if prefix, token, ok := TokenFromAddress(addr); ok && prefix == prefixBounces {
				return token
			}
		}
	}
	return ""
}
