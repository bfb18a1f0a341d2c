package mailer

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

func TestDKIMKeysAndRecords(t *testing.T) {
	key, pemBytes, err := GenerateDKIMKey(DKIMRSA)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseDKIMKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDKIM("Example.SE", "s1", parsed)
	if err != nil {
		t.Fatal(err)
	}
	if d.Domain() != "example.se" || d.DNSName() != "s1._domainkey.example.se" || d.Algorithm() != DKIMRSA {
		t.Fatalf("%s %s %s", d.Domain(), d.DNSName(), d.Algorithm())
	}
	// A 2048-bit RSA record is longer than one 255-byte TXT string.
	line := d.ZoneLine()
	var joined strings.Builder
	for _, part := range strings.Split(line, `"`)[1:] {
		if strings.TrimSpace(part) == "" || strings.HasPrefix(strings.TrimSpace(part), ")") {
			continue
		}
		if len(part) > 255 {
			t.Fatalf("TXT string of %d bytes", len(part))
		}
		joined.WriteString(part)
	}
	if joined.String() != d.TXTRecord() || strings.Count(line, `"`) < 4 {
		t.Fatalf("zone line does not rebuild the record:\n%s", line)
	}

	// PKCS#1 works too; short RSA keys do not.
	der := x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))
	if _, err := ParseDKIMKey(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})); err != nil {
		t.Fatal(err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewDKIM("example.se", "s", small); err == nil {
		t.Fatal("a 1024-bit key was accepted")
	}
	if _, err := ParseDKIMKey([]byte("not pem")); err == nil {
		t.Fatal("junk parsed as a key")
	}

	// A signature verifies with the printed record, for both algorithms.
	for _, alg := range []string{DKIMRSA, DKIMEd25519} {
		k, _, _ := GenerateDKIMKey(alg)
		d, _ := NewDKIM("example.se", "s", k)
		msg := "From: a@example.se\r\nTo: b@example.org\r\nSubject: Hej\r\nDate: Mon, 23 Nov 2026 09:30:00 +0000\r\nMessage-ID: <x@example.se>\r\n\r\nText.\r\n"
		var out bytes.Buffer
		if err := d.Sign(&out, []byte(msg), nil); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "DKIM-Signature: ") || !strings.HasSuffix(out.String(), msg) {
			t.Fatalf("signed message:\n%s", out.String())
		}
		vs, err := dkim.VerifyWithOptions(&out, &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{d.TXTRecord()}, nil }})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("%s: %v %+v", alg, err, vs)
		}
	}
}
