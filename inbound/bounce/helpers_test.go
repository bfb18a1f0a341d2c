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

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name    string
		ctype   string
		charset string
		cte     string
		in      string
		want    string
	}{
		{"quoted-printable escape", "text/plain", "utf-8", "quoted-printable", "a=3Db=c3=a5", "a=bå"},
		{"soft break CRLF", "text/plain", "", "quoted-printable", "long=\r\nline", "longline"},
		{"soft break LF with padding", "text/plain", "", "quoted-printable", "long= \t\nline", "longline"},
		{"malformed escape kept", "text/plain", "", "Quoted-Printable", "100% =ZZ off", "100% =ZZ off"},
		{"base64 with CRLF content", "text/plain", "", "base64", "aGVq\r\nc2Fu\r\nDQpkw6U=\r\n", "hejsan\ndå"},
		{"broken base64 keeps the decoded start", "text/plain", "", "base64", "aGVqc2Fu!!", "hejsan"},
		{"latin-1 charset", "text/plain", "iso-8859-1", "quoted-printable", "G=F6ran", "Göran"},
		{"windows-1252 charset", "text/plain", "windows-1252", "", "\x93citat\x94", "“citat”"},
		{"unknown charset left alone", "text/plain", "x-unknown-42", "", "abc", "abc"},
		{"charset only applies to text", "message/delivery-status", "iso-8859-1", "", "\xf6", "\xf6"},
		{"unknown encoding left alone", "text/plain", "", "x-uuencode", "begin 644", "begin 644"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{}
			if tt.charset != "" {
				params["charset"] = tt.charset
			}
			if got := string(decodeBody(tt.ctype, params, tt.cte, []byte(tt.in))); got != tt.want {
				t.Errorf("decodeBody(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitParts(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"LF with preamble and epilogue", "preamble\n--b\n\none\n--b\n\ntwo\n--b--\nepilogue\n", []string{"one", "two"}},
		{"transport padding", "--b  \n\none\n--b-- \t\n", []string{"one"}},
		{"truncated", "--b\n\none\n--b\n\ntw", []string{"one", "tw"}},
		{"part without a header", "--b\nplain text\n--b--\n", []string{"plain text"}},
		{"bad line in a part header", "--b\nContent-Type: text/plain\nnot a field\n--b--\n", []string{"not a field"}},
		{"header ended by the delimiter", "--b\nContent-Type: text/plain\n--b\n\nx\n--b--\n", []string{"", "x"}},
		{"longer boundary is content", "--b\n\n--bx\n--b--\n", []string{"--bx"}},
		{"no delimiter", "just text\n", nil},
		{"empty part", "--b\n\n--b--\n", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range splitParts([]byte(tt.body), "b", 10) {
				got = append(got, string(p.body))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitParts = %q, want %q", got, tt.want)
			}
		})
	}
	if n := len(splitParts([]byte(strings.Repeat("--b\n\n", 100)), "b", 7)); n != 7 {
		t.Errorf("splitParts ignored its limit: %d parts", n)
	}
}

func TestNormalizeLines(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb\r\n":   "a\nb\n",
		"a\rb\r\rc":    "a\nb\n\nc",
		"a\n \t\nb":    "a\n\nb",
		"unchanged\n":  "unchanged\n",
		"x\r\n  \r\ny": "x\n\ny",
	} {
		if got := string(normalizeLines([]byte(in))); got != want {
			t.Errorf("normalizeLines(%q) = %q, want %q", in, got, want)
		}
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
			in:       "Subject: a\n\tb\nX-A: 1\nx-a: 2\n\nbody",
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
			name:     "blank line ends the block",
			in:       "A: 1\n\nB: 2\n",
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
