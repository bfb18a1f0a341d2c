package mailtemplates

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// Layout is a staff template: the frame around a campaign's content,
// written as a Go html/template, with the theme the content is styled
// with. The content itself is always the fixed block set (editorial,
// article, calendar, text), rendered by utskick.
//
// The template sees these fields:
//
//	.Lang            the subscriber's language (sv, en): the footer's language
//	.ContentLang     the content's language (the list's): put it on <html lang>
//	.Subject .Preheader .ListName .Org
//	.PostalAddress   the sender's postal address ("" if none is set); show it, or .T.Address
//	.Contact         a line that says how to reach the sender ("" if none)
//	.Content         the rendered issue
//	.UnsubscribeURL  the subscriber's one-click unsubscribe link (required in an href)
//	.PreferencesURL  the subscriber's preferences page
//	.ArchiveURL      the issue in the public archive, or "" ("view in browser")
//	.Archive         true when rendered for the public archive (links are then not personal)
//	.Theme           .Accent .AccentText .Text .Muted .Background .Surface .Tint .DarkAccent .Font
//	.T               footer texts in .Lang: .Why .Unsubscribe .Preferences .Sender .ViewOnline .Subscribe
//	                 .Address ("Postadress: …", "" without a postal address)
type Layout struct {
	Name  string
	Theme *Theme
	html  *guardedLayout
}

// LayoutError names what is wrong with a staff template: Field is "html"
// or a theme field such as "theme.accent".
type LayoutError struct {
	Field, Msg string
}

func (e *LayoutError) Error() string { return e.Field + ": " + e.Msg }

// forbidden are things a mail layout must not hold: scripts never run in
// mail and mark it as spam, external style sheets are not loaded.
var forbidden = []struct {
	re  *regexp.Regexp
	msg string
}{
	{regexp.MustCompile(`(?i)<script`), "must not contain <script>"},
	{regexp.MustCompile(`(?i)<link[^>]*stylesheet`), "must not load an external style sheet (<link rel=stylesheet>); put the CSS in a <style> block and it is inlined"},
	{regexp.MustCompile(`(?i)@import`), "must not @import style sheets; mail clients do not load them"},
	{regexp.MustCompile(`(?i)<(iframe|object|embed|form)\b`), "must not contain <iframe>, <object>, <embed> or <form>; mail clients block them"},
	{regexp.MustCompile(`(?i)javascript:`), "must not contain javascript: links"},
}

// sampleUnsubscribe and sampleContent let validation see where the
// template puts the unsubscribe link and the content.
const (
	sampleUnsubscribe = "https://utskick.invalid/unsubscribe/sample-token"
	sampleContent     = `<p>QutskickContentZ</p>`
)

// PrepareLayout checks a staff template when it is saved and returns its
// source with the <style> rules inlined (InlineCSS), which is what is
// stored and sent. The template must parse, run with sample data in every
// language, put the content and the unsubscribe link (in an <a href>) in
// the mail, and set a lang attribute on <html>. Every problem is a
// *LayoutError.
func (t *Templates) PrepareLayout(name, src string, colors ThemeColors) (string, *Layout, error) {
	for _, f := range forbidden {
		if f.re.MatchString(src) {
			return "", nil, &LayoutError{"html", f.msg}
		}
	}
	if err := checkHTMLSafety(src); err != nil {
		return "", nil, &LayoutError{"html", err.Error()}
	}
	inlined := InlineCSS(src)
	l, err := t.ParseLayout(name, inlined, colors)
	if err != nil {
		return "", nil, err
	}
	for _, archive := range []bool{false, true} {
		for _, lang := range Languages {
			data := t.sampleData(lang, l.Theme, archive)
			var buf bytes.Buffer
			if err := l.html.execute(context.Background(), &buf, data, len(sampleContent)); err != nil {
				var le *LayoutError
				if errors.As(err, &le) {
					return "", nil, &LayoutError{"html", "running it with sample data: " + le.Msg}
				}
				return "", nil, err
			}
			out := buf.String()
			// What the template writes, not only what it says: a URL
			// can be assembled from pieces ("jav{{""}}ascript:").
			if err := checkHTMLSafety(out); err != nil {
				return "", nil, &LayoutError{"html", err.Error()}
			}
			if archive {
				continue
			}
			if !strings.Contains(out, sampleContent) {
				return "", nil, &LayoutError{"html", "must show the issue with {{.Content}}"}
			}
			if err := checkRendered(out, lang); err != nil {
				return "", nil, err
			}
		}
	}
	return inlined, l, nil
}

// checkRendered looks at a layout's sample output.
func checkRendered(out, lang string) error {
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		return &LayoutError{"html", "the output is not HTML: " + err.Error()}
	}
	var hasLang, hasUnsub bool
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "html":
				hasLang = attr(n, "lang") != ""
			case "a":
				hasUnsub = hasUnsub || attr(n, "href") == sampleUnsubscribe
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if !hasUnsub {
		return &LayoutError{"html", fmt.Sprintf(`must contain the unsubscribe link as <a href="{{.UnsubscribeURL}}">…</a> (missing in the %s rendering)`, lang)}
	}
	if !hasLang {
		return &LayoutError{"html", `must set the language: <html lang="{{.ContentLang}}">`}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// ParseLayout parses a template checked by PrepareLayout (its inlined
// source) with its theme colours.
func (t *Templates) ParseLayout(name, inlined string, colors ThemeColors) (*Layout, error) {
	th, err := NewTheme(name, colors)
	if err != nil {
		var te *ThemeError
		if errors.As(err, &te) {
			return nil, &LayoutError{te.Field, te.Msg}
		}
		return nil, err
	}
	h, err := parseGuarded(inlined)
	if err != nil {
		return nil, &LayoutError{"html", trimTemplateErr(err)}
	}
	return &Layout{Name: name, Theme: th, html: h}, nil
}

func trimTemplateErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "template: ")
	s = strings.TrimPrefix(s, "html/template:")
	return s
}

// sampleData is what a layout is run with at validation and in template
// previews without a campaign.
func (t *Templates) sampleData(lang string, th *Theme, archive bool) layoutData {
	d := t.layoutData(layoutInput{
		lang: lang, contentLang: Languages[0], subject: "Exempel", preheader: "Förhandsvisning",
		list: "Nyhetsbrevet", org: "Organisationen", theme: th, archiveURL: "https://utskick.invalid/archive/exempel/1",
		unsubscribe: sampleUnsubscribe, preferences: "https://utskick.invalid/preferences/sample-token", archive: archive,
	})
	d.Content = htmltemplate.HTML(sampleContent)
	return d
}
