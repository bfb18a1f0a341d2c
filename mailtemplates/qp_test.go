package mailtemplates

import (
	"bytes"
	"io"
	"math/rand"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// TestQPSegmentsRoundTrip encodes text in arbitrary segments, joined with
// soft breaks the way a compiled campaign is, and decodes it with the
// standard library: the result must be the text, and no line may exceed 76
// characters.
func TestQPSegmentsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	alphabet := []string{"a", "b", " ", "\t", "=", "å", "ä", "ö", "—", "\n", ".", "x", "Z", "€", "<", ">", "\"", "\x00", "\x7f"}
	for iter := 0; iter < 2000; iter++ {
		var sb strings.Builder
		for n := r.Intn(400); n > 0; n-- {
			sb.WriteString(alphabet[r.Intn(len(alphabet))])
		}
		in := sb.String()
		var enc []byte
		col := 0
		for rest := in; rest != ""; {
			k := 1 + r.Intn(len(rest))
			enc, col = appendQP(enc, rest[:k], col)
			enc, col = appendSoftBreak(enc, col)
			rest = rest[k:]
		}
		for _, line := range bytes.Split(enc, []byte("\r\n")) {
			if len(line) > qpMaxLine {
				t.Fatalf("line of %d characters: %q", len(line), line)
			}
			if len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
				t.Fatalf("line ends in a blank: %q", line)
			}
		}
		got, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
		if err != nil {
			t.Fatalf("decode: %v\n%q", err, enc)
		}
		want := strings.ReplaceAll(in, "\n", "\r\n")
		if string(got) != want {
			t.Fatalf("round trip:\n got %q\nwant %q\n enc %q", got, want, enc)
		}
	}
}

// TestQPNeverStartsALineWithADot checks the property the mailer relies on
// to skip SMTP dot-stuffing.
func TestQPNeverStartsALineWithADot(t *testing.T) {
	enc, col := appendQP(nil, ".start\n..two\nmid.dle\n.", 0)
	enc, _ = appendSoftBreak(enc, col)
	enc2, _ := appendQP(enc, ".after a soft break", 0)
	for _, line := range bytes.Split(enc2, []byte("\r\n")) {
		if bytes.HasPrefix(line, []byte(".")) {
			t.Fatalf("line starts with a dot: %q", line)
		}
	}
	got, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc2)))
	if want := ".start\r\n..two\r\nmid.dle\r\n..after a soft break"; string(got) != want {
		t.Fatalf("decoded %q, want %q", got, want)
	}
}
