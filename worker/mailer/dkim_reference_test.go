package mailer

import (
	"bytes"
	"fmt"

	"github.com/emersion/go-msgauth/dkim"
)

// signMsgauth is how messages were signed before the fast path: go-msgauth
// canonicalizes and hashes the whole message through its pipe. It stays
// here as the yardstick of BenchmarkDKIMSign and as a second signer whose
// output must verify the same way.
func (d *DKIM) signMsgauth(dst *bytes.Buffer, msg []byte) error {
	hdr, _, _ := splitMessage(msg)
	var fs fields
	if err := fs.parse(hdr); err != nil {
		return err
	}
	var keys []string // the same over-signed list as the fast path
	for _, name := range dkimHeaders {
		for range fs.count(name) + 1 {
			keys = append(keys, name)
		}
	}
	for _, k := range d.Keys() {
		opts := dkim.SignOptions{Domain: k.domain, Selector: k.selector, Signer: k.key,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationSimple,
			HeaderKeys: keys}
		s, err := dkim.NewSigner(&opts)
		if err != nil {
			return fmt.Errorf("dkim: %w", err)
		}
		if _, err := s.Write(msg); err != nil {
			s.Close()
			return fmt.Errorf("dkim: %w", err)
		}
		if err := s.Close(); err != nil {
			return fmt.Errorf("dkim: %w", err)
		}
		dst.WriteString(s.Signature())
	}
	dst.Write(msg)
	return nil
}
