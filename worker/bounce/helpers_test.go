package bounce

import (
	"reflect"
	"strings"
	"testing"
)

func TestStatusFromText(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"said: 550 5.1.1 <a@b>: unknown", "5.1.1"},
		{"550-5.1.1 The email account does not exist", "5.1.1"},
		{"#550 5.1.10 RESOLVER.ADR.RecipientNotFound", "5.1.10"},
		{"Remote host said: 550 sorry", "5.0.0"},
		{"451 try later", "4.0.0"},
		{"421 too busy", "4.0.0"},
		{"error 4.2.2.", "4.2.2"},
		{"'552 5.2.2 quota'", "5.2.2"},
		{"host 10.4.5.6 refused", ""},
		{"host mx[192.0.2.25]", ""},
		{"Postfix 3.4.13 and v4.5.6", ""},
		{"release 5.1.1.4", ""},
		{"ring 08-555 123 45", ""},
		{"port 465 or 587 or 25", ""},
		{"x5.1.1 and 5.1.1x and 550x", ""},
		{"status 2.0.0 ok", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := statusFromText(tt.text); got != tt.want {
				t.Errorf("statusFromText(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		field string
		want  string
	}{
		{"5.1.1", "5.1.1"},
		{" 4.4.7 (delivery time expired)", "4.4.7"},
		{"2.0.0", "2.0.0"},
		{"5.7.509", "5.7.509"},
		{"5.1", ""},
		{"5.1.1.1", ""},
		{"X.1.1", ""},
		{"smtp; 5.1.1", ""},
		{"3.1.1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			if got := parseStatus(tt.field); got != tt.want {
				t.Errorf("parseStatus(%q) = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
}

func TestAddressFields(t *testing.T) {
	tests := []struct {
		field string
		want  string
	}{
		{"rfc822; Karin.Nilsson@Example.org", "karin.nilsson@example.org"},
		{"RFC822;<a@b.example>", "a@b.example"},
		{"rfc822; a@b.example (comment)", "a@b.example"},
		{"utf-8; Åsa@exempel.se", "åsa@exempel.se"},
		{`rfc822; \x{C5}sa@exempel.se`, "åsa@exempel.se"},
		{`rfc822; \x{zz}sa@exempel.se`, `\x{zz}sa@exempel.se`},
		{`rfc822; \x{`, `\x{`},
		{"a@b.example", "a@b.example"},
		{"rfc822;", ""},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			if got := normalizeAddress(stripType(tt.field)); got != tt.want {
				t.Errorf("normalizeAddress(stripType(%q)) = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
}

func TestDecodeQuotedPrintable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"escape", "a=3Db=c3=a5", "a=bå"},
		{"soft break CRLF", "long=\r\nline", "longline"},
		{"soft break LF with padding", "long= \t\nline", "longline"},
		{"malformed escape kept", "100% =ZZ off", "100% =ZZ off"},
		{"trailing equals", "end=", "end"},
		{"short escape", "x=4", "x=4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(decodeQuotedPrintable([]byte(tt.in))); got != tt.want {
				t.Errorf("decodeQuotedPrintable(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeBase64(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"aGVq\r\nc2Fu\r\n", "hejsan"},
		{"aGVqc2Fu", "hejsan"},
		{"aGVqc2E=", "hejsa"},
		{"aGVq!!c2E", "hejsa"},
		{"aGVqc", "hej"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(decodeBase64([]byte(tt.in))); got != tt.want {
				t.Errorf("decodeBase64(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitMultipart(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"LF with preamble and epilogue", "preamble\n--b\none\n--b\ntwo\n--b--\nepilogue\n", []string{"one", "two"}},
		{"CRLF", "--b\r\none\r\n--b\r\ntwo\r\n--b--\r\n", []string{"one", "two"}},
		{"transport padding", "--b  \none\n--b-- \t\n", []string{"one"}},
		{"truncated", "--b\none\n--b\ntw", []string{"one", "tw"}},
		{"longer boundary is content", "--b\n--bx\n--b--\n", []string{"--bx"}},
		{"no delimiter", "just text\n", nil},
		{"empty part", "--b\n--b--\n", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range splitMultipart([]byte(tt.body), "b", 10) {
				got = append(got, string(p))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitMultipart = %q, want %q", got, tt.want)
			}
		})
	}
	if n := len(splitMultipart([]byte(strings.Repeat("--b\n", 100)), "b", 7)); n != 7 {
		t.Errorf("splitMultipart ignored its limit: %d parts", n)
	}
}

func TestReadHeader(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     header
		wantRest string
		wantOK   bool
	}{
		{
			name:     "folding and order",
			in:       "Subject: a\n\tb\nX-A: 1\r\nx-a: 2\n\nbody",
			want:     header{{"subject", "a b"}, {"x-a", "1"}, {"x-a", "2"}},
			wantRest: "body",
			wantOK:   true,
		},
		{
			name:     "bad line after the first is skipped",
			in:       "From: a\nthis is not a field\nTo: b\n\n",
			want:     header{{"from", "a"}, {"to", "b"}},
			wantRest: "",
			wantOK:   true,
		},
		{
			name:     "whitespace-only line ends the block",
			in:       "A: 1\n \t\nB: 2\n",
			want:     header{{"a", "1"}},
			wantRest: "B: 2\n",
			wantOK:   true,
		},
		{"first line not a field", "hello world\nA: 1\n", nil, "hello world\nA: 1\n", false},
		{"first line a continuation", " A: 1\n", nil, " A: 1\n", false},
		{"space in name", "Bad Name: 1\n", nil, "Bad Name: 1\n", false},
		{"blank first line", "\nbody", nil, "body", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rest, ok := readHeader([]byte(tt.in))
			if !reflect.DeepEqual(h, tt.want) || string(rest) != tt.wantRest || ok != tt.wantOK {
				t.Errorf("readHeader = %q, %q, %v; want %q, %q, %v", h, rest, ok, tt.want, tt.wantRest, tt.wantOK)
			}
		})
	}

	many := strings.Repeat("X-A: 1\n", maxHeaderFields+10)
	if h, _, _ := readHeader([]byte(many)); len(h) != maxHeaderFields {
		t.Errorf("readHeader kept %d fields, want %d", len(h), maxHeaderFields)
	}
	long := "A: " + strings.Repeat("x", maxFieldBytes+10) + "\n" + strings.Repeat(" y\n", 10)
	if h, _, _ := readHeader([]byte(long)); len(h) != 1 || len(h[0].value) != maxFieldBytes {
		t.Errorf("readHeader kept a %d byte value, want %d", len(h[0].value), maxFieldBytes)
	}
}
