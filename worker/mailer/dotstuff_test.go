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

func TestComposedMessagesAreSearchedForLeadingDotsInTheHeaderOnly(t *testing.T) {
	clean := "From: a@example.se\r\nSubject: x\r\n\r\nbody\r\n"
	if got := stuffed([]byte(clean), true); string(got) != clean {
		t.Errorf("clean composed message changed: %q", got)
	}
	// A header value may hold anything a caller put there; a dot that
	// starts one of its lines is doubled, and then the body's too.
	dotInHeader := "From: a@example.se\r\nX-Note: a\r\n.b\r\n\r\n.c\r\n"
	if got, want := string(stuffed([]byte(dotInHeader), true)), "From: a@example.se\r\nX-Note: a\r\n..b\r\n\r\n..c\r\n"; got != want {
		t.Errorf("dot in the header: got %q, want %q", got, want)
	}
	// The body of a composed message is trusted: mailtemplates never
	// writes a dot at the start of a body line (its own tests check).
	dotInBody := "Subject: x\r\n\r\n.c\r\n"
	if got := string(stuffed([]byte(dotInBody), true)); got != dotInBody {
		t.Errorf("composed body was searched: %q", got)
	}
	if got, want := string(stuffed([]byte(dotInBody), false)), "Subject: x\r\n\r\n..c\r\n"; got != want {
		t.Errorf("other message: got %q, want %q", got, want)
	}
}
