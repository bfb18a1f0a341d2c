package mailer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// envTools makes a missing python3-dkim a failure instead of a skip; CI
// sets it (see .ci/run).
const envTools = "UTSKICK_TEST_TOOLS"

// dkimpy is the system Python with Debian's python3-dkim (the library
// behind dkimverify), or "" when it is not installed.
func dkimpy(t testing.TB) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import dkim, nacl").Run() == nil {
			return py
		}
	}
	if os.Getenv(envTools) != "" {
		t.Fatalf("%s is set but python3-dkim is missing (apt-get install python3-dkim python3-nacl)", envTools)
	}
	t.Log("python3-dkim not installed: the dkimverify check is skipped")
	return ""
}

// dkimpyScript is dkimverify with its DNS answered from argv (name=record
// pairs; the network is not reachable here): it checks every
// DKIM-Signature of the message on stdin and prints one line each.
const dkimpyScript = `
import sys, dkim
records = {}
for a in sys.argv[1:]:
    n, r = a.split("=", 1)
    records[n.encode()] = r.encode()
def dns(q, timeout=5):
    q = q.rstrip(b".")
    if q not in records:
        raise Exception("unexpected DNS query %r" % q)
    return records[q]
msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
n = sum(1 for h in d.headers if h[0].lower() == b"dkim-signature")
ok = n > 0
for i in range(n):
    good = d.verify(idx=i, dnsfunc=dns)
    print("signature %d %s" % (i, "ok" if good else "failed"))
    ok = ok and good
sys.exit(0 if ok else 1)
`

// verdict is what both verifiers say of one message.
type verdict struct {
	goSigs, goGood int  // go-msgauth: signatures found, and good
	py             bool // dkimpy: every signature good (false when not run)
	pyOut          string
}

// verifyAll runs go-msgauth's verifier and dkimpy on msg, answering DNS
// from the signers' records.
func verifyAll(t testing.TB, py string, msg []byte, signers ...*DKIM) verdict {
	t.Helper()
	recs := map[string]string{}
	var args []string
	for _, s := range signers {
		for _, k := range s.Keys() {
			recs[k.DNSName()] = k.TXTRecord()
			args = append(args, k.DNSName()+"="+k.TXTRecord())
		}
	}
	var v verdict
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if r, ok := recs[name]; ok {
			return []string{r}, nil
		}
		return nil, fmt.Errorf("unexpected lookup %s", name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	v.goSigs = len(vs)
	for _, s := range vs {
		if s.Err == nil {
			v.goGood++
		}
	}
	if py != "" {
		cmd := exec.Command(py, append([]string{"-c", dkimpyScript}, args...)...)
		cmd.Stdin = bytes.NewReader(msg)
		out, err := cmd.CombinedOutput()
		v.py, v.pyOut = err == nil, string(out)
	}
	return v
}

// mustVerify fails t unless both verifiers accept all want signatures.
func mustVerify(t testing.TB, py string, msg []byte, want int, signers ...*DKIM) {
	t.Helper()
	v := verifyAll(t, py, msg, signers...)
	if v.goSigs != want || v.goGood != want {
		t.Fatalf("go-msgauth: %d of %d signatures good, want %d\n%s", v.goGood, v.goSigs, want, head(msg))
	}
	if py != "" && !v.py {
		t.Fatalf("dkimpy: %s\n%s", v.pyOut, head(msg))
	}
}

// mustFail fails t if either verifier accepts any signature of msg.
func mustFail(t testing.TB, py string, msg []byte, why string, signers ...*DKIM) {
	t.Helper()
	v := verifyAll(t, py, msg, signers...)
	if v.goGood > 0 {
		t.Errorf("%s: go-msgauth still accepts %d of %d signatures", why, v.goGood, v.goSigs)
	}
	if py != "" && v.py { // dkimpy exits non-zero, or raises on a body hash mismatch
		t.Errorf("%s: dkimpy still accepts it: %s", why, v.pyOut)
	}
}

func head(msg []byte) string {
	h, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	return string(h)
}
