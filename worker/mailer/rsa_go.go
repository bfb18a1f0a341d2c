//go:build !(cgo && linux)

package mailer

import "crypto"

// LibcryptoRSA is rsa_libcrypto.go's: without cgo on Linux there is no
// libcrypto to open, and every key signs with Go's crypto.
func LibcryptoRSA(key crypto.Signer) (crypto.Signer, string) { return key, "" }

// LibcryptoFallbacks is always 0 here: nothing signs through libcrypto.
func LibcryptoFallbacks() int64 { return 0 }
