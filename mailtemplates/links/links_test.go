package links

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRoundTripAndTamper(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSigner([]byte("another key, also long enough!!"))
	u := Unsubscribe{SubscriberID: 42, CampaignID: 7}
	tok := s.UnsubscribeToken(u)
	if tok != strings.ToLower(tok) {
		t.Fatalf("token %q is not lower case", tok)
	}
	got, err := s.OpenUnsubscribe(tok)
	if err != nil || got != u {
		t.Fatalf("open: %+v %v", got, err)
	}
	if got, err := s.OpenUnsubscribe(strings.ToUpper(tok)); err != nil || got != u {
		t.Fatalf("upper-cased token (a mail system changed the case): %+v %v", got, err)
	}
	// Every single-character change is rejected.
	for i := range tok {
		for _, c := range "a2z7" {
			if byte(c) == tok[i] {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			if _, err := s.OpenUnsubscribe(bad); !errors.Is(err, ErrInvalid) {
				t.Fatalf("tampered token %q accepted", bad)
			}
		}
	}
	// Nor is a last character that differs only in the bits the encoding
	// leaves unused (the decoder alone would read the same bytes).
	if unused := len(tok)*5 - len(mustDecode(t, tok))*8; unused > 0 {
		last := strings.IndexByte(alphabet, tok[len(tok)-1])
		bad := tok[:len(tok)-1] + string(alphabet[last^1])
		if !bytes.Equal(mustDecode(t, bad), mustDecode(t, tok)) {
			t.Fatalf("%q and %q decode differently; the case is not tested", bad, tok)
		}
		if _, err := s.OpenUnsubscribe(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("token %q with its unused bits set accepted", bad)
		}
	} else {
		t.Fatalf("token %q has no unused bits; pick another payload", tok)
	}
	if _, err := other.OpenUnsubscribe(tok); !errors.Is(err, ErrInvalid) {
		t.Fatal("token accepted under another key")
	}
	if _, err := s.OpenPreferences(tok); !errors.Is(err, ErrInvalid) {
		t.Fatal("unsubscribe token accepted as a preferences token")
	}
	for _, junk := range []string{"", "x", "!!!!!!!!!!", strings.Repeat("a", 500), tok[:len(tok)-1]} {
		if _, err := s.OpenUnsubscribe(junk); !errors.Is(err, ErrInvalid) {
			t.Fatalf("junk %q accepted", junk)
		}
	}
	c := Confirm{SubscriberID: 3, Issued: time.Unix(1_800_000_000, 0).UTC(), ListIDs: []int64{1, 5}}
	gc, err := s.OpenConfirm(s.ConfirmToken(c))
	if err != nil || gc.SubscriberID != 3 || !gc.Issued.Equal(c.Issued) || len(gc.ListIDs) != 2 || gc.ListIDs[1] != 5 {
		t.Fatalf("confirm round trip: %+v %v", gc, err)
	}
}

func TestUndoTokenNamesItsListsAndIsNoOtherKind(t *testing.T) {
	s, _ := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	ids := make([]int64, 120) // someone who left everything on a big installation
	for i := range ids {
		ids[i] = int64(1000 + i)
	}
	u := Undo{SubscriberID: 42, Issued: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), ListIDs: ids}
	tok := s.UndoToken(u)
	got, err := s.OpenUndo(tok)
	if err != nil || got.SubscriberID != 42 || !got.Issued.Equal(u.Issued) || len(got.ListIDs) != len(ids) || got.ListIDs[119] != 1119 {
		t.Fatalf("open undo: %+v %v", got, err)
	}
	if _, err := s.OpenUnsubscribe(tok); !errors.Is(err, ErrInvalid) {
		t.Fatal("an undo token opened as an unsubscribe token")
	}
	if _, err := s.OpenUndo(s.ConfirmToken(Confirm{SubscriberID: 42, Issued: u.Issued, ListIDs: ids})); !errors.Is(err, ErrInvalid) {
		t.Fatal("a confirmation token opened as an undo token")
	}
}

func mustDecode(t *testing.T, tok string) []byte {
	t.Helper()
	b, err := enc.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
