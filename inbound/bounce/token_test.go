package bounce

import (
	"strings"
	"testing"
)

func TestTokenFromAddress(t *testing.T) {
	const tok = "jxsvjwodwoqqkwhcclvukehsyo3vmv7o"
	tests := []struct {
		name       string
		addr       string
		wantPrefix string
		wantToken  string
		wantOK     bool
	}{
		{"bounces", "bounces+" + tok + "@" + domain, "bounces", tok, true},
		{"unsubscribe", "unsubscribe+" + tok + "@" + domain, "unsubscribe", tok, true},
		{"upper-case prefix and token", "BOUNCES+" + strings.ToUpper(tok) + "@" + strings.ToUpper(domain), "bounces", tok, true},
		{"mixed-case unsubscribe", "UnSubscribe+" + tok + "@" + domain, "unsubscribe", tok, true},
		{"angle brackets", "<bounces+" + tok + "@" + domain + ">", "bounces", tok, true},
		{"display name", "Storsthlm <bounces+" + tok + "@" + domain + ">", "bounces", tok, true},
		{"mailto URL with query", "<mailto:unsubscribe+" + tok + "@" + domain + "?subject=unsubscribe>", "unsubscribe", tok, true},
		{"surrounding space", "  bounces+" + tok + "@" + domain + " ", "bounces", tok, true},
		{"shortest token", "bounces+" + strings.Repeat("a", 20) + "@d.example", "bounces", strings.Repeat("a", 20), true},
		{"longest token", "bounces+" + strings.Repeat("7", 120) + "@d.example", "bounces", strings.Repeat("7", 120), true},
		{"too short", "bounces+" + strings.Repeat("a", 19) + "@d.example", "", "", false},
		{"too long", "bounces+" + strings.Repeat("a", 121) + "@d.example", "", "", false},
		{"missing token", "bounces@" + domain, "", "", false},
		{"empty token", "bounces+@" + domain, "", "", false},
		{"digit outside base32", "bounces+" + tok[:31] + "1@" + domain, "", "", false},
		{"digit 8 outside base32", "bounces+" + tok[:31] + "8@" + domain, "", "", false},
		{"padding", "bounces+" + tok + "==@" + domain, "", "", false},
		{"hyphen", "bounces+" + tok[:16] + "-" + tok[16:] + "@" + domain, "", "", false},
		{"second plus", "bounces+" + tok + "+x@" + domain, "", "", false},
		{"other prefix", "newsletter+" + tok + "@" + domain, "", "", false},
		{"prefix with extra letters", "xbounces+" + tok + "@" + domain, "", "", false},
		{"no domain", "bounces+" + tok, "", "", false},
		{"empty domain", "bounces+" + tok + "@", "", "", false},
		{"space in domain", "bounces+" + tok + "@ny heter.example", "", "", false},
		{"empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix, token, ok := TokenFromAddress(tt.addr)
			if prefix != tt.wantPrefix || token != tt.wantToken || ok != tt.wantOK {
				t.Errorf("TokenFromAddress(%q) = %q, %q, %v; want %q, %q, %v",
					tt.addr, prefix, token, ok, tt.wantPrefix, tt.wantToken, tt.wantOK)
			}
		})
	}
}
