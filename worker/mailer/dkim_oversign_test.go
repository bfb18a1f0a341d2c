package mailer

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// campaignLike is a message with the headers a campaign carries, CRLF and
// quoted-printable like mailtemplates writes it.
func campaignLike(body string) []byte {
	return []byte("Date: Mon, 23 Nov 2026 09:30:00 +0100\r\n" +
		"To: =?utf-8?q?L=C3=A4sare?= <reader@example.org>\r\n" +
		"Subject: =?utf-8?q?Senaste_nytt_f=C3=B6r_J=C3=A4rf=C3=A4lla?=\r\n" +
		"Message-ID: <d1.c1.abc@example.se>\r\n" +
		"List-Unsubscribe: <https://news.example.se/unsubscribe/tok>,\r\n <mailto:unsubscribe+tok@example.se?subject=unsubscribe>\r\n" +
		"From: =?utf-8?q?F=C3=B6rbundet?= <nyhetsbrev@example.se>\r\n" +
		"List-Id: Senaste nytt <senaste-nytt.example.se>\r\n" +
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
		"Precedence: bulk\r\n" +
		"Feedback-ID: c1:l1:abc:utskick\r\n" +
		"Reply-To: redaktionen@example.se\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" + body)
}

const qpBody = "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"Hej L=C3=A4sare,\r\nDet h=C3=A4r =C3=A4r m=C3=A5nadens nyheter.\r\n\r\n--b1--\r\n"

var (
	signersOnce sync.Once
	signerSet   map[string]*DKIM
	signersErr  error
)

// signers returns the three signing styles: RSA-2048, Ed25519 and both.
// The keys are made once per test binary: an RSA key takes a while.
func signers(t testing.TB) map[string]*DKIM {
	t.Helper()
	signersOnce.Do(func() {
		mk := func(alg, sel string) *DKIM {
			k, _, err := GenerateDKIMKey(alg)
			if err != nil {
				signersErr = err
				return nil
			}
			d, err := NewDKIM("example.se", sel, k)
			if err != nil {
				signersErr = err
			}
			return d
		}
		rsa, ed := mk(DKIMRSA, "rsa"), mk(DKIMEd25519, "ed")
		if signersErr != nil {
			return
		}
		signerSet = map[string]*DKIM{"rsa": rsa, "ed25519": ed, "dual": rsa.Also(ed)}
		// The same RSA key through the system's libcrypto, where there is
		// one: what utskick signs with by default.
		if k, version := LibcryptoRSA(rsa.key); version != "" {
			lc, err := NewDKIM("example.se", "rsa", k)
			if err != nil {
				signersErr = err
				return
			}
			signerSet["rsa-libcrypto"], signerSet["dual-libcrypto"] = lc, lc.Also(ed)
		}
	})
	if signersErr != nil {
		t.Fatal(signersErr)
	}
	return signerSet
}

// TestDKIMOversignedHeadersCannotBeAdded: a second copy of any header a
// forwarder could abuse, or a first Reply-To or Sender where there was
// none, breaks every signature, for RSA, Ed25519 and dual signing, in
// go-msgauth's verifier and in dkimpy (Debian's dkimverify).
func TestDKIMOversignedHeadersCannotBeAdded(t *testing.T) {
	py := dkimpy(t)
	for name, d := range signers(t) {
		t.Run(name, func(t *testing.T) {
			want := len(d.Keys())
			var out bytes.Buffer
			if err := d.Sign(&out, campaignLike(qpBody), nil); err != nil {
				t.Fatal(err)
			}
			signed := out.Bytes()
			mustVerify(t, py, signed, want, d)
			// Headers a relay may add that the signature does not cover
			// leave it valid: the test can tell a break from a bad setup.
			mustVerify(t, py, append([]byte("Received: from relay.example.net\r\n"), signed...), want, d)

			add := func(field string) []byte {
				// Added at the top, as relays do, and at the bottom of
				// the header: verifiers pick instances from the bottom.
				i := bytes.Index(signed, []byte("\r\n\r\n"))
				return append(append(append([]byte(nil), signed[:i+2]...), field+"\r\n"...), signed[i+2:]...)
			}
			for _, field := range []string{
				"List-Id: Other list <other.example.net>",
				"List-Unsubscribe: <https://evil.example.net/u>",
				"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
				"Reply-To: someone@evil.example.net",
				"Sender: someone@evil.example.net",
				"Feedback-ID: x:y:z:evil",
				"From: someone@evil.example.net",
				"Subject: Other",
			} {
				mustFail(t, py, add(field), "a second "+strings.SplitN(field, ":", 2)[0], d)
			}
			// Without Reply-To in the message, adding one breaks it too.
			var plain bytes.Buffer
			msg := bytes.Replace(campaignLike(qpBody), []byte("Reply-To: redaktionen@example.se\r\n"), nil, 1)
			if err := d.Sign(&plain, msg, nil); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, py, plain.Bytes(), want, d)
			mustFail(t, py, append([]byte("Reply-To: someone@evil.example.net\r\n"), plain.Bytes()...), "a Reply-To where there was none", d)
		})
	}
}
