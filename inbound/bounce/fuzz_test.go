package bounce

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

var allKinds = []Kind{KindHardBounce, KindSoftBounce, KindPolicyBounce, KindDelayed, KindComplaint, KindUnsubscribe, KindAutoReply, KindUnknown}

// checkReport asserts the invariants every Report must keep, whatever the
// input.
func checkReport(t *testing.T, r Report) {
	t.Helper()
	known := false
	for _, k := range allKinds {
		known = known || r.Kind == k
	}
	if !known {
		t.Errorf("Kind %q is not one of the constants", r.Kind)
	}
	for name, v := range map[string]string{
		"Recipient": r.Recipient, "Status": r.Status, "Diagnostic": r.Diagnostic, "MessageID": r.MessageID,
		"Token": r.Token, "FeedbackType": r.FeedbackType, "Reporter": r.Reporter,
	} {
		if !utf8.ValidString(v) {
			t.Errorf("%s is not valid UTF-8: %q", name, v)
		}
		if len(v) > maxFieldLen {
			t.Errorf("%s is %d bytes long", name, len(v))
		}
		for _, c := range v {
			if c < ' ' || c == 0x7f {
				t.Errorf("%s contains control character %U", name, c)
				break
			}
		}
	}
	if r.Token != "" && !validToken(r.Token) {
		t.Errorf("Token %q is not a valid token", r.Token)
	}
	if r.Status != "" && !isEnhanced(r.Status, "245") {
		t.Errorf("Status %q is not an enhanced status code", r.Status)
	}
	if (r.Kind == KindUnknown || r.Kind == KindAutoReply) && r != (Report{Kind: r.Kind, Token: r.Token}) {
		t.Errorf("unknown report carries more than a token: %#v", r)
	}
}

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed fixtures: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatalf("read seed: %v", err)
		}
		f.Add(b, "bounces+jxsvjwodwoqqkwhcclvukehsyo3vmv7o@nyheter.storsthlm.example")
		f.Add(toggleLineEndings(b), "")
	}
	f.Fuzz(func(t *testing.T, data []byte, rcpt string) {
		got, err := Parse(bytes.NewReader(data), []string{rcpt})
		if err != nil {
			if !errors.Is(err, ErrNotMail) {
				t.Errorf("error does not wrap ErrNotMail: %v", err)
			}
			if got != (Report{}) {
				t.Errorf("Parse returned %#v with an error", got)
			}
			return
		}
		checkReport(t, got)
	})
}
