package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/worker/mailer"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDKIMCommandMakesAKeyOnceAndPrintsItsRecord(t *testing.T) {
	dir := t.TempDir()
	e := map[string]string{"UTSKICK_DATA_DIR": dir, "UTSKICK_FROM": "Förbundet <nyhetsbrev@example.se>"}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"dkim"}, &out, &errb, env(e)); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	first := out.String()
	for _, want := range []string{"New DKIM key (rsa)", "utskick._domainkey.example.se. 3600 IN TXT (", "v=DKIM1; k=rsa; p=MII", "UTSKICK_DKIM_DOMAIN=example.se"} {
		if !strings.Contains(first, want) {
			t.Errorf("output lacks %q:\n%s", want, first)
		}
	}
	path := filepath.Join(dir, "dkim-utskick.pem")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v mode %v", err, fi.Mode())
	}
	// A second run keeps the key.
	out.Reset()
	e["UTSKICK_DKIM_DOMAIN"] = "example.se"
	if code := run(context.Background(), []string{"dkim"}, &out, &errb, env(e)); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	rec := func(s string) string { _, v, _ := strings.Cut(s, "Value: "); return strings.SplitN(v, "\n", 2)[0] }
	if rec(out.String()) != rec(first) || !strings.Contains(out.String(), "Signing is on for example.se") {
		t.Fatalf("second run changed the key or the text:\n%s", out.String())
	}
	// The service then signs with it.
	cfg, err := loadConfig(env(e))
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadDKIM(cfg)
	if err != nil || d == nil || d.TXTRecord() != rec(first) {
		t.Fatalf("loadDKIM: %v %v", d, err)
	}

	// Ed25519 under another selector.
	out.Reset()
	e["UTSKICK_DKIM_SELECTOR"], e["UTSKICK_DKIM_ALGORITHM"] = "ed2026", "ed25519"
	if code := run(context.Background(), []string{"dkim"}, &out, &errb, env(e)); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "ed2026._domainkey.example.se. 3600 IN TXT ( \"v=DKIM1; k=ed25519; p=") {
		t.Fatalf("ed25519 output:\n%s", out.String())
	}
}

