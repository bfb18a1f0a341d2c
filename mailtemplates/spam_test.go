package mailtemplates

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/worker/mailer"
)

// EnvTools makes tests that need Debian's spamassassin and chromium fail,
// instead of skip, when they are missing; CI sets it.
const EnvTools = "UTSKICK_TEST_TOOLS"

var spamStatusRE = regexp.MustCompile(`(?s)X-Spam-Status: (Yes|No), score=(-?[0-9.]+) required=[0-9.]+ tests=(.*?)\s+autolearn=`)

// spamScore runs SpamAssassin offline (-L: no network tests) on msg and
// returns the score and the rules that fired.
func spamScore(t *testing.T, msg []byte) (float64, []string) {
	t.Helper()
	bin, err := exec.LookPath("spamassassin")
	if err != nil {
		if os.Getenv(EnvTools) != "" {
			t.Fatalf("%s is set but spamassassin is missing (apt-get install spamassassin)", EnvTools)
		}
		t.Skip("spamassassin not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-L", "-t")
	// A fresh home: no learnt Bayes data or user preferences carry over.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spamassassin: %v", err)
	}
	m := spamStatusRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no X-Spam-Status in the output:\n%s", lastLines(string(out), 20))
	}
	score, _ := strconv.ParseFloat(string(m[2]), 64)
	rules := strings.FieldsFunc(string(m[3]), func(r rune) bool { return r == ',' || r == ' ' || r == '\r' || r == '\n' || r == '\t' })
	return score, rules
}

// TestSpamAssassinScore checks that a seed-like issue, as utskick sends
// it (with and without a DKIM signature), scores well below SpamAssassin's
// threshold.
func TestSpamAssassinScore(t *testing.T) {
	tm := testTemplates(t)
	c := compileIssue(t, tm, issueCases[0])
	var msg bytes.Buffer
	c.WriteMessage(&msg, testRecipient("sv"), WriteOptions{})
	key, _, err := mailer.GenerateDKIMKey(mailer.DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := mailer.NewDKIM("nyhetsbrev.example.se", "utskick", key)
	if err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	if err := dk.Sign(&signed, msg.Bytes(), nil); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name string
		msg  []byte
	}{{"unsigned", msg.Bytes()}, {"dkim-signed", signed.Bytes()}} {
		score, rules := spamScore(t, v.msg)
		t.Logf("%s: SpamAssassin score %.1f, rules: %s", v.name, score, strings.Join(rules, " "))
		if score >= 2.0 {
			t.Errorf("%s: score %.1f, want below 2.0 (rules %v)", v.name, score, rules)
		}
	}
	// The check can fail: SpamAssassin's own test pattern in the body.
	gtube, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: "s", Body: "`XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X`",
		ListName: "L", Org: "O"})
	if err != nil {
		t.Fatal(err)
	}
	msg.Reset()
	gtube.WriteMessage(&msg, testRecipient("sv"), WriteOptions{})
	if score, rules := spamScore(t, msg.Bytes()); score < 100 {
		t.Errorf("GTUBE scored %.1f (%v): the SpamAssassin run does not check", score, rules)
	}
}
