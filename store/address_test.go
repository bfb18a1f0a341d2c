package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		reason   string // substring of the error, when it must fail
	}{
		{in: "anna@example.se", want: "anna@example.se"},
		{in: "  Anna.Svensson@Kommun.SE \t", want: "anna.svensson@kommun.se"},
		{in: "first+tag@sub.example.org", want: "first+tag@sub.example.org"},
		{in: "user@räksmörgås.se", want: "user@xn--rksmrgs-5wao1o.se"},
		{in: "user@EXAMPLE.se.", want: "user@example.se"},
		{in: `"anna"@example.se`, want: "anna@example.se"},
		{in: `"john doe"@example.se`, want: `"john doe"@example.se`},
		{in: `"a\"b"@example.se`, want: `"a\"b"@example.se`},
		{in: "o'neil@example.ie", want: "o'neil@example.ie"},
		{in: "", reason: "empty"},
		{in: "   ", reason: "empty"},
		{in: "anna.example.se", reason: "missing @"},
		{in: "@example.se", reason: "nothing before"},
		{in: "anna@", reason: "nothing after"},
		{in: "Anna <anna@example.se>", reason: "angle brackets"},
		{in: "anna@example.se (Anna)", reason: "domain"},
		{in: "an na@example.se", reason: "space"},
		{in: ".anna@example.se", reason: "start or end with a dot"},
		{in: "anna.@example.se", reason: "start or end with a dot"},
		{in: "an..na@example.se", reason: "two dots"},
		{in: "anna@localhost", reason: "needs a dot"},
		{in: "anna@[127.0.0.1]", reason: "IP address literals"},
		{in: "anna@1.2.3.4", reason: "end in a number"},
		{in: "anna@-x.se", reason: "domain"},
		{in: "anna@x..se", reason: "empty part"},
		{in: "anna@ex_ample.se", reason: "domain"},
		{in: "åsa@example.se", reason: "outside ASCII"},
		{in: strings.Repeat("a", 65) + "@example.se", reason: "64"},
		{in: "a@" + strings.Repeat("b", 64) + ".se", reason: "63"},
		{in: "a@b@example.se", reason: "more than one @"},
		{in: `"unterminated@example.se`, reason: "quote"},
		{in: "anna@exa\x00mple.se", reason: "domain"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := store.NormalizeEmail(tc.in)
			if tc.reason != "" {
				if err == nil {
					t.Fatalf("NormalizeEmail(%q) = %q, want error containing %q", tc.in, got, tc.reason)
				}
				if !errors.Is(err, store.ErrInvalidAddress) {
					t.Fatalf("error %v does not match ErrInvalidAddress", err)
				}
				if !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("error %q does not mention %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeEmail(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzNormalizeEmail checks that a normalised address is stable (a second
// pass changes nothing), bounded and free of characters that would break a
// header or an SMTP command.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"anna@example.se", " A@B.se ", `"a b"@x.se`, "x@räksmörgås.se", "a@b", "<a@b.se>", "a\r\n@b.se"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := store.NormalizeEmail(in)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidAddress) {
				t.Fatalf("error %v is not an AddressError", err)
			}
			return
		}
		if len(out) > 254 {
			t.Fatalf("%q: result longer than 254", out)
		}
		if strings.ContainsAny(out, "\r\n\x00<>") {
			t.Fatalf("%q: result has a forbidden character", out)
		}
		again, err := store.NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, out, again, err)
		}
	})
}
