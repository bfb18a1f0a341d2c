package mailtemplates

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"strings"
	"testing"
)

func compileTracked(t *testing.T, tr Tracking) *Compiled {
	t.Helper()
	c, err := testTemplates(t).CompileCampaign(context.Background(), CampaignInput{
		Subject: "s", From: mail.Address{Address: "a@example.se"}, ListName: "L", Org: "O", Tracking: tr,
		Body: "[Läs mer](https://example.se/nyheter/1?a=1&b=2) och [igen](https://example.se/nyheter/1?a=1&b=2)\n\n" +
			"[Två](https://example.se/2) [profil](https://example.se/p?e={{ email }}) <info@example.se>",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClickTrackingRewritesLinksPerRecipient(t *testing.T) {
	c := compileTracked(t, Tracking{Clicks: true})
	want := []string{"https://example.se/nyheter/1?a=1&b=2", "https://example.se/2"}
	if got := c.Links(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("links %q, want %q (one per distinct URL; a link with a placeholder is not tracked)", got, want)
	}

	tracked := testRecipient("sv")
	tracked.LinkURL = func(i int) string { return fmt.Sprintf("https://news.example.se/l/tok%d?x=1&y=2", i) }
	var buf bytes.Buffer
	c.WriteMessage(&buf, tracked, WriteOptions{})
	_, text, htmlPart := parseMessage(t, buf.Bytes())
	for _, s := range []string{`href="https://news.example.se/l/tok0?x=1&amp;y=2"`, `href="https://news.example.se/l/tok1?x=1&amp;y=2"`,
		`href="https://example.se/p?e=anna.svensson%40example.se"`, `href="https://nyhetsbrev.example.se/unsubscribe/abc234"`} {
		if !strings.Contains(htmlPart, s) {
			t.Errorf("tracked HTML lacks %s", s)
		}
	}
	if strings.Contains(htmlPart, `href="https://example.se/nyheter`) || strings.Contains(htmlPart, "<img") {
		t.Error("tracked HTML still has an original link, or a pixel nobody asked for")
	}
	if !strings.Contains(text, "[1] https://news.example.se/l/tok0?x=1&y=2") || !strings.Contains(text, "[3] https://news.example.se/l/tok1") {
		t.Errorf("text footnotes not tracked:\n%s", text)
	}

	// The same compile writes untracked mail for a recipient without consent.
	plain := testRecipient("en")
	buf.Reset()
	c.WriteMessage(&buf, plain, WriteOptions{})
	_, text, htmlPart = parseMessage(t, buf.Bytes())
	if strings.Contains(htmlPart, "/l/") || strings.Contains(text, "/l/") {
		t.Fatal("untracked recipient got a redirect link")
	}
	if !strings.Contains(htmlPart, `href="https://example.se/nyheter/1?a=1&amp;b=2"`) || !strings.Contains(text, "https://example.se/nyheter/1?a=1&b=2") {
		t.Fatalf("untracked recipient lost the original link:\n%s", htmlPart)
	}
}

func TestOpenPixelOnlyForTrackedRecipients(t *testing.T) {
	c := compileTracked(t, Tracking{Opens: true})
	if len(c.Links()) != 0 {
		t.Fatal("links tracked without Tracking.Clicks")
	}
	r := testRecipient("sv")
	r.OpenURL = "https://news.example.se/o/abc?q=<x>"
	h := c.HTML(r)
	if !strings.Contains(h, `<img src="https://news.example.se/o/abc?q=&lt;x&gt;" width="1" height="1"`) {
		t.Fatalf("pixel missing or unescaped:\n%s", h)
	}
	if i, j := strings.Index(h, `/o/abc`), strings.Index(h, "</body>"); i > j {
		t.Fatal("pixel after </body>")
	}
	r.OpenURL = ""
	if h := c.HTML(r); strings.Contains(h, "<img src=\"https://news") || strings.Contains(h, `<img src=""`) {
		t.Fatal("recipient without consent got a pixel")
	}
	if strings.Contains(c.Text(r), "Qph") {
		t.Fatal("marker leaked into the text part")
	}
}
