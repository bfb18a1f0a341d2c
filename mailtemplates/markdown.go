package mailtemplates

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// newMarkdown returns the Markdown converter for campaign bodies: GFM
// (tables, strikethrough, autolinks), the newsletter blocks (blocks.go),
// no raw HTML (goldmark's default drops it, so staff cannot paste a script
// into a mail), and inline styles set on every element because many mail
// clients ignore <style>. cat is the content language's catalog ("Läs
// mer").
func newMarkdown(th *Theme, cat Catalog) goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify),
		goldmark.WithParserOptions(
			parser.WithBlockParsers(util.Prioritized(blockParser{}, 150)),
			// Lower priorities run first: urlGuard before blockShaper turns
			// images into figures.
			parser.WithASTTransformers(util.Prioritized(urlGuard{}, 50), util.Prioritized(&styler{th: th}, 100), util.Prioritized(&blockShaper{th: th, cat: cat}, 200)),
		),
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(&blockRenderer{th: th}, 100))),
	)
}

// styler puts the theme's inline style on each node, and makes links open
// outside the mail client.
type styler struct{ th *Theme }

func (s *styler) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		var style string
		switch n := n.(type) {
		case *ast.Heading:
			style = s.th.heading(n.Level)
		case *ast.Paragraph:
			style = s.th.Paragraph
		case *ast.Link:
			style = s.th.Link
		case *ast.AutoLink:
			// goldmark renders autolinks without attributes; leave them.
		case *ast.List:
			style = s.th.List
		case *ast.ListItem:
			style = s.th.ListItem
		case *ast.Blockquote:
			style = s.th.Blockquote
		case *ast.Image:
			style = s.th.Image
		case *ast.ThematicBreak:
			style = s.th.Rule
		case *east.Table:
			style = s.th.Table
		case *east.TableCell:
			style = s.th.TableCell
		}
		if style != "" {
			n.SetAttributeString("style", []byte(style))
		}
		return ast.WalkContinue, nil
	})
}

// renderMarkdown turns a body into an HTML fragment and a plain-text
// rendering of the same content. Mistakes in blocks are a *BodyError.
func renderMarkdown(ctx context.Context, md goldmark.Markdown, src []byte, cat Catalog) (htmlOut, textOut string, err error) {
	pc := parser.NewContext()
	doc := md.Parser().Parse(text.NewReader(src), parser.WithContext(pc))
	if err := blockError(pc); err != nil {
		return "", "", err
	}
	if err := ctxErr(ctx); err != nil {
		return "", "", err
	}
	var h bytes.Buffer
	if err := md.Renderer().Render(&h, src, doc); err != nil {
		return "", "", fmt.Errorf("render markdown: %w", err)
	}
	tr := &textRenderer{src: src, cat: cat}
	tr.block(doc, "")
	return h.String(), tr.finish(), nil
}

// textRenderer writes the plain-text alternative: headings underlined,
// lists with dashes, links as numbered footnotes, images as their alt text.
type textRenderer struct {
	src   []byte
	cat   Catalog
	out   strings.Builder
	links []string
}

const textWidth = 72

func (t *textRenderer) finish() string {
	s := strings.TrimRight(t.out.String(), "\n") + "\n"
	if len(t.links) > 0 {
		var b strings.Builder
		b.WriteString(s)
		b.WriteString("\n" + t.cat.T("text.links") + ":\n")
		for i, l := range t.links {
			fmt.Fprintf(&b, "[%d] %s\n", i+1, l)
		}
		s = b.String()
	}
	return s
}

