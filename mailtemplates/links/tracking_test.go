package links

import "testing"

func TestClickAndOpenTokens(t *testing.T) {
	s, _ := NewSigner([]byte("links test key, 32 bytes long!!!"))
	click := s.Sign(KindClick, 12345, 7)
	if d, l, err := s.OpenClick(click); err != nil || d != 12345 || l != 7 {
		t.Fatalf("click: %d %d %v", d, l, err)
	}
	open := s.Sign(KindOpen, 12345)
	if d, err := s.OpenOpen(open); err != nil || d != 12345 {
		t.Fatalf("open: %d %v", d, err)
	}
	other, _ := NewSigner([]byte("another key, also 32 bytes long!"))
	bad := []string{
		click[:10] + string(rune('a'+(click[10]-'a'+1)%26)) + click[11:], // one character changed
		other.Sign(KindClick, 12345, 7),                                  // another installation's token
		s.Sign(KindOpen, 12345),                                          // an open token as a click
		s.Sign(KindBounce, 12345),                                        // a VERP token as a click
		s.Sign(KindClick, 12345, 1<<21),                                  // a link index no campaign has
		s.Sign(KindClick, 12345),                                         // no link index
		"",
	}
	for _, tok := range bad {
		if _, _, err := s.OpenClick(tok); err != ErrInvalid {
			t.Errorf("OpenClick(%q) = %v, want ErrInvalid", tok, err)
		}
	}
	if _, err := s.OpenOpen(click); err != ErrInvalid {
		t.Errorf("a click token opened as an open token: %v", err)
	}
}
