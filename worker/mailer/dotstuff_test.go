package mailer

import "testing"

func TestDotStuffDoublesOnlyADotThatStartsALine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"no dots here\r\n", "no dots here\r\n"},
		{"example.org and a.b.c\r\nnext.line\r\n", "example.org and a.b.c\r\nnext.line\r\n"},
		{".first\r\n", "..first\r\n"},
		{"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n"},
		{"a\r\n..x\r\n", "a\r\n...x\r\n"},
		{"end\r\n.", "end\r\n.."},
		{"lf only\n.x\n", "lf only\n..x\n"},
		{"mid .dot\r\n x.\r\n", "mid .dot\r\n x.\r\n"},
	} {
		if got := string(dotStuff([]byte(c.in))); got != c.want {
			t.Errorf("dotStuff(%q) = %q, want %q", c.in, got, c.want)
		}
		if got, want := lineStartsWithDot([]byte(c.in)), c.in != c.want; got != want {
			t.Errorf("lineStartsWithDot(%q) = %v, want %v", c.in, got, want)
		}
	}
}
