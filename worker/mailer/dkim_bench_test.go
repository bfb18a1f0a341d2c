package mailer

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchMessage is a ~60 KB campaign-like message for recipient i: a
// shared 28 KB, the personal greeting, and 28 KB more.
func benchMessage(i int) []byte {
	shared := strings.Repeat("Det h=C3=A4r =C3=A4r en rad i ett nyhetsbrev med lite text i, likadan f=C3=B6r alla.\r\n", 330)
	body := "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		shared + fmt.Sprintf("Hej L=C3=A4sare %d, avsluta h=C3=A4r: https://news.example.se/u/%d\r\n", i, i*7919) +
		shared + "\r\n--b1--\r\n"
	return campaignLike(body)
}

// BenchmarkDKIMSign is the signing cost of one ~60 KB message, old and
// new side by side in one run: go-msgauth over the whole message
// ("msgauth"), the fast path ("fast"), and the fast path with a
// campaign's body cache ("fast-cached", what a campaign's senders do);
// next to the two primitives that bound it, SHA-256 of the message and
// the key operation alone; RSA both with Go's crypto/rsa and through the
// system's libcrypto (LibcryptoRSA), where there is one.
//
// Besides ns/op (wall clock) each reports cpu-ns/op, the process's CPU
// time per operation: on a shared, loaded machine the wall clock counts
// the time other processes held the cores, CPU time does not.
//
//	go test ./worker/mailer -run '^$' -bench DKIMSign -benchmem -cpu 1
func BenchmarkDKIMSign(b *testing.B) {
	msg := benchMessage(1)
	b.Run("sha256-message", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		defer cpuPerOp(b)()
		for b.Loop() {
			sha256.Sum256(msg)
		}
	})
	set := signers(b)
	for _, alg := range []string{"ed25519", "rsa", "rsa-libcrypto"} {
		k, ok := set[alg] // no rsa-libcrypto without the system's libcrypto
		if !ok {
			continue
		}
		b.Run(alg+"/key-only", func(b *testing.B) {
			h := sha256.Sum256(msg)
			opt := crypto.SignerOpts(crypto.SHA256)
			if alg == DKIMEd25519 {
				opt = crypto.Hash(0)
			}
			defer cpuPerOp(b)()
			for b.Loop() {
				if _, err := k.key.Sign(rand.Reader, h[:], opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, style := range []string{"ed25519", "rsa", "dual", "rsa-libcrypto", "dual-libcrypto"} {
		d, ok := set[style]
		if !ok {
			continue
		}
		for _, way := range []string{"msgauth", "fast", "fast-cached", "composed"} {
			b.Run(style+"/"+way, func(b *testing.B) {
				msgs := [][]byte{benchMessage(1), benchMessage(2), benchMessage(3)}
				var cache BodyCache
				var dst bytes.Buffer
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				i := 0
				defer cpuPerOp(b)()
				for b.Loop() {
					dst.Reset()
					m := msgs[i%len(msgs)]
					i++
					var err error
					switch way {
					case "msgauth":
						err = d.signMsgauth(&dst, m)
					case "fast":
						err = d.Sign(&dst, m, nil)
					case "composed":
						err = d.SignComposed(&dst, m, nil)
					default:
						err = d.Sign(&dst, m, &cache)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// cpuPerOp starts counting the process's CPU time; the function it
// returns reports it per operation as cpu-ns/op.
func cpuPerOp(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
