package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/storsthlm/utskick/worker/mailer"
)

// sampleSize is how many signed messages are kept and verified per run.
const sampleSize = 25

// benchKeys are the keys of a -dkim run, made once per run.
var benchKeys []*mailer.DKIM

// rsaEngine is what signs RSA in the utskick process (its start-up log
// line, which the bench's warn level hides): as the bench's own RSA key
// signs (through the system's libcrypto unless it cannot be opened),
// unless the run asks for Go.
func rsaEngine(o options) string {
	for _, k := range benchKeys {
		if k.Algorithm() != mailer.DKIMRSA {
			continue
		}
		if slices.Contains(strings.Split(o.extraEnv, ","), "UTSKICK_DKIM_RSA=go") {
			return "Go crypto/rsa"
		}
		return k.Engine()
	}
	return ""
}

// dkimSettings makes the keys for style (rsa, ed25519 or both) and returns
// the UTSKICK_* settings that make utskick sign with them.
func dkimSettings(style string) ([]string, error) {
	if style == "" {
		return nil, nil
	}
	algs := map[string][]string{"rsa": {mailer.DKIMRSA}, "ed25519": {mailer.DKIMEd25519}, "both": {mailer.DKIMRSA, mailer.DKIMEd25519}}[style]
	names := []string{"UTSKICK_DKIM_PRIVATE_KEY", "UTSKICK_DKIM_SECOND_PRIVATE_KEY"}
	sels := []string{"bench", "bench2"}
	env := []string{"UTSKICK_DKIM_DOMAIN=example.org", "UTSKICK_DKIM_SELECTOR=bench"}
	if len(algs) == 2 {
		env = append(env, "UTSKICK_DKIM_SECOND_SELECTOR=bench2")
	}
	for i, alg := range algs {
		key, pemBytes, err := mailer.GenerateDKIMKey(alg)
		if err != nil {
			return nil, err
		}
		signer, _ := mailer.LibcryptoRSA(key) // as utskick signs by default
		d, err := mailer.NewDKIM("example.org", sels[i], signer)
		if err != nil {
			return nil, err
		}
		benchKeys = append(benchKeys, d)
		// One line, "\n" written out: the settings are passed
		// comma-separated, and utskick reads this form of a PEM.
		env = append(env, names[i]+"="+strings.ReplaceAll(string(pemBytes), "\n", `\n`))
	}
	return env, nil
}

// dkimpyCheck verifies every DKIM-Signature of each file named in argv
// with dkimpy (Debian's python3-dkim, the library of dkimverify),
// answering DNS from "name=record" pairs on stdin lines; it prints one
// line per file and fails if any signature fails.
const dkimpyCheck = `
import sys, dkim
records = {}
for line in sys.stdin.read().splitlines():
    n, r = line.split("=", 1)
    records[n.encode()] = r.encode()
def dns(q, timeout=5):
    return records[q.rstrip(b".")]
bad = 0
for path in sys.argv[1:]:
    msg = open(path, "rb").read()
    d = dkim.DKIM(msg)
    n = sum(1 for h in d.headers if h[0].lower() == b"dkim-signature")
    good = sum(1 for i in range(n) if d.verify(idx=i, dnsfunc=dns))
    print("%s: %d of %d signatures verify" % (path, good, n))
    if n == 0 or good != n:
        bad += 1
sys.exit(1 if bad else 0)
`

// verifySample sends the sample campaign with the run's settings to a sink
// that keeps each message, and verifies every signature of every message
// with dkimpy. Any failure fails the benchmark.
func verifySample(ctx context.Context, o options, utskick, sinkBin, tmp, dsn string, sampleID int64) (string, error) {
	dir := filepath.Join(tmp, "sample")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	addr := freeAddr()
	sink := exec.Command(sinkBin, "-addr", addr, "-dir", dir)
	sink.Stdout, sink.Stderr = io.Discard, io.Discard
	if err := sink.Start(); err != nil {
		return "", err
	}
	defer func() { sink.Process.Signal(syscall.SIGTERM); sink.Wait() }()
	waitTCP(addr)
	log.Printf("DKIM sample: %d messages to a keeping sink, then dkimpy", sampleSize)
	o.extraEnv = profileSuffix(o.extraEnv, ".sample")
	if _, err := sendCampaign(ctx, o, utskick, tmp, dsn, addr, sampleID, sampleSize); err != nil {
		return "", fmt.Errorf("DKIM sample: %w", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != sampleSize {
		return "", fmt.Errorf("DKIM sample: %d messages kept, want %d", len(files), sampleSize)
	}
	var recs strings.Builder
	for _, k := range benchKeys {
		fmt.Fprintf(&recs, "%s=%s\n", k.DNSName(), k.TXTRecord())
	}
	cmd := exec.Command("/usr/bin/python3", append([]string{"-c", dkimpyCheck}, files...)...)
	cmd.Stdin = strings.NewReader(recs.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("DKIM sample: a signature failed dkimpy:\n%s", out)
		}
		return "", fmt.Errorf("DKIM sample: dkimpy (apt-get install python3-dkim python3-nacl): %v\n%s", err, out)
	}
	want := fmt.Sprintf("%d of %d signatures verify", len(benchKeys), len(benchKeys))
	if c := strings.Count(string(out), want); c != sampleSize {
		return "", fmt.Errorf("DKIM sample: %d of %d messages with %s:\n%s", c, sampleSize, want, out)
	}
	return fmt.Sprintf("%d of %d sampled messages verify with dkimpy (%d signatures each)", sampleSize, sampleSize, len(benchKeys)), nil
}
