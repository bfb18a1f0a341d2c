package mailtemplates

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"testing"
)

func TestBodyErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, body string
		line       int
		want       string
	}{
		{"unknown type", "Hej\n\n:::artikel{kicker=\"x\"}\n## H\n:::\n", 3, `unknown block type "artikel"`},
		{"unknown attribute", ":::article{kicker=\"x\" colour=\"red\"}\n## H\n:::\n", 1, `no attribute "colour"`},
		{"bad attribute syntax", ":::article{kicker=x}\n## H\n:::\n", 1, "name=\"value\""},
		{"nested", ":::article{}\n## H\n\n:::article{}\n## I\n:::\n:::\n", 4, "do not nest"},
		{"stray close", "Text\n\n:::\n", 3, "closing :::"},
		{"article without headline", ":::article{kicker=\"x\"}\nJust text.\n:::\n", 1, "needs a headline"},
		{"relative image", ":::article{image=\"bild.jpg\"}\n## H\n:::\n", 1, "absolute https:// URL"},
		{"javascript link", ":::article{more=\"javascript:alert(1)\"}\n## H\n:::\n", 1, "absolute https:// URL"},
		{"calendar without list", ":::calendar{}\n## Kalender\nInget här.\n:::\n", 1, "list of entries"},
		{"headline not first", ":::article{}\nIntro.\n\n## H\n:::\n", 1, "must be the first"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateBody(tc.body)
			var be *BodyError
			if !errors.As(err, &be) {
				t.Fatalf("err %v, want a BodyError", err)
			}
			if be.Line != tc.line || !strings.Contains(be.Msg, tc.want) {
				t.Fatalf("got line %d %q, want line %d mentioning %q", be.Line, be.Msg, tc.line, tc.want)
			}
		})
	}
	// And the seed-like issues are valid.
	for _, tc := range issueCases {
		if err := ValidateBody(loadIssue(t, tc.file).Body); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
}

func TestBlocksRenderTheSameContentInBothParts(t *testing.T) {
	tm := testTemplates(t)
	body := ":::article{kicker=\"Välfärd\" image=\"https://example.se/a.jpg\" alt=\"Ett möte\" caption=\"Foto: Eva\" more=\"https://example.se/a\"}\n" +
		"## Rubriken\n\nKort text.\n:::\n\n" +
		":::calendar{kicker=\"Kalendarium\"}\n- 2 april | [Styrelsemöte](https://example.se/s)\n- **3 april** | Nätverk\n- Utan datum\n:::\n\n" +
		":::editorial{signature=\"Karin, direktör\"}\n## Ledare\nText.\n:::\n"
	c, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: "s", Body: body, From: mail.Address{Address: "a@example.se"}, ListName: "L", Org: "O"})
	if err != nil {
		t.Fatal(err)
	}
	r := testRecipient("sv")
	h, txt := c.HTML(r), c.Text(r)
	for _, want := range []struct{ html, text string }{
		{">Välfärd</p>", "VÄLFÄRD\nRubriken\n--------"},
		{`<h2 style="`, "Rubriken"},
		{`alt="Ett möte"`, "[Bild: Ett möte]"},
		{">Foto: Eva</p>", "Foto: Eva"},
		{`aria-label="Läs mer: Rubriken">Läs mer &rarr;</a>`, "Läs mer [1]"},
		{`>2 april</td>`, "- 2 april: Styrelsemöte [2]"},
		{`>3 april</td>`, "- 3 april: Nätverk"},
		{`<td width="30%" style="` + DefaultTheme.CalDate + `"></td><td style="` + DefaultTheme.CalTitle + `">Utan datum`, "- Utan datum"},
		{">Karin, direktör</p>", "Karin, direktör"},
	} {
		if !strings.Contains(h, want.html) {
			t.Errorf("HTML lacks %q", want.html)
		}
		if !strings.Contains(txt, want.text) {
			t.Errorf("text lacks %q:\n%s", want.text, txt)
		}
	}
	if strings.Contains(h, "**") || strings.Contains(h, "|") {
		t.Error("calendar markup leaked into the HTML")
	}
}

