//go:build cgo && linux

package mailer

// RSA-2048 signing through the system's OpenSSL (libcrypto.so.3), opened
// at run time with dlopen: Go's crypto/rsa took 0.75–1.25 ms of CPU a
// signature on the project's machine where libcrypto took ~0.3 ms, and
// with dual signing that key operation was most of a message's CPU. The
// library is looked up, not linked, so neither building nor running needs
// OpenSSL: without it the key signs with Go's crypto/rsa as before.
// PKCS #1 v1.5 signatures are deterministic, so the two give the same
// bytes for the same key and digest; the tests check it.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>

// Only opaque pointers cross; the prototypes are those of OpenSSL 3.0's
// public API (no OpenSSL headers are needed to build).
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_st EVP_MD;

static EVP_PKEY *(*u_d2i_PrivateKey)(int, EVP_PKEY **, const unsigned char **, long);
static EVP_PKEY_CTX *(*u_EVP_PKEY_CTX_new)(EVP_PKEY *, void *);
static int (*u_EVP_PKEY_sign_init)(EVP_PKEY_CTX *);
static int (*u_EVP_PKEY_CTX_set_rsa_padding)(EVP_PKEY_CTX *, int);
static int (*u_EVP_PKEY_CTX_set_signature_md)(EVP_PKEY_CTX *, const EVP_MD *);
static const EVP_MD *(*u_EVP_sha256)(void);
static int (*u_EVP_PKEY_sign)(EVP_PKEY_CTX *, unsigned char *, size_t *, const unsigned char *, size_t);
static void (*u_EVP_PKEY_CTX_free)(EVP_PKEY_CTX *);
static void (*u_EVP_PKEY_free)(EVP_PKEY *);
static void (*u_ERR_clear_error)(void);
static const char *(*u_OpenSSL_version)(int);

#define UTSKICK_SYM(h, name) (u_##name = dlsym(h, #name)) != NULL

// utskick_libcrypto_open loads libcrypto and its functions; 1 when all
// were found.
static int utskick_libcrypto_open(void) {
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return 0;
	}
	if (UTSKICK_SYM(h, d2i_PrivateKey) && UTSKICK_SYM(h, EVP_PKEY_CTX_new) &&
	    UTSKICK_SYM(h, EVP_PKEY_sign_init) && UTSKICK_SYM(h, EVP_PKEY_CTX_set_rsa_padding) &&
	    UTSKICK_SYM(h, EVP_PKEY_CTX_set_signature_md) && UTSKICK_SYM(h, EVP_sha256) &&
	    UTSKICK_SYM(h, EVP_PKEY_sign) && UTSKICK_SYM(h, EVP_PKEY_CTX_free) &&
	    UTSKICK_SYM(h, EVP_PKEY_free) && UTSKICK_SYM(h, ERR_clear_error) &&
	    UTSKICK_SYM(h, OpenSSL_version)) {
		return 1;
	}
	dlclose(h);
	return 0;
}

static const char *utskick_libcrypto_version(void) { return u_OpenSSL_version(0); }

// EVP_PKEY_RSA is NID_rsaEncryption.
static EVP_PKEY *utskick_rsa_key(const unsigned char *der, long n) {
	EVP_PKEY *k = u_d2i_PrivateKey(6, NULL, &der, n);
	if (k == NULL) {
		u_ERR_clear_error();
	}
	return k;
}

static void utskick_key_free(EVP_PKEY *k) { u_EVP_PKEY_free(k); }

// utskick_rsa_ctx is a signing context for k: PKCS #1 v1.5 over a SHA-256
// digest. One context signs one message at a time.
static EVP_PKEY_CTX *utskick_rsa_ctx(EVP_PKEY *k) {
	EVP_PKEY_CTX *c = u_EVP_PKEY_CTX_new(k, NULL);
	if (c == NULL) {
		u_ERR_clear_error();
		return NULL;
	}
	// 1 is RSA_PKCS1_PADDING.
	if (u_EVP_PKEY_sign_init(c) <= 0 || u_EVP_PKEY_CTX_set_rsa_padding(c, 1) <= 0 ||
	    u_EVP_PKEY_CTX_set_signature_md(c, u_EVP_sha256()) <= 0) {
		u_EVP_PKEY_CTX_free(c);
		u_ERR_clear_error();
		return NULL;
	}
	return c;
}

static void utskick_ctx_free(EVP_PKEY_CTX *c) { u_EVP_PKEY_CTX_free(c); }

