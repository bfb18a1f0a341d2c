package mailer

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"
)

// BenchmarkDKIMSign is the signing cost of a 30 KB message, alone, next
// to its two primitives (SHA-256 of the body, the key operation): the
// difference is go-msgauth's canonicalization and plumbing.
func BenchmarkDKIMSign(b *testing.B) {
	line := strings.Repeat("Det h=C3=A4r =C3=A4r en rad i ett nyhetsbrev med lite text i. ", 1) + "\r\n"
	msg := []byte("From: a@example.se\r\nTo: b@example.org\r\nSubject: s\r\nDate: Mon, 23 Nov 2026 09:30:00 +0000\r\nMessage-ID: <x@example.se>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" +
		strings.Repeat(line, 30000/len(line)))
	b.Run("sha256-body", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			sha256.Sum256(msg)
		}
	})
	for _, alg := range []string{DKIMEd25519, DKIMRSA} {
		b.Run(alg+"-key-only", func(b *testing.B) {
			key, _, err := GenerateDKIMKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.Sum256(msg)
			opt := crypto.SignerOpts(crypto.SHA256)
			if alg == DKIMEd25519 {
				opt = crypto.Hash(0)
			}
			for b.Loop() {
				if _, err := key.Sign(rand.Reader, h[:], opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, alg := range []string{DKIMEd25519, DKIMRSA} {
		b.Run(alg, func(b *testing.B) {
			key, _, err := GenerateDKIMKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			d, err := NewDKIM("example.se", "s", key)
			if err != nil {
				b.Fatal(err)
			}
			var dst bytes.Buffer
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				dst.Reset()
				if err := d.Sign(&dst, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
