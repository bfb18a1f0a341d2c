package mailtemplates

import (
	"context"
	"errors"
	"net/mail"
	"os"
	"strings"
	"testing"
)

func TestInlineCSS(t *testing.T) {
	src := `<html lang="sv"><head><style>
/* a comment */
p { margin: 0; color: "red" }
.big, h2 { font-size: 20px }
td.cell { padding: 4px }
.x { color: {{.Theme.Accent}} }
@media (prefers-color-scheme: dark) { .x { color: #fff !important; } }
td p { color: blue }
</style></head>
<body><p class="big" style="margin:2px">a</p><td class="cell other {{if .Archive}}arch{{end}}">b</td><h2>c</h2><span class="x">d</span><br/></body></html>`
	got := InlineCSS(src)
	for _, want := range []string{
		`<p class="big" style="margin:0;color:'red';font-size:20px;margin:2px">`,
		`<td class="cell other {{if .Archive}}arch{{end}}" style="padding:4px;">`,
		`<h2 style="font-size:20px;">`,
		`<span class="x" style="color:{{.Theme.Accent}};">`,
		"@media (prefers-color-scheme: dark) { .x { color: #fff !important; } }",
		"td p { color: blue }",
		"<br/>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "a comment") || strings.Contains(got, "td.cell {") {
		t.Errorf("inlined rules or comments left in <style>:\n%s", got)
	}
	if InlineCSS("<p>no style</p>") != "<p>no style</p>" {
		t.Error("a template without <style> changed")
	}
}

func TestPrepareLayoutRejects(t *testing.T) {
	tm := testTemplates(t)
	good, err := os.ReadFile("testdata/templates/bus.html")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src string
		colors    ThemeColors
		field     string
		want      string
	}{
		{"no unsubscribe link", strings.ReplaceAll(string(good), `href="{{.UnsubscribeURL}}"`, `href="https://example.se"`), ThemeColors{}, "html", "unsubscribe link"},
		{"unsubscribe only as text", `<html lang="sv"><body>{{.Content}} {{.UnsubscribeURL}}</body></html>`, ThemeColors{}, "html", "unsubscribe link"},
		{"unsubscribe only in sv", `<html lang="sv"><body>{{.Content}}{{if eq .Lang "sv"}}<a href="{{.UnsubscribeURL}}">x</a>{{end}}</body></html>`, ThemeColors{}, "html", "en rendering"},
		{"no content", `<html lang="sv"><body><a href="{{.UnsubscribeURL}}">x</a></body></html>`, ThemeColors{}, "html", "{{.Content}}"},
		{"no lang", `<html><body>{{.Content}}<a href="{{.UnsubscribeURL}}">x</a></body></html>`, ThemeColors{}, "html", "lang"},
		{"parse error", `<html lang="sv">{{if .Content}}`, ThemeColors{}, "html", "unexpected EOF"},
		{"unknown field", `<html lang="sv">{{.Content}}<a href="{{.UnsubscribeURL}}">x</a>{{.Recipient.Email}}</html>`, ThemeColors{}, "html", "Recipient"},
		{"script", `<html lang="sv"><script>alert(1)</script>{{.Content}}<a href="{{.UnsubscribeURL}}">x</a></html>`, ThemeColors{}, "html", "<script>"},
		{"external css", `<html lang="sv"><link rel="stylesheet" href="https://x/y.css">{{.Content}}<a href="{{.UnsubscribeURL}}">x</a></html>`, ThemeColors{}, "html", "external style sheet"},
		{"bad colour", string(good), ThemeColors{Accent: "blue"}, "theme.accent", "#1d4f91"},
		{"low contrast", string(good), ThemeColors{Text: "#aaaaaa"}, "theme.text", "4.5:1"},
		{"accent text", string(good), ThemeColors{Accent: "#2e6b3a", AccentText: "#333333"}, "theme.accent_text", "contrast"},
		{"font injection", string(good), ThemeColors{Font: `Arial;} body{display:none`}, "theme.font", "font names"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tm.PrepareLayout("x", tc.src, tc.colors)
			var le *LayoutError
			if !errors.As(err, &le) || le.Field != tc.field || !strings.Contains(le.Msg, tc.want) {
				t.Fatalf("err %v, want LayoutError on %s mentioning %q", err, tc.field, tc.want)
			}
		})
	}
}

func TestStaffLayoutChangesTheLook(t *testing.T) {
	tm := testTemplates(t)
	in := CampaignInput{Subject: "s", Body: ":::article{kicker=\"K\"}\n## H\n:::\n", From: mail.Address{Address: "a@example.se"}, ListName: "BUS", Org: "O"}
	def, err := tm.CompileCampaign(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	in.Layout = busLayout(t, tm)
	bus, err := tm.CompileCampaign(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	r := testRecipient("sv")
	dh, bh := def.HTML(r), bus.HTML(r)
	if strings.Contains(dh, "#2e6b3a") || !strings.Contains(bh, "color:#2e6b3a;") {
		t.Error("the BUS theme's accent does not style the content")
	}
	if !strings.Contains(bh, "Georgia") || !strings.Contains(bh, `<h1 class="brand" style="font-family:Georgia`) {
		t.Error("BUS layout or its inlined styles missing")
	}
	if !strings.Contains(bh, `href="`+r.UnsubscribeURL+`"`) {
		t.Error("unsubscribe link missing from the staff layout's mail")
	}
}

func TestArchiveRenderingHasNoPersonalLinks(t *testing.T) {
	tm := testTemplates(t)
	for _, tc := range issueCases {
		is := loadIssue(t, tc.file)
		in := CampaignInput{Subject: is.Subject, Body: is.Body, Language: tc.lang, From: mail.Address{Address: "a@example.se"},
			ListName: tc.list, Org: "O", Archive: true}
		if tc.bus {
			in.Layout = busLayout(t, tm)
		}
		c, err := tm.CompileCampaign(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		sub := "https://nyhetsbrev.example.se/subscribe/x"
		h := c.HTML(&Recipient{Language: tc.lang, UnsubscribeURL: sub, PreferencesURL: sub})
		if strings.Contains(h, "/unsubscribe/") || strings.Contains(h, "/preferences/") {
			t.Errorf("%s: personal link in the archive", tc.name)
		}
		if !strings.Contains(h, `href="`+sub+`"`) {
			t.Errorf("%s: no subscribe link in the archive", tc.name)
		}
	}
}
