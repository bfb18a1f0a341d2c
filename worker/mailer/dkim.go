package mailer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// DKIM algorithms.
const (
	DKIMRSA     = "rsa"     // RSA-2048 with SHA-256: verified everywhere; ~1 ms to sign
	DKIMEd25519 = "ed25519" // RFC 8463: tens of µs to sign; not every receiver verifies it yet
)

// dkimHeaders are the header fields a signature covers, in the order
// they are listed in h=. Each is listed once more than the message holds
// it ("oversigned"): a verifier then signs an empty extra instance, so a
// header added later with that name breaks the signature. Nobody can slip
// in a second From, a Reply-To or Sender that diverts answers, or a
// List-Unsubscribe that points elsewhere. Lower case: the form relaxed
// canonicalization signs.
var dkimHeaders = []string{
	"from", "to", "subject", "date", "message-id", "reply-to", "sender",
	"list-id", "list-unsubscribe", "list-unsubscribe-post", "feedback-id",
	"mime-version", "content-type", "content-transfer-encoding",
}

// DKIM signs finished messages for one domain and selector, with the
// headers relaxed and the body simple (RFC 6376 §3.4). Signing is done on
// the final bytes, after rendering. Safe for concurrent use.
type DKIM struct {
	domain, selector string
	key              crypto.Signer
	alg              string
	// also are further keys that sign every message too (dual signing:
	// RSA for every receiver, Ed25519 for those that check it).
	also []*DKIM
}

// NewDKIM returns a signer for domain with key (an *rsa.PrivateKey of at
// least 2048 bits or an ed25519.PrivateKey) published under selector.
func NewDKIM(domain, selector string, key crypto.Signer) (*DKIM, error) {
	if domain == "" || selector == "" {
		return nil, errors.New("dkim: domain and selector are required")
	}
	if strings.ContainsAny(domain+selector, "; \t\r\n=") {
		return nil, fmt.Errorf("dkim: domain %q or selector %q holds a character a tag value cannot", domain, selector)
	}
	d := &DKIM{domain: strings.ToLower(domain), selector: selector, key: key}
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("dkim: RSA key of %d bits; use at least 2048", k.N.BitLen())
		}
		d.alg = DKIMRSA
	case ed25519.PublicKey:
		d.alg = DKIMEd25519
	default:
		return nil, fmt.Errorf("dkim: unsupported key type %T (want RSA or Ed25519)", k)
	}
	return d, nil
}

// Domain is the signing domain (d=).
func (d *DKIM) Domain() string { return d.domain }

// Selector is the key's selector (s=).
func (d *DKIM) Selector() string { return d.selector }

// Algorithm is DKIMRSA or DKIMEd25519.
func (d *DKIM) Algorithm() string { return d.alg }

// Also returns a signer that signs with d and then with each of more, one
// DKIM-Signature each. Domain, Selector and the records describe d.
func (d *DKIM) Also(more ...*DKIM) *DKIM {
	c := *d
	c.also = append(append([]*DKIM(nil), d.also...), more...)
	return &c
}

// Keys is d's key and those added with Also, in signing order.
func (d *DKIM) Keys() []*DKIM {
	first := *d
	first.also = nil
	return append([]*DKIM{&first}, d.also...)
}

// Engine is what computes the signatures: libcrypto's version for an RSA
// key from LibcryptoRSA, else Go's crypto.
func (d *DKIM) Engine() string {
	if e, ok := d.key.(interface{ engine() string }); ok {
		return e.engine()
	}
	return "Go " + runtime.Version()
}

// DNSName is where the public key is published.
func (d *DKIM) DNSName() string { return d.selector + "._domainkey." + d.domain }

// TXTRecord is the DNS TXT value that publishes the public key.
func (d *DKIM) TXTRecord() string {
	var p []byte
	switch k := d.key.Public().(type) {
	case *rsa.PublicKey:
		p, _ = x509.MarshalPKIXPublicKey(k) // an RSA key always marshals
	case ed25519.PublicKey:
		p = k
	}
	return "v=DKIM1; k=" + d.alg + "; p=" + base64.StdEncoding.EncodeToString(p)
}

// ZoneLine is TXTRecord as a zone-file line, cut into the 255-character
// strings DNS TXT records are made of.
func (d *DKIM) ZoneLine() string {
	rec := d.TXTRecord()
	var parts []string
	for len(rec) > 255 {
		parts = append(parts, `"`+rec[:255]+`"`)
		rec = rec[255:]
	}
	parts = append(parts, `"`+rec+`"`)
	return d.DNSName() + ". 3600 IN TXT ( " + strings.Join(parts, " ") + " )"
}

// ParseDKIMKey reads a PEM private key: PKCS#8 (RSA or Ed25519) or PKCS#1
// RSA.
func ParseDKIMKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("dkim key: not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("dkim key: unsupported %T", k)
		}
		return s, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("dkim key: want a PKCS#8 or PKCS#1 private key")
}

// GenerateDKIMKey makes a key for alg (DKIMRSA: 2048 bits) and returns it
// with its PKCS#8 PEM encoding.
func GenerateDKIMKey(alg string) (crypto.Signer, []byte, error) {
	var key crypto.Signer
	switch alg {
	case DKIMRSA:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		key = k
	case DKIMEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		key = k
	default:
		return nil, nil, fmt.Errorf("dkim: unknown algorithm %q (rsa or ed25519)", alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
