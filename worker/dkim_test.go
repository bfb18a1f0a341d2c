package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
	"github.com/storsthlm/utskick/worker/mailer"
)

// EnvTools makes the tests that need Debian's python3-dkim, spamassassin
// and chromium fail instead of skip when those are missing; CI sets it.
const EnvTools = "UTSKICK_TEST_TOOLS"

// dkimpy is the system Python with Debian's python3-dkim, or "".
func dkimpy(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import dkim, nacl").Run() == nil {
			return py
		}
	}
	if os.Getenv(EnvTools) != "" {
		t.Fatalf("%s is set but python3-dkim is missing (apt-get install python3-dkim)", EnvTools)
	}
	t.Log("python3-dkim not installed: the independent dkimpy check is skipped")
	return ""
}

// dkimpyScript verifies the message on stdin with dkimpy, answering its
// one DNS question with argv[2] (the network is not reachable here).
const dkimpyScript = `
import sys, dkim
name, record = sys.argv[1].encode(), sys.argv[2].encode()
def dns(q, timeout=5):
    if q.rstrip(b".") != name:
        raise Exception("unexpected DNS query %r" % q)
    return record
msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
if d.verify(dnsfunc=dns):
    print("signature ok")
else:
    print("signature verification failed")
    sys.exit(1)
`

// verifies reports whether both verifiers accept msg.
func verifies(t *testing.T, py string, k *mailer.DKIM, msg []byte) bool {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) {
		return []string{k.TXTRecord()}, nil
	}})
	goOK := err == nil && len(vs) == 1 && vs[0].Err == nil
	pyOK := false
	if py != "" {
		cmd := exec.Command(py, "-c", dkimpyScript, k.DNSName(), k.TXTRecord())
		cmd.Stdin = bytes.NewReader(msg)
		pyOK = cmd.Run() == nil
	}
	if goOK != pyOK && py != "" {
		t.Errorf("go-msgauth says %v, dkimpy says %v", goOK, pyOK)
	}
	return goOK || pyOK
}

// verifyDKIM checks msg's signature with go-msgauth and, when installed,
// dkimpy, both given k's published record.
func verifyDKIM(t *testing.T, py string, k *mailer.DKIM, msg []byte) {
	t.Helper()
	lookup := func(name string) ([]string, error) {
		if name != k.DNSName() {
			return nil, fmt.Errorf("unexpected lookup %s", name)
		}
		return []string{k.TXTRecord()}, nil
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("go-msgauth: %d signatures, first error %v", len(vs), vs[0].Err)
	}
	if vs[0].Domain != k.Domain() {
		t.Errorf("d=%s, want %s", vs[0].Domain, k.Domain())
	}
	signed := strings.ToLower(strings.Join(vs[0].HeaderKeys, ":"))
	for _, h := range []string{"from", "to", "subject", "date", "message-id", "mime-version", "content-type"} {
		if !strings.Contains(signed, h) {
			t.Errorf("%s not signed (h=%s)", h, signed)
		}
	}
	if py == "" {
		return
	}
	cmd := exec.Command(py, "-c", dkimpyScript, k.DNSName(), k.TXTRecord())
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "signature ok") {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
}

