package mailtemplates

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Issue 10 item 18: templates accepted <meta http-equiv="refresh"> (the
// archive page then redirected its readers) and "jav&#x09;ascript:"
// (a tab once decoded, which browsers drop). Each is refused at save,
// naming the html field.
func TestLayoutsThatRedirectOrRunScriptsAreRefused(t *testing.T) {
	tm := testTemplates(t)
	cases := map[string]string{
		"meta refresh":                 `<meta http-equiv="refresh" content="0;url=https://elak.example">`,
		"meta refresh, entity-encoded": `<meta http-equiv="&#82;efresh" content="0;url=https://elak.example">`,
		"javascript with a tab entity": `<a href="jav&#x09;ascript:alert(1)">x</a>`,
		"javascript with a newline":    "<a href=\"java\nscript:alert(1)\">x</a>",
		"javascript upper case":        `<a href=" JAVASCRIPT:alert(1)">x</a>`,
		"javascript assembled":         `<a href="jav{{""}}ascript:alert(1)">x</a>`,
		"javascript only in archive":   `{{if .Archive}}<a href="vb{{"script"}}:x">x</a>{{end}}`,
		"data page in a link":          `<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>`,
		"data image source":            `<img src="data:image/svg+xml,<svg onload=alert(1)>" alt="">`,
		"srcset":                       `<img src="https://example.se/a.png" srcset="https://example.se/b.png 2x, javascript:x 3x" alt="">`,
		"event handler":                `<img src="https://example.se/a.png" alt="" onerror="alert(1)">`,
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := tm.PrepareLayout("t", minimalLayout(extra), ThemeColors{})
			var le *LayoutError
			if !errors.As(err, &le) || le.Field != "html" {
				t.Fatalf("got %v, want a layout error naming html", err)
			}
			t.Log(le.Msg)
		})
	}
	// What a layout may have.
	ok := `<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><a href="mailto:red@example.se">m</a> <a href="tel:+468123">t</a> <img src="https://example.se/logo.png" alt="Logo"> <a href="#top">upp</a>`
	if _, _, err := tm.PrepareLayout("t", minimalLayout(ok), ThemeColors{}); err != nil {
		t.Fatalf("an ordinary layout is refused: %v", err)
	}
}

// A layout stored before these checks is refused when a campaign is
// compiled with it, so that it never reaches a reader.
func TestStoredRedirectingLayoutIsRefusedAtRender(t *testing.T) {
	tm := testTemplates(t)
	l, err := tm.ParseLayout("t", minimalLayout(`<meta http-equiv="refresh" content="0;url=https://elak.example">`), ThemeColors{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tm.CompileCampaign(context.Background(), CampaignInput{Subject: "s", Body: "Hej", Layout: l})
	var le *LayoutError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a layout error", err)
	}
}

// Issue 10 item 18: Markdown images passed javascript: and data: sources
// (a paragraph that is only an image became a figure with the source as
// it was). They are refused at save naming the line, and emptied when a
// body stored before is rendered.
func TestMarkdownUnsafeURLsAreRefusedAndNeutralised(t *testing.T) {
	tm := testTemplates(t)
	cases := map[string]string{
		"javascript image":           "Hej\n\n![bild](javascript:alert(1))",
		"data image":                 "Hej\n\n![bild](data:image/svg+xml;base64,PHN2Zz4=)",
		"image inside text":          "Hej\n\nSe ![bild](data:image/png;base64,iVBOR) här.",
		"link with a tab entity":     "Hej\n\n[klicka](jav&#x09;ascript:alert(1))",
		"link with a newline entity": "Hej\n\n[klicka](java&#10;script:alert(1))",
		"vbscript link":              "Hej\n\n[x](VBScript:msgbox)",
		"reference link":             "Hej\n\n[x][r]\n\n[r]: javascript:alert(1)",
		"in an article":              ":::article\n## Rubrik\n[x](javascript:alert(1))\n:::",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			var be *BodyError
			if err := ValidateBody(body); !errors.As(err, &be) || be.Line != 3 && !strings.HasPrefix(name, "in an") {
				t.Fatalf("ValidateBody: %v, want a body error on line 3", err)
			}
			c, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: "s", Body: body})
			if err != nil {
				t.Fatal(err)
			}
			out := c.HTML(testRecipient("sv"))
			doc, err := html.Parse(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				for _, a := range n.Attr {
					if (a.Key == "href" || a.Key == "src") && !SafeURL(a.Val) {
						t.Errorf("<%s %s=%q> in the rendered mail", n.Data, a.Key, a.Val)
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if txt := c.Text(testRecipient("sv")); strings.Contains(strings.ToLower(txt), "script:") || strings.Contains(txt, "data:") {
				t.Errorf("the text part shows the address:\n%s", txt)
			}
		})
	}
	for _, ok := range []string{"[sajten](https://example.se)", "[mejla](mailto:red@example.se)", "[ring](tel:+468123)", "![foto](https://example.se/a.jpg)", "[x]({{ attr.url }})"} {
		if err := ValidateBody(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestURLSchemeIsWhatABrowserSees(t *testing.T) {
	for in, want := range map[string]string{
		"javascript:x": "javascript", " \tJaVa\nScRipt:x": "javascript", "https://a": "https", "/path:x": "", "a/b:c": "",
		"?q=javascript:": "", "#x": "", "": "", "data:text/html,": "data", "1abc:x": "", "mailto:a@b": "mailto",
	} {
		if got := URLScheme(in); got != want {
			t.Errorf("URLScheme(%q) = %q, want %q", in, got, want)
		}
	}
}