func TestDKIMSettings(t *testing.T) {
	_, pemBytes, err := mailer.GenerateDKIMKey(mailer.DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := map[string]string{"UTSKICK_DATA_DIR": dir}
	// Off by default: the embedded mode needs no key.
	cfg, err := loadConfig(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := loadDKIM(cfg); d != nil || err != nil {
		t.Fatalf("default: %v %v", d, err)
	}
	tests := []struct {
		name string
		set  map[string]string
		load string // error from loadConfig
		dkim string // error from loadDKIM
	}{
		{"key inline", map[string]string{"UTSKICK_DKIM_DOMAIN": "example.se", "UTSKICK_DKIM_PRIVATE_KEY": string(pemBytes)}, "", ""},
		{"key on one line", map[string]string{"UTSKICK_DKIM_DOMAIN": "example.se", "UTSKICK_DKIM_PRIVATE_KEY": strings.ReplaceAll(string(pemBytes), "\n", `\n`)}, "", ""},
		{"bad key", map[string]string{"UTSKICK_DKIM_PRIVATE_KEY": "nope"}, "UTSKICK_DKIM_PRIVATE_KEY", ""},
		{"bad domain", map[string]string{"UTSKICK_DKIM_DOMAIN": "example"}, "UTSKICK_DKIM_DOMAIN", ""},
		{"bad algorithm", map[string]string{"UTSKICK_DKIM_ALGORITHM": "dsa"}, "UTSKICK_DKIM_ALGORITHM", ""},
		{"algorithm mismatch", map[string]string{"UTSKICK_DKIM_DOMAIN": "example.se", "UTSKICK_DKIM_PRIVATE_KEY": string(pemBytes), "UTSKICK_DKIM_ALGORITHM": "rsa"}, "", "is ed25519"},
		{"domain without key", map[string]string{"UTSKICK_DKIM_DOMAIN": "example.se"}, "", "utskick dkim"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{"UTSKICK_DATA_DIR": dir}
			for k, v := range tc.set {
				m[k] = v
			}
			cfg, err := loadConfig(env(m))
			if tc.load != "" {
				if err == nil || !strings.Contains(err.Error(), tc.load) {
					t.Fatalf("loadConfig: %v, want an error naming %s", err, tc.load)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, err := loadDKIM(cfg)
			if tc.dkim != "" {
				if err == nil || !strings.Contains(err.Error(), tc.dkim) {
					t.Fatalf("loadDKIM: %v, want %q", err, tc.dkim)
				}
				return
			}
			if err != nil || d == nil || d.Algorithm() != mailer.DKIMEd25519 {
				t.Fatalf("loadDKIM: %v %v", d, err)
			}
		})
	}
	var out bytes.Buffer
	run(context.Background(), []string{"-dump-config"}, &out, &out, env(map[string]string{"UTSKICK_DKIM_PRIVATE_KEY": string(pemBytes)}))
	if strings.Contains(out.String(), "PRIVATE KEY") || !strings.Contains(out.String(), "UTSKICK_DKIM_PRIVATE_KEY") {
		t.Fatalf("dump shows the key or lacks the setting:\n%s", out.String())
	}
}

// TestDKIMDualSigningFromSettings: UTSKICK_DKIM_SECOND_SELECTOR makes
// `utskick dkim` add an Ed25519 key next to the RSA one and print both
// records, and the service then signs every message with both; two keys
// of one algorithm are refused.
func TestDKIMDualSigningFromSettings(t *testing.T) {
	dir := t.TempDir()
	e := map[string]string{"UTSKICK_DATA_DIR": dir, "UTSKICK_FROM": "Förbundet <nyhetsbrev@example.se>",
		"UTSKICK_DKIM_DOMAIN": "example.se", "UTSKICK_DKIM_SECOND_SELECTOR": "ed2026"}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"dkim"}, &out, &errb, env(e)); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"k=rsa; p=MII", "New second DKIM key (ed25519)", "ed2026._domainkey.example.se. 3600 IN TXT ( \"v=DKIM1; k=ed25519; p="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	d := loadedDKIM(t, e)
	var algs []string
	for _, k := range d.Keys() {
		algs = append(algs, k.Selector()+"="+k.Algorithm())
	}
	if got := strings.Join(algs, " "); got != "utskick=rsa ed2026=ed25519" {
		t.Fatalf("keys %s", got)
	}
	var signed bytes.Buffer
	if err := d.Sign(&signed, []byte("From: a@example.se\r\nSubject: Hej\r\n\r\nText.\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(signed.String(), "DKIM-Signature: "); n != 2 {
		t.Fatalf("%d signatures:\n%s", n, signed.String())
	}

	// A second key of the first key's algorithm is refused, naming why.
	_, pemBytes, _ := mailer.GenerateDKIMKey(mailer.DKIMRSA)
	e["UTSKICK_DKIM_SECOND_PRIVATE_KEY"] = string(pemBytes)
	cfg, err := loadConfig(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadDKIM(cfg); err == nil || !strings.Contains(err.Error(), "pairs RSA with Ed25519") {
		t.Fatalf("two RSA keys: %v", err)
	}
}

// TestDKIMRSAEngineSetting: an RSA key signs through libcrypto unless
// UTSKICK_DKIM_RSA=go; Ed25519 keys always sign with Go.
func TestDKIMRSAEngineSetting(t *testing.T) {
	_, rsaPEM, err := mailer.GenerateDKIMKey(mailer.DKIMRSA)
	if err != nil {
		t.Fatal(err)
	}
	_, edPEM, err := mailer.GenerateDKIMKey(mailer.DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	engines := func(e map[string]string) []string {
		var out []string
		for _, k := range loadedDKIM(t, e).Keys() {
			out = append(out, k.Engine())
		}
		return out
	}
	e := map[string]string{"UTSKICK_DATA_DIR": t.TempDir(), "UTSKICK_DKIM_DOMAIN": "example.se",
		"UTSKICK_DKIM_PRIVATE_KEY": string(rsaPEM), "UTSKICK_DKIM_SECOND_SELECTOR": "ed", "UTSKICK_DKIM_SECOND_PRIVATE_KEY": string(edPEM)}
	got := engines(e)
	if !strings.HasPrefix(got[1], "Go ") {
		t.Errorf("Ed25519 engine %q, want Go", got[1])
	}
	if !strings.HasPrefix(got[0], "OpenSSL 3") {
		if os.Getenv("UTSKICK_TEST_TOOLS") != "" {
			t.Fatalf("RSA engine %q by default; UTSKICK_TEST_TOOLS is set, so libcrypto was expected", got[0])
		}
		t.Logf("no libcrypto here: RSA engine %q", got[0])
		e["UTSKICK_DKIM_RSA"] = "libcrypto"
		cfg, err := loadConfig(env(e))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := loadDKIM(cfg); err == nil || !strings.Contains(err.Error(), "libcrypto.so.3 cannot be opened") {
			t.Errorf("UTSKICK_DKIM_RSA=libcrypto without libcrypto: %v", err)
		}
	} else {
		e["UTSKICK_DKIM_RSA"] = "libcrypto"
		if got := engines(e); !strings.HasPrefix(got[0], "OpenSSL 3") {
			t.Errorf("UTSKICK_DKIM_RSA=libcrypto: RSA engine %q", got[0])
		}
	}
	e["UTSKICK_DKIM_RSA"] = "go"
	if got := engines(e); !strings.HasPrefix(got[0], "Go ") {
		t.Errorf("UTSKICK_DKIM_RSA=go: RSA engine %q", got[0])
	}
	e["UTSKICK_DKIM_RSA"] = "openssl"
	if _, err := loadConfig(env(e)); err == nil || !strings.Contains(err.Error(), "UTSKICK_DKIM_RSA") {
		t.Errorf("an unknown engine: %v", err)
	}
}

// loadedDKIM is the DKIM signer the settings e make.
func loadedDKIM(t *testing.T, e map[string]string) *mailer.DKIM {
	t.Helper()
	cfg, err := loadConfig(env(e))
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadDKIM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
