package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/worker/mailer"
)

// dkimKeyPath is where `utskick dkim` keeps a generated key.
func dkimKeyPath(cfg *config) string {
	return filepath.Join(cfg.DataDir, "dkim-"+cfg.DKIMSelector+".pem")
}

// dkimKey returns the configured key: UTSKICK_DKIM_PRIVATE_KEY, else the
// file in the data dir. ok is false when there is neither.
func dkimKey(cfg *config) (key crypto.Signer, source string, ok bool, err error) {
	pemBytes, source := cfg.DKIMKeyPEM, "UTSKICK_DKIM_PRIVATE_KEY"
	if pemBytes == nil {
		source = dkimKeyPath(cfg)
		pemBytes, err = os.ReadFile(source)
		if errors.Is(err, os.ErrNotExist) {
			return nil, source, false, nil
		}
		if err != nil {
			return nil, source, false, fmt.Errorf("read DKIM key: %w", err)
		}
	}
	key, err = mailer.ParseDKIMKey(pemBytes)
	if err != nil {
		return nil, source, false, fmt.Errorf("%s: %w", source, err)
	}
	if err := checkAlgorithm(cfg, key, source); err != nil {
		return nil, source, false, err
	}
	return key, source, true, nil
}

func checkAlgorithm(cfg *config, key crypto.Signer, source string) error {
	if cfg.DKIMAlgorithm == "" {
		return nil
	}
	alg := ""
	switch key.Public().(type) {
	case *rsa.PublicKey:
		alg = mailer.DKIMRSA
	case ed25519.PublicKey:
		alg = mailer.DKIMEd25519
	}
	if alg != cfg.DKIMAlgorithm {
		return fmt.Errorf("UTSKICK_DKIM_ALGORITHM is %s but the key in %s is %s", cfg.DKIMAlgorithm, source, alg)
	}
	return nil
}

// loadDKIM returns the signer, or nil when UTSKICK_DKIM_DOMAIN is unset
// (the embedded default: mail goes out unsigned). With
// UTSKICK_DKIM_SECOND_SELECTOR it signs with both keys.
func loadDKIM(cfg *config) (*mailer.DKIM, error) {
	if cfg.DKIMDomain == "" {
		return nil, nil
	}
	key, source, ok, err := dkimKey(cfg)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("UTSKICK_DKIM_DOMAIN is %s but there is no key: set UTSKICK_DKIM_PRIVATE_KEY, or run `utskick dkim` to make %s and print its DNS record", cfg.DKIMDomain, source)
	}
	if key, err = signingKey(cfg, key); err != nil {
		return nil, err
	}
	d, err := mailer.NewDKIM(cfg.DKIMDomain, cfg.DKIMSelector, key)
	if err != nil || cfg.DKIMSecondSelector == "" {
		return d, err
	}
	second, err := secondDKIM(cfg, cfg.DKIMDomain, d)
	if err != nil {
		return nil, err
	}
	return d.Also(second), nil
}

// signingKey is key as it signs: an RSA key through the system's
// libcrypto unless UTSKICK_DKIM_RSA says go (or, on auto, there is none).
func signingKey(cfg *config, key crypto.Signer) (crypto.Signer, error) {
	if _, ok := key.(*rsa.PrivateKey); !ok || cfg.DKIMRSA == "go" {
		return key, nil
	}
	fast, version := mailer.LibcryptoRSA(key)
	if version == "" && cfg.DKIMRSA == "libcrypto" {
		return nil, errors.New("UTSKICK_DKIM_RSA is libcrypto but libcrypto.so.3 cannot be opened or does not take the key (install libssl3, or set auto)")
	}
	return fast, nil
}

// secondDKIM is the dual-signing key: UTSKICK_DKIM_SECOND_PRIVATE_KEY, else
// dkim-<second selector>.pem in the data dir.
func secondDKIM(cfg *config, domain string, first *mailer.DKIM) (*mailer.DKIM, error) {
	if cfg.DKIMSecondSelector == cfg.DKIMSelector {
		return nil, errors.New("UTSKICK_DKIM_SECOND_SELECTOR must differ from UTSKICK_DKIM_SELECTOR")
	}
	pemBytes, source := cfg.DKIMSecondKeyPEM, "UTSKICK_DKIM_SECOND_PRIVATE_KEY"
	if pemBytes == nil {
		source = filepath.Join(cfg.DataDir, "dkim-"+cfg.DKIMSecondSelector+".pem")
		var err error
		if pemBytes, err = os.ReadFile(source); err != nil {
			return nil, fmt.Errorf("UTSKICK_DKIM_SECOND_SELECTOR is %s but its key cannot be read: %w (set UTSKICK_DKIM_SECOND_PRIVATE_KEY, or run `utskick dkim`)", cfg.DKIMSecondSelector, err)
		}
	}
	key, err := mailer.ParseDKIMKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if key, err = signingKey(cfg, key); err != nil {
		return nil, err
	}
	d, err := mailer.NewDKIM(domain, cfg.DKIMSecondSelector, key)
	if err != nil {
		return nil, err
	}
	if d.Algorithm() == first.Algorithm() {
		return nil, fmt.Errorf("the second DKIM key (%s) is %s like the first: dual signing pairs RSA with Ed25519", source, d.Algorithm())
	}
	return d, nil
}