func TestPlaceholdersInBlockAttributesAreEscaped(t *testing.T) {
	tm := testTemplates(t)
	body := ":::article{kicker=\"För {{ attr.kommun }}\" more=\"https://example.se/k?n={{ attr.kommun }}\"}\n## Hej {{ name }}\n:::\n"
	c, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: "s", Body: body, From: mail.Address{Address: "a@example.se"}, ListName: "L", Org: "O"})
	if err != nil {
		t.Fatal(err)
	}
	r := testRecipient("sv")
	r.Name = `<b>"x"</b>`
	r.Attributes = map[string]any{"kommun": `Å&<i>`}
	h := c.HTML(r)
	for _, bad := range []string{"<b>", "<i>"} {
		if strings.Contains(h, bad) {
			t.Fatalf("value injected %s", bad)
		}
	}
	if !strings.Contains(h, `href="https://example.se/k?n=%C3%85%26%3Ci%3E"`) {
		t.Errorf("attribute in URL not query-escaped:\n%s", h)
	}
	if !strings.Contains(h, "För Å&amp;&lt;i&gt;") {
		t.Error("kicker value not HTML-escaped")
	}
}

func TestContentLanguageAndFooterLanguage(t *testing.T) {
	tm := testTemplates(t)
	c := compileIssue(t, tm, issueCases[0]) // Swedish content
	h := c.HTML(testRecipient("en"))
	if !strings.Contains(h, `<html lang="sv"`) {
		t.Error("html lang is not the content language")
	}
	if !strings.Contains(h, `lang="en" style="padding:16px 32px 32px 32px;`) {
		t.Error("English footer not marked lang=en")
	}
	if !strings.Contains(h, "Läs mer") || !strings.Contains(h, "Unsubscribe") {
		t.Error("want Swedish content words and an English footer")
	}
	en := compileIssue(t, tm, issueCases[3])
	if h := en.HTML(testRecipient("en")); !strings.Contains(h, `<html lang="en"`) || strings.Contains(h, "Läs mer") {
		t.Error("English issue: want lang=en and no Swedish words")
	}
}

func TestRenderedHTMLHoldsUp(t *testing.T) {
	tm := testTemplates(t)
	for _, tc := range issueCases {
		h := compileIssue(t, tm, tc).HTML(testRecipient("sv"))
		checks := []struct {
			ok   bool
			what string
		}{
			{strings.Contains(h, `role="presentation"`), "table-based layout"},
			{strings.Contains(h, "max-width:600px"), "max width 600 px"},
			{strings.Contains(h, "<h1") && strings.Contains(h, "<h2"), "real headings"},
			{strings.Contains(h, `name="color-scheme" content="light dark"`), "colour-scheme meta"},
			{strings.Contains(h, "prefers-color-scheme: dark"), "dark-mode styles"},
			{!strings.Contains(h, "<link"), "no external CSS"},
			{!strings.Contains(h, "<script"), "no script"},
			{!strings.Contains(h, "class=\"brand\"") || strings.Contains(h, `<h1 class="brand" style="font-family:Georgia`), "BUS <style> rules inlined"},
		}
		for _, ch := range checks {
			if !ch.ok {
				t.Errorf("%s: %s", tc.name, ch.what)
			}
		}
		hrefs, texts := htmlLinks(t, h)
		for i := range hrefs {
			if strings.TrimSpace(texts[i]) == "" {
				t.Errorf("%s: link %s has no text", tc.name, hrefs[i])
			}
		}
		if n := strings.Count(h, "<img"); n != strings.Count(h, ` alt="`) {
			t.Errorf("%s: %d images, not all with alt", tc.name, n)
		}
	}
}
