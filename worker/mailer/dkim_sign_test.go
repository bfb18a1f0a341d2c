package mailer

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// personal is a campaign-like message whose body has a long shared part
// and then a personal value, as a newsletter with a greeting after its
// first section has.
func personal(i int, lang string) []byte {
	shared := strings.Repeat("Det h=C3=A4r =C3=A4r en rad i ett nyhetsbrev, likadan f=C3=B6r alla.\r\n", 80)
	if lang == "en" {
		shared = strings.Repeat("This is a line of a newsletter, the same for everyone reading it.\r\n", 80)
	}
	body := "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		shared + fmt.Sprintf("Hej L=C3=A4sare %d, avsluta h=C3=A4r: https://news.example.se/u/%d\r\n", i, i*7919) +
		shared + "\r\n--b1--\r\n"
	return bytes.Replace(campaignLike(body), []byte("reader@example.org"), fmt.Appendf(nil, "reader%d@example.org", i), 1)
}

var bhRe = regexp.MustCompile(`bh=([^;]+);`)

// TestDKIMFastPathVerifiesEveryStyle signs personalised messages the way a
// campaign does (one BodyCache for all of them) with RSA-2048, Ed25519
// and both, and checks each with go-msgauth's verifier and dkimpy; the
// shared prefix is learnt, and the body hash is the one go-msgauth
// computes for the same message.
func TestDKIMFastPathVerifiesEveryStyle(t *testing.T) {
	py := dkimpy(t)
	for name, d := range signers(t) {
		t.Run(name, func(t *testing.T) {
			var cache BodyCache
			for i := range 6 {
				lang := "sv"
				if i == 4 {
					lang = "en" // another variant: no shared prefix, hashed whole
				}
				msg := personal(i, lang)
				var fast, ref bytes.Buffer
				if err := d.Sign(&fast, msg, &cache); err != nil {
					t.Fatal(err)
				}
				if err := d.signMsgauth(&ref, msg); err != nil {
					t.Fatal(err)
				}
				mustVerify(t, py, fast.Bytes(), len(d.Keys()), d)
				got, want := bhRe.FindSubmatch(fast.Bytes()), bhRe.FindSubmatch(ref.Bytes())
				if got == nil || want == nil || !bytes.Equal(got[1], want[1]) {
					t.Fatalf("message %d: body hash %q, go-msgauth's %q", i, got, want)
				}
				if !bytes.HasSuffix(fast.Bytes(), msg) {
					t.Fatal("the message is not written unchanged after the signature")
				}
			}
			if n := cache.prefixLen(); n < 80*60 {
				t.Fatalf("shared prefix of %d bytes learnt; the messages share more than %d", n, 80*60)
			}
			// A changed body after the shared part breaks the signature.
			var out bytes.Buffer
			if err := d.Sign(&out, personal(9, "sv"), &cache); err != nil {
				t.Fatal(err)
			}
			mustFail(t, py, bytes.Replace(out.Bytes(), []byte("Hej L=C3=A4sare 9"), []byte("Hej L=C3=A4sare 8"), 1), "a changed personal value", d)
		})
	}
}

// TestDKIMFastPathOddMessages: the cases a general signer must get right
// and utskick's own messages never show (bare line ends, folded and
// oddly spaced headers, empty and blank-ended bodies, upper-case names)
// verify too.
func TestDKIMFastPathOddMessages(t *testing.T) {
	py := dkimpy(t)
	d := signers(t)["dual"]
	for name, msg := range map[string]string{
		"bare LF":             "From: a@example.se\nTo: b@example.org\nSubject: Hej\n\nText.\nMer text.\n",
		"lone CR":             "From: a@example.se\r\nTo: b@example.org\r\nSubject: Hej\r\n\r\nText.\rMer.\r\n",
		"empty body":          "From: a@example.se\r\nTo: b@example.org\r\nSubject: Hej\r\n\r\n",
		"blank lines at end":  "From: a@example.se\r\nSubject: Hej\r\n\r\nText.\r\n\r\n\r\n",
		"no final CRLF":       "From: a@example.se\r\nSubject: Hej\r\n\r\nText.",
		"folds and spaces":    "FROM:  a@example.se  \r\nSubject:\tHej \t  d=C3=A5\r\n \tp=C3=A5 dig\r\nTo: <b@example.org>\r\n\r\nText  med   mellanrum \r\n",
		"repeated To headers": "From: a@example.se\r\nTo: b@example.org\r\nTo: c@example.org\r\nSubject: Hej\r\n\r\nText.\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := d.Sign(&out, []byte(msg), nil); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, py, out.Bytes(), 2, d)
		})
	}
	var out bytes.Buffer
	if err := d.Sign(&out, []byte("no header at all"), nil); err == nil {
		t.Fatal("a message without a header was signed")
	}
}