// TestDKIMSignedCampaignVerifiesAfterTheSink sends a campaign, a test send
// and an opt-in through the worker with each key type, takes the messages
// as the SMTP server stored them, and verifies their signatures with two
// independent verifiers.
func TestDKIMSignedCampaignVerifiesAfterTheSink(t *testing.T) {
	py := dkimpy(t)
	for _, alg := range []string{mailer.DKIMEd25519, mailer.DKIMRSA} {
		t.Run(alg, func(t *testing.T) {
			key, _, err := mailer.GenerateDKIMKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			k, err := mailer.NewDKIM("example.se", "utskick", key)
			if err != nil {
				t.Fatal(err)
			}
			st := storetest.Open(t)
			e := newEnv(t, st, nil, func(d *worker.Deps) { d.DKIM = k })
			f := seed(t, st, 5)
			ctx := context.Background()
			body, err := os.ReadFile("../mailtemplates/testdata/issues/senaste-nytt-mars.md")
			if err != nil {
				t.Fatal(err)
			}
			_, md, _ := strings.Cut(string(body), "\n\n")
			subj := "Senaste nytt för {{ attr.kommun | default \"länet\" }} – mars"
			if _, err := st.UpdateCampaign(ctx, f.camp.ID, store.CampaignPatch{Subject: &subj, Body: &md}); err != nil {
				t.Fatal(err)
			}
			e.start(t)
			e.schedule(t, f.camp.ID)
			e.waitSent(t, f.camp.ID, 30*time.Second)
			if err := e.q.Enqueue(ctx, queue.NewTestTask(queue.TestPayload{CampaignID: f.camp.ID, Emails: []string{"test@example.org"}})); err != nil {
				t.Fatal(err)
			}
			optin := &store.Subscriber{Email: "new@example.org", Language: "en"}
			if err := st.CreateSubscriber(ctx, optin, []store.SubscriptionInput{{ListID: f.lists[0].ID, Status: store.SubUnconfirmed}}, store.Actor{}); err != nil {
				t.Fatal(err)
			}
			if err := e.q.Enqueue(ctx, queue.NewOptinTask(queue.OptinPayload{SubscriberID: optin.ID, ListIDs: []int64{f.lists[0].ID}})); err != nil {
				t.Fatal(err)
			}
			var files []string
			waitFor(t, "7 messages in the outbox", 20*time.Second, func() bool {
				files, _ = filepath.Glob(filepath.Join(e.outDir, "*.eml"))
				return len(files) >= 7
			})
			kinds := map[string]int{}
			for _, fn := range files {
				msg, err := os.ReadFile(fn)
				if err != nil {
					t.Fatal(err)
				}
				m, err := mail.ReadMessage(bytes.NewReader(msg))
				if err != nil {
					t.Fatal(err)
				}
				subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
				switch {
				case strings.HasPrefix(subj, "[TEST] "):
					kinds["test"]++
				case bytes.Contains(msg, []byte("Auto-Submitted: auto-generated")):
					kinds["optin"]++
				default:
					kinds["campaign"]++
					// Only these headers: nothing that reveals tracking or
					// the software, and the bulk-mail headers receivers want.
					var names []string
					for k := range m.Header {
						if !strings.HasPrefix(k, "X-Utskick-Envelope-") { // added by the capture server
							names = append(names, k)
						}
					}
					sort.Strings(names)
					want := "Content-Type Date Dkim-Signature Feedback-Id From List-Id List-Unsubscribe List-Unsubscribe-Post Message-Id Mime-Version Precedence Subject To"
					if got := strings.Join(names, " "); got != want {
						t.Errorf("campaign headers %s, want %s", got, want)
					}
					if m.Header.Get("Precedence") != "bulk" || !strings.HasPrefix(m.Header.Get("Feedback-Id"), fmt.Sprintf("c%d:l%d:", f.camp.ID, f.lists[0].ID)) {
						t.Errorf("Precedence %q, Feedback-ID %q", m.Header.Get("Precedence"), m.Header.Get("Feedback-Id"))
					}
				}
				verifyDKIM(t, py, k, msg)
			}
			if kinds["test"] != 1 || kinds["optin"] != 1 || kinds["campaign"] != 5 {
				t.Fatalf("messages by kind: %v", kinds)
			}
			// The verifiers do fail on a changed message.
			msg, _ := os.ReadFile(files[0])
			bad := bytes.Replace(msg, []byte("Subject: "), []byte("Subject: Re: "), 1)
			if verifies(t, py, k, bad) {
				t.Fatal("a message with a changed subject still verifies")
			}
		})
	}
}
