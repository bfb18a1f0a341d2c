//go:build cgo && linux

package mailer

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// libcryptoKey wraps k with LibcryptoRSA, or skips when there is no
// libcrypto to open (it fails instead under UTSKICK_TEST_TOOLS, as CI
// runs, where Debian's libssl3 is always there).
func libcryptoKey(t testing.TB, k *rsa.PrivateKey) crypto.Signer {
	t.Helper()
	s, version := LibcryptoRSA(k)
	if version == "" {
		if os.Getenv(envTools) != "" && runtime.GOOS == "linux" {
			t.Fatalf("%s is set but libcrypto.so.3 could not be opened (apt-get install libssl3; cgo on)", envTools)
		}
		t.Skip("no libcrypto: RSA signs with Go's crypto/rsa only")
	}
	if !strings.HasPrefix(version, "OpenSSL 3") {
		t.Fatalf("libcrypto version %q", version)
	}
	return s
}

// TestLibcryptoRSASignsTheBytesGoWould: PKCS #1 v1.5 is deterministic, so
// for any digest libcrypto's signature must equal crypto/rsa's, also from
// many goroutines at once (each takes its own signing context).
func TestLibcryptoRSASignsTheBytesGoWould(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := libcryptoKey(t, k)
	if _, ok := s.(*rsa.PrivateKey); ok {
		t.Fatal("LibcryptoRSA returned the Go key")
	}
	if !k.PublicKey.Equal(s.Public()) {
		t.Fatal("Public differs from the key's")
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				digest := sha256.Sum256([]byte{byte(g), byte(i)})
				got, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
				if err != nil {
					errs <- err.Error()
					return
				}
				want, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
				if err != nil {
					errs <- err.Error()
					return
				}
				if string(got) != string(want) {
					errs <- "signature differs from crypto/rsa's"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if n := libcryptoFailures.Load(); n != 0 {
		t.Fatalf("%d signatures fell back to crypto/rsa", n)
	}
}

// TestLibcryptoRSAHandsOtherSchemesToGo: what DKIM does not use (PSS,
// other hashes) still signs correctly, through crypto/rsa.
func TestLibcryptoRSAHandsOtherSchemesToGo(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := libcryptoKey(t, k)
	d := sha256.Sum256([]byte("pss"))
	pss := &rsa.PSSOptions{Hash: crypto.SHA256}
	sig, err := s.Sign(rand.Reader, d[:], pss)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, d[:], sig, pss); err != nil {
		t.Fatalf("PSS: %v", err)
	}
	d5 := sha512.Sum512([]byte("sha-512"))
	sig, err = s.Sign(rand.Reader, d5[:], crypto.SHA512)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA512, d5[:], sig); err != nil {
		t.Fatalf("SHA-512: %v", err)
	}
	if _, err := s.Sign(rand.Reader, d[:20], crypto.SHA256); err == nil {
		t.Fatal("a digest of the wrong length was signed")
	}
}
