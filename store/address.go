package store

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// AddressError says why an address was refused; its text is fit to show a
// subscriber or an API client ("missing @").
type AddressError struct{ Reason string }

func (e *AddressError) Error() string { return "invalid email address: " + e.Reason }

// ErrInvalidAddress matches every *AddressError with errors.Is.
var ErrInvalidAddress = errors.New("invalid email address")

// Is makes errors.Is(err, ErrInvalidAddress) true.
func (e *AddressError) Is(target error) bool { return target == ErrInvalidAddress }

func badAddr(reason string) error { return &AddressError{Reason: reason} }

// idnaProfile converts internationalised domains the way resolvers do.
var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.StrictDomainName(true))

// NormalizeEmail is the one place an address is checked and put in its
// canonical form; every way in (API, forms, imports) goes through it.
//
// It accepts an RFC 5322 addr-spec: a dot-atom or quoted-string local part
// and a domain, with no display name, comment or angle brackets. It trims
// surrounding space, turns an internationalised domain into punycode and
// lower-cases the whole address. Lower-casing the local part is not what
// RFC 5321 says, but no mailbox provider in use treats case as distinct,
// and without it "Anna@x.se" and "anna@x.se" would be two subscribers who
// each get every campaign.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s == "" {
		return "", badAddr("empty")
	}
	if !utf8.ValidString(s) {
		return "", badAddr("not valid UTF-8")
	}
	if len(s) > 512 {
		return "", badAddr("too long")
	}
	if strings.ContainsAny(s, "<>") {
		return "", badAddr("give the address only, without a name or angle brackets")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", badAddr("missing @")
	}
	local, domain := s[:at], s[at+1:]
	if local == "" {
		return "", badAddr("nothing before the @")
	}
	if domain == "" {
		return "", badAddr("nothing after the @")
	}
	local, err := normalizeLocal(local)
	if err != nil {
		return "", err
	}
	domain, err = normalizeDomain(domain)
	if err != nil {
		return "", err
	}
	addr := local + "@" + domain
	if len(addr) > 254 {
		return "", badAddr("longer than 254 characters")
	}
	return addr, nil
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func normalizeLocal(local string) (string, error) {
	if len(local) > 64 {
		return "", badAddr("the part before the @ is longer than 64 characters")
	}
	if local[0] == '"' {
		return normalizeQuoted(local)
	}
	if local[0] == '.' || local[len(local)-1] == '.' {
		return "", badAddr("the part before the @ cannot start or end with a dot")
	}
	if strings.Contains(local, "..") {
		return "", badAddr("two dots in a row")
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case c == '.' || isAtext(c):
		case c >= 0x80:
			return "", badAddr("letters outside ASCII before the @ are not supported")
		case c == ' ' || c == '\t':
			return "", badAddr("contains a space")
		case c == '(' || c == ')':
			return "", badAddr("comments are not allowed")
		case c == '@':
			return "", badAddr("more than one @")
		default:
			return "", badAddr("contains the character " + strconvQuoteByte(c))
		}
	}
	return strings.ToLower(local), nil
}

// normalizeQuoted accepts a quoted-string local part ("john doe"), keeping
// only the escapes that are needed.
func normalizeQuoted(local string) (string, error) {
	if len(local) < 2 || local[len(local)-1] != '"' {
		return "", badAddr("unterminated quotes before the @")
	}
	inner := local[1 : len(local)-1]
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case c == '\\':
			if i+1 == len(inner) {
				return "", badAddr("unterminated escape before the @")
			}
			i++
			c = inner[i]
			if c < 0x20 && c != '\t' || c >= 0x7f {
				return "", badAddr("control character before the @")
			}
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case c == '"':
			return "", badAddr("stray quote before the @")
		case c >= 0x80:
			return "", badAddr("letters outside ASCII before the @ are not supported")
		case c < 0x20 && c != '\t', c == 0x7f:
			return "", badAddr("control character before the @")
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	out := b.String()
	if out == `""` {
		return "", badAddr("nothing before the @")
	}
	// A quoted string that needs no quotes is written as a plain atom, so
	// that "anna"@x.se and anna@x.se are one subscriber.
	if plain := out[1 : len(out)-1]; isDotAtom(plain) {
		return strings.ToLower(plain), nil
	}
	return strings.ToLower(out), nil
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && !isAtext(s[i]) {
			return false
		}
	}
	return true
}

func normalizeDomain(domain string) (string, error) {
	if domain[0] == '[' {
		return "", badAddr("IP address literals are not accepted as a domain")
	}
	domain = strings.TrimSuffix(domain, ".")
	ascii, err := idnaProfile.ToASCII(domain)
	if err != nil {
		return "", badAddr("the domain is not valid")
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 {
		return "", badAddr("the domain is longer than 253 characters")
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", badAddr("the domain needs a dot, as in example.se")
	}
	for _, l := range labels {
		if l == "" {
			return "", badAddr("the domain has an empty part")
		}
		if len(l) > 63 {
			return "", badAddr("a part of the domain is longer than 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", badAddr("a part of the domain starts or ends with a hyphen")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", badAddr("the domain contains the character " + strconvQuoteByte(c))
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", badAddr("the domain cannot end in a number")
	}
	return ascii, nil
}

func strconvQuoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return "0x" + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
	}
	return "'" + string(c) + "'"
}