// runDKIM is `utskick dkim`: it makes a key in the data dir when none is
// configured, and prints the DNS record that publishes it.
func runDKIM(cfg *config, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	key, source, ok, err := dkimKey(cfg)
	if err != nil {
		return err
	}
	made := false
	if !ok {
		alg := cfg.DKIMAlgorithm
		if alg == "" {
			alg = mailer.DKIMRSA
		}
		k, pemBytes, err := mailer.GenerateDKIMKey(alg)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(source, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return runDKIM(cfg, stdout) // another process made it first
		}
		if err != nil {
			return fmt.Errorf("write DKIM key: %w", err)
		}
		if _, err := f.Write(pemBytes); err != nil {
			f.Close()
			return fmt.Errorf("write DKIM key: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write DKIM key: %w", err)
		}
		key, made = k, true
	}
	domain := cfg.DKIMDomain
	if domain == "" {
		domain = domainOf(cfg.From.Address)
	}
	d, err := mailer.NewDKIM(domain, cfg.DKIMSelector, key)
	if err != nil {
		return err
	}
	what := "DKIM key (" + d.Algorithm() + ") from " + source
	if made {
		what = "New DKIM key (" + d.Algorithm() + ") written to " + source + "; keep it secret and back it up"
	}
	fmt.Fprintf(stdout, "%s.\n\nPublish this DNS TXT record:\n\n%s\n\nName:  %s\nValue: %s\n\n", what, d.ZoneLine(), d.DNSName(), d.TXTRecord())
	if cfg.DKIMDomain == "" {
		fmt.Fprintf(stdout, "Then turn signing on with UTSKICK_DKIM_DOMAIN=%s (and UTSKICK_DKIM_SELECTOR=%s).\n", domain, cfg.DKIMSelector)
	} else {
		fmt.Fprintf(stdout, "Signing is on for %s.\n", domain)
	}
	if cfg.DKIMSecondSelector != "" {
		if err := runSecondDKIM(cfg, domain, d, stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Receivers also look for SPF on the envelope sender's domain and a DMARC record at _dmarc.%s;\n`POST /api/v1/campaigns/{id}/lint` checks all three.\n", domain)
	return nil
}

func domainOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == '@' {
			return addr[i+1:]
		}
	}
	return addr
}

// runSecondDKIM makes the dual-signing key when it is missing (the other
// algorithm than the first key's) and prints its record.
func runSecondDKIM(cfg *config, domain string, first *mailer.DKIM, stdout io.Writer) error {
	path := filepath.Join(cfg.DataDir, "dkim-"+cfg.DKIMSecondSelector+".pem")
	if cfg.DKIMSecondKeyPEM == nil {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			alg := mailer.DKIMEd25519
			if first.Algorithm() == mailer.DKIMEd25519 {
				alg = mailer.DKIMRSA
			}
			_, pemBytes, err := mailer.GenerateDKIMKey(alg)
			if err != nil {
				return err
			}
			if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
				return fmt.Errorf("write DKIM key: %w", err)
			}
			fmt.Fprintf(stdout, "New second DKIM key (%s) written to %s; keep it secret and back it up.\n", alg, path)
		}
	}
	d, err := secondDKIM(cfg, domain, first)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nDual signing: also publish\n\n%s\n\nName:  %s\nValue: %s\n\n", d.ZoneLine(), d.DNSName(), d.TXTRecord())
	return nil
}

// lintDKIM is the signing key as published in DNS, for the API's lint;
// nil when signing is off.
func lintDKIM(dk *mailer.DKIM) *lint.DKIMKey {
	if dk == nil {
		return nil
	}
	return &lint.DKIMKey{Domain: dk.Domain(), Selector: dk.Selector(), Record: dk.TXTRecord()}
}
