package lint_test

import (
	"context"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/mailtemplates/lint"
)

func check(t *testing.T, body string) lint.Report {
	t.Helper()
	return (&lint.Checker{Resolver: goodDNS()}).Check(context.Background(), lint.Input{Message: render(t, "Nyheter i mars", body, nil),
		UnsubscribeURL: unsub, ReturnPath: "bounces@example.se", DKIM: goodKey})
}

const filler = "Förbundet samlar kommunerna i länet kring frågor om välfärd, skola och samhällsbyggnad. " +
	"Här är nyheterna från den senaste månaden, med länkar till mer läsning för den som vill veta mer.\n\n"

// Issue 10 item 24: links through URL shorteners were not flagged.
func TestLintFlagsLinkShorteners(t *testing.T) {
	r := check(t, filler+"[Anmälan till konferensen](https://bit.ly/3xYzAb) och [programmet](https://www.tinyurl.com/prog).\n")
	var n int
	for _, f := range r.Findings {
		if f.Code == "link_shortener" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d link_shortener findings, want 2: %+v", n, r.Findings)
	}
	if _, ok := codes(check(t, filler+"[Anmälan](https://example.se/anmalan)\n"))["link_shortener"]; ok {
		t.Fatal("an ordinary link is called a shortener")
	}
}

// Issue 10 item 24: a block's more_text="klicka här" was exempt because
// the block adds an aria-label; sighted readers still see "klicka här".
// The block's own "Läs mer", which the aria-label completes, stays fine.
func TestVagueMoreTextIsFlaggedDespiteItsAriaLabel(t *testing.T) {
	vague := filler + ":::article{more=\"https://example.se/a\" more_text=\"Klicka här\"}\n## Nya regler för bygglov\nText om bygglov.\n:::\n"
	f, ok := codes(check(t, vague))["vague_link_text"]
	if !ok || !strings.Contains(f.Message, "Klicka här") {
		t.Fatalf("no vague_link_text for more_text=\"Klicka här\": %+v", check(t, vague).Findings)
	}
	fine := filler + ":::article{more=\"https://example.se/a\"}\n## Nya regler för bygglov\nText om bygglov.\n:::\n"
	if f, ok := codes(check(t, fine))["vague_link_text"]; ok {
		t.Fatalf("the block's own \"Läs mer\" with its headline is flagged: %+v", f)
	}
	bare := filler + "[Läs mer](https://example.se/a)\n"
	if _, ok := codes(check(t, bare))["vague_link_text"]; !ok {
		t.Fatal("a bare \"Läs mer\" without context is not flagged")
	}
}

// Issue 10 item 24: Markdown links that did not parse stayed in the mail
// as literal text without a word from the lint.
func TestMalformedLinksLeftAsTextAreFlagged(t *testing.T) {
	for _, bad := range []string{
		"Se [programmet](https://example.se/program 2026) för tider.",
		"Se [programmet] (https://example.se/program) för tider.",
		"Se [programmet](https://example.se/program för tider.",
		"Se programmet på https:/example.se/program för tider.",
	} {
		r := check(t, filler+bad+"\n")
		if _, ok := codes(r)["malformed_link"]; !ok {
			t.Errorf("%q: no malformed_link in %+v", bad, r.Findings)
		}
	}
	for _, ok := range []string{
		"Se [programmet](https://example.se/program) för tider.",
		"Se https://example.se/program för tider [1].",
		"Priset (se nedan) gäller [medlemmar] i förbundet.",
	} {
		if f, found := codes(check(t, filler+ok+"\n"))["malformed_link"]; found {
			t.Errorf("%q flagged: %+v", ok, f)
		}
	}
}

// Issue 10 item 24: without a resolver (the default set-up delivers to
// the embedded capture) the DKIM, SPF and DMARC checks were skipped
// without a word, which reads as "all is well". They are reported as not
// checked, with the reason.
func TestDNSChecksWithoutAResolverAreReportedNotChecked(t *testing.T) {
	const why = "UTSKICK_SMTP_URL is not set"
	r := (&lint.Checker{NoDNSReason: why}).Check(context.Background(), lint.Input{Message: render(t, "Nyheter i mars", filler, nil),
		UnsubscribeURL: unsub, ReturnPath: "bounces@example.se", DKIM: goodKey})
	got := codes(r)
	for _, code := range []string{"dkim_unchecked", "spf_unchecked", "dmarc_unchecked"} {
		f, ok := got[code]
		if !ok || f.Severity != lint.Info || !strings.Contains(f.Message, "not checked") || !strings.Contains(f.Message, why) {
			t.Errorf("%s: %+v", code, f)
		}
	}
	if r.Blocking {
		t.Error("an unchecked DNS blocks sending")
	}
}