// block renders the children of a block node, each paragraph separated by
// a blank line, with prefix at the start of every line.
func (t *textRenderer) block(n ast.Node, prefix string) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Heading:
			line := t.inline(c)
			t.para(prefix, line)
			under := "-"
			if c.Level <= 1 {
				under = "="
			}
			t.out.WriteString(prefix + strings.Repeat(under, min(textWidth, utf8.RuneCountInString(line))) + "\n\n")
		case *ast.Paragraph, *ast.TextBlock:
			t.para(prefix, t.inline(c))
			t.out.WriteString("\n")
		case *ast.List:
			i := c.Start
			for item := c.FirstChild(); item != nil; item = item.NextSibling() {
				bullet := "- "
				if c.IsOrdered() {
					bullet = fmt.Sprintf("%d. ", i)
					i++
				}
				var sub textRenderer
				sub.src, sub.cat = t.src, t.cat
				sub.links = t.links
				sub.block(item, "")
				t.links = sub.links
				lines := strings.Split(strings.TrimRight(sub.out.String(), "\n"), "\n")
				for j, l := range lines {
					if l == "" {
						continue
					}
					if j == 0 {
						t.out.WriteString(prefix + bullet + l + "\n")
					} else {
						t.out.WriteString(prefix + strings.Repeat(" ", len(bullet)) + l + "\n")
					}
				}
			}
			t.out.WriteString("\n")
		case *ast.Blockquote:
			t.block(c, prefix+"> ")
		case *ast.ThematicBreak:
			t.out.WriteString(prefix + strings.Repeat("-", 24) + "\n\n")
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			lines := c.Lines()
			for i := 0; i < lines.Len(); i++ {
				seg := lines.At(i)
				t.out.WriteString(prefix + "    " + strings.TrimRight(string(seg.Value(t.src)), "\n") + "\n")
			}
			t.out.WriteString("\n")
		case *east.Table:
			for row := c.FirstChild(); row != nil; row = row.NextSibling() {
				var cells []string
				for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
					cells = append(cells, t.inline(cell))
				}
				t.out.WriteString(prefix + strings.Join(cells, " | ") + "\n")
			}
			t.out.WriteString("\n")
		case *ast.HTMLBlock:
			// Raw HTML is not rendered in the HTML part either.
		case *Kicker:
			t.out.WriteString(prefix + strings.ToUpper(c.Label) + "\n")
		case *Figure:
			var lines []string
			if c.Alt != "" {
				lines = append(lines, "["+t.cat.T("text.image")+": "+c.Alt+"]")
			}
			if c.Caption != "" {
				lines = append(lines, c.Caption)
			}
			if len(lines) > 0 {
				t.para(prefix, strings.Join(lines, "\n"))
				t.out.WriteString("\n")
			}
		case *ReadMore:
			t.links = append(t.links, c.Href)
			t.para(prefix, fmt.Sprintf("%s [%d]", c.Label, len(t.links)))
			t.out.WriteString("\n")
		case *Signature:
			t.para(prefix, c.Label)
			t.out.WriteString("\n")
		case *CalendarList:
			for item := c.FirstChild(); item != nil; item = item.NextSibling() {
				ci := item.(*CalendarItem)
				entry := t.inline(ci)
				if ci.Date != "" {
					entry = ci.Date + ": " + entry
				}
				var sub textRenderer
				sub.para(prefix+"  ", entry)
				// A hanging indent: the dash replaces the first line's indent.
				sub1 := sub.out.String()
				t.out.WriteString(prefix + "- " + sub1[len(prefix)+2:])
			}
			t.out.WriteString("\n")
		default:
			t.block(c, prefix)
		}
	}
}

// para writes s word-wrapped at textWidth.
func (t *textRenderer) para(prefix, s string) {
	for _, hard := range strings.Split(s, "\n") {
		line := prefix
		width := utf8.RuneCountInString(prefix)
		col := width
		for _, w := range strings.Fields(hard) {
			n := wordWidth(w)
			if col > width && col+1+n > textWidth {
				t.out.WriteString(line + "\n")
				line, col = prefix, width
			}
			if col > width {
				line += " "
				col++
			}
			line += w
			col += n
		}
		t.out.WriteString(line + "\n")
	}
}

// markerRE finds placeholder markers, whatever the nonce.
var markerRE = regexp.MustCompile(`Qph[0-9a-f]*n[0-9]+Z`)

// wordWidth is the width of a word on screen. A placeholder marker counts
// as a typical value (a first name), not as its own length, so the lines
// around a name wrap about where they will for the reader.
func wordWidth(w string) int {
	if !strings.Contains(w, "Qph") {
		return utf8.RuneCountInString(w)
	}
	return utf8.RuneCountInString(markerRE.ReplaceAllString(w, "xxxxxxxx"))
}

// inline flattens inline content to text, collecting link footnotes.
func (t *textRenderer) inline(n ast.Node) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(t.src))
			if c.HardLineBreak() {
				b.WriteString("\n")
			} else if c.SoftLineBreak() {
				b.WriteString(" ")
			}
		case *ast.String:
			b.Write(c.Value)
		case *ast.Link:
			label := t.inline(c)
			dest := string(c.Destination)
			if dest == "" { // neutralised by urlGuard
				b.WriteString(label)
			} else if label == dest || strings.TrimPrefix(dest, "mailto:") == label {
				b.WriteString(label)
			} else {
				t.links = append(t.links, dest)
				fmt.Fprintf(&b, "%s [%d]", label, len(t.links))
			}
		case *ast.AutoLink:
			b.Write(c.URL(t.src))
		case *ast.Image:
			if alt := t.inline(c); alt != "" {
				fmt.Fprintf(&b, "[%s: %s]", t.cat.T("text.image"), alt)
			}
		case *ast.RawHTML:
		default:
			b.WriteString(t.inline(c))
		}
	}
	return strings.TrimSpace(b.String())
}
