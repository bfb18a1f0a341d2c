package bounce

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The corpus in testdata/corpus is utskick's own: each file was written
// for this test after the shape a given MTA or provider gives its notices
// (Postfix, Exim, Sendmail, qmail, Courier, OpenSMTPD, Lotus Notes,
// Exchange Online, Gmail, Yahoo, Amazon SES through SNS, …), with made-up
// hosts and addresses. The directory a file is in is its label. Files
// named heldout_* were written after the rules and run against them once
// before any rule was changed for them (31 of 34 right then); they stay
// here so that the rules keep what was learnt from them.

// corpusClasses are the labels, in the order the matrix prints them.
var corpusClasses = []string{"hard", "soft", "policy", "delay", "complaint", "unsubscribe", "autoreply", "ignore"}

// classOf maps a Report's Kind to a corpus label.
var classOf = map[Kind]string{
	KindHardBounce:   "hard",
	KindSoftBounce:   "soft",
	KindPolicyBounce: "policy",
	KindDelayed:      "delay",
	KindComplaint:    "complaint",
	KindUnsubscribe:  "unsubscribe",
	KindAutoReply:    "autoreply",
	KindUnknown:      "ignore",
}

// corpusRecipients names the recipient a report must pick where a notice
// lists more than one: the one the returned message was sent to.
var corpusRecipients = map[string]string{
	"hard/postfix_multi_rcpt_135.eml":   "maja.ström135@receiver.example",
	"hard/exim_multi_rcpt_136.eml":      "nils.berg136@receiver.example",
	"hard/qmail_multi_rcpt_137.eml":     "olle.ring137@receiver.example",
	"soft/postfix_multi_rcpt_167.eml":   "erik.mo167@receiver.example",
	"policy/postfix_multi_rcpt_220.eml": "tina.vass220@receiver.example",
}

// Thresholds the classifier must keep on the corpus. Calling a policy
// rejection or anything that is not a bounce "hard" suppresses a real
// subscriber, so those confusions must not happen at all.
const corpusMinRecall = 0.95

func TestCorpusAccuracy(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*", "*.eml"))
	if err != nil || len(files) < 100 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	matrix := map[string]map[string]int{} // label → classified as → count
	var wrong []string
	for _, file := range files {
		rel, _ := filepath.Rel(filepath.Join("testdata", "corpus"), file)
		rel = filepath.ToSlash(rel)
		label := filepath.Base(filepath.Dir(file))
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got := "error"
		rep, err := Parse(bytes.NewReader(raw), nil)
		if err == nil {
			checkReport(t, rep)
			got = classOf[rep.Kind]
		}
		if matrix[label] == nil {
			matrix[label] = map[string]int{}
		}
		matrix[label][got]++
		if got != label {
			wrong = append(wrong, fmt.Sprintf("%s: classified %s (status %q, diagnostic %.90q, err %v)", rel, got, rep.Status, rep.Diagnostic, err))
			continue
		}
		switch label {
		case "hard", "soft", "policy", "delay", "unsubscribe":
			if rep.Token == "" {
				t.Errorf("%s: no delivery token found", rel)
			}
		}
		if want, ok := corpusRecipients[rel]; ok && rep.Recipient != want {
			t.Errorf("%s: recipient %q, want %q", rel, rep.Recipient, want)
		}
	}
	for rel := range corpusRecipients {
		if _, err := os.Stat(filepath.Join("testdata", "corpus", filepath.FromSlash(rel))); err != nil {
			t.Errorf("corpusRecipients names a missing file: %v", err)
		}
	}

	t.Log("\n" + confusionMatrix(matrix))
	sort.Strings(wrong)
	for _, w := range wrong {
		t.Log(w)
	}
	for _, label := range corpusClasses {
		row := matrix[label]
		total := 0
		for _, n := range row {
			total += n
		}
		if total == 0 {
			t.Errorf("class %s has no fixtures", label)
			continue
		}
		if recall := float64(row[label]) / float64(total); recall < corpusMinRecall {
			t.Errorf("class %s: %d of %d right (%.1f%%), want at least %.0f%%", label, row[label], total, 100*recall, 100*corpusMinRecall)
		}
		if label != "hard" && row["hard"] > 0 {
			t.Errorf("class %s: %d classified hard, which would suppress the address; want 0", label, row["hard"])
		}
	}
}

// confusionMatrix renders rows (labels) against columns (classifications)
// with each row's recall.
func confusionMatrix(m map[string]map[string]int) string {
	cols := append(append([]string{}, corpusClasses...), "error")
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s", "label\\got")
	for _, c := range cols {
		fmt.Fprintf(&b, "%8.7s", c)
	}
	fmt.Fprintf(&b, "%8s\n", "recall")
	for _, label := range corpusClasses {
		total := 0
		fmt.Fprintf(&b, "%-12s", label)
		for _, c := range cols {
			fmt.Fprintf(&b, "%8d", m[label][c])
			total += m[label][c]
		}
		recall := 0.0
		if total > 0 {
			recall = 100 * float64(m[label][label]) / float64(total)
		}
		fmt.Fprintf(&b, "%7.1f%%\n", recall)
	}
	return b.String()
}

// BenchmarkParseCorpus parses every corpus message once per iteration.
func BenchmarkParseCorpus(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*", "*.eml"))
	var msgs [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, raw)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			Parse(bytes.NewReader(m), nil)
		}
	}
}