static int utskick_rsa_sign(EVP_PKEY_CTX *c, unsigned char *sig, size_t *n, const unsigned char *digest, size_t dn) {
	if (u_EVP_PKEY_sign(c, sig, n, digest, dn) <= 0) {
		u_ERR_clear_error();
		return 0;
	}
	return 1;
}
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// libcrypto opens the library once; it is its version, or "" when it
// cannot be opened.
var libcrypto = sync.OnceValue(func() string {
	if C.utskick_libcrypto_open() == 0 {
		return ""
	}
	return C.GoString(C.utskick_libcrypto_version())
})

// libcryptoRSA is an RSA private key held by libcrypto.
type libcryptoRSA struct {
	goKey *rsa.PrivateKey // for Public, and for anything libcrypto does not sign
	h     *rsaHandle
}

// rsaHandle is libcrypto's key and its signing contexts, kept for reuse
// rather than set up for every signature: at most one per signature in
// flight, which keySlots bounds. It is freed when the libcryptoRSA
// holding it is collected.
type rsaHandle struct {
	pkey *C.EVP_PKEY
	mu   sync.Mutex
	idle []*C.EVP_PKEY_CTX
}

func (h *rsaHandle) free() {
	for _, c := range h.idle {
		C.utskick_ctx_free(c)
	}
	C.utskick_key_free(h.pkey)
}

// LibcryptoRSA returns a crypto.Signer for an RSA key that signs through
// the system's libcrypto, and libcrypto's version; or key itself and ""
// when key is not RSA, or libcrypto cannot be opened or does not take it.
func LibcryptoRSA(key crypto.Signer) (crypto.Signer, string) {
	k, ok := key.(*rsa.PrivateKey)
	if !ok || libcrypto() == "" {
		return key, ""
	}
	der := x509.MarshalPKCS1PrivateKey(k)
	pkey := C.utskick_rsa_key((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)))
	clear(der)
	if pkey == nil {
		return key, ""
	}
	s := &libcryptoRSA{goKey: k, h: &rsaHandle{pkey: pkey}}
	runtime.AddCleanup(s, (*rsaHandle).free, s.h)
	return s, libcrypto()
}

func (s *libcryptoRSA) engine() string { return libcrypto() }

// libcryptoFailures counts DKIM digests libcrypto did not sign, which Go
// then did: none is expected; the tests check that the fast path is the
// one taken, and the metrics show it (a FIPS-configured OpenSSL that
// refuses the key would otherwise only show as slower sending).
var libcryptoFailures atomic.Int64

// LibcryptoFallbacks is how many RSA signatures libcrypto failed and Go's
// crypto/rsa made instead, since the process started.
func LibcryptoFallbacks() int64 { return libcryptoFailures.Load() }

func (s *libcryptoRSA) Public() crypto.PublicKey { return &s.goKey.PublicKey }

// Sign signs a SHA-256 digest with PKCS #1 v1.5, as DKIM's rsa-sha256
// does; anything else, or a digest libcrypto fails to sign, goes to Go's
// crypto/rsa, so a signature is never lost to the faster path.
func (s *libcryptoRSA) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss || opts.HashFunc() != crypto.SHA256 || len(digest) != sha256.Size {
		return s.goKey.Sign(r, digest, opts)
	}
	defer runtime.KeepAlive(s) // s.h is freed with s
	h := s.h
	c := h.ctx()
	if c == nil {
		libcryptoFailures.Add(1)
		return s.goKey.Sign(r, digest, opts)
	}
	sig := make([]byte, s.goKey.Size())
	n := C.size_t(len(sig))
	ok := C.utskick_rsa_sign(c, (*C.uchar)(unsafe.Pointer(&sig[0])), &n, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)))
	if ok == 0 || int(n) != len(sig) {
		C.utskick_ctx_free(c) // not reused: its state is unknown
		libcryptoFailures.Add(1)
		return s.goKey.Sign(r, digest, opts)
	}
	h.put(c)
	return sig, nil
}

func (h *rsaHandle) ctx() *C.EVP_PKEY_CTX {
	h.mu.Lock()
	if n := len(h.idle); n > 0 {
		c := h.idle[n-1]
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		return c
	}
	h.mu.Unlock()
	return C.utskick_rsa_ctx(h.pkey)
}

func (h *rsaHandle) put(c *C.EVP_PKEY_CTX) {
	h.mu.Lock()
	h.idle = append(h.idle, c)
	h.mu.Unlock()
}
