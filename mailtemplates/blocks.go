package mailtemplates

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// The newsletter blocks of a campaign body. A block is a fenced container
// whose content is ordinary Markdown:
//
//	:::article{kicker="Välfärd" image="https://…/foto.jpg" alt="…" caption="Foto: …" more="https://…"}
//	## Headline
//	Short text.
//	:::
//
// Blocks do not nest. Text outside blocks is plain Markdown.
var blockTypes = map[string][]string{
	"editorial": {"kicker", "signature", "image", "alt", "caption"},
	"article":   {"kicker", "image", "alt", "caption", "more", "more_text"},
	"calendar":  {"kicker", "more", "more_text"},
}

// BlockKinds lists the block types, for messages and documentation.
func BlockKinds() []string {
	ks := make([]string, 0, len(blockTypes))
	for k := range blockTypes {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// BodyError is a mistake in a campaign body's blocks, with the line it is
// on (1-based).
//
// Msg is the English; Key and Params name the same mistake for a page that
// words it in its reader's language (the i18n key "content."+Key, with
// {name} placeholders filled from Params).
type BodyError struct {
	Line   int
	Msg    string
	Key    string
	Params map[string]string
}

// problem is a mistake in words (Msg, the English) and as a key with
// params, before it has a line.
type problem struct {
	Msg    string
	Key    string
	Params map[string]string
}

func newProblem(key string, params map[string]string, format string, args ...any) *problem {
	return &problem{Msg: fmt.Sprintf(format, args...), Key: key, Params: params}
}

func (p *problem) at(line int) *BodyError {
	return &BodyError{Line: line, Msg: p.Msg, Key: p.Key, Params: p.Params}
}

func (e *BodyError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// KindBlock is the ast.NodeKind of a newsletter block.
var KindBlock = ast.NewNodeKind("NewsletterBlock")

// Block is one ::: container.
type Block struct {
	ast.BaseBlock
	Name  string // editorial, article, calendar
	Attrs map[string]string
	line  int
	err   *problem
}

// Kind implements ast.Node.
func (n *Block) Kind() ast.NodeKind { return KindBlock }

// Dump implements ast.Node.
func (n *Block) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Name": n.Name}, nil)
}

var (
	blockOpenRE = regexp.MustCompile(`^:::[ \t]*([A-Za-z_-]*)[ \t]*(\{.*\})?[ \t]*$`)
	blockAttrRE = regexp.MustCompile(`\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*`)
)

// blockParser opens and closes ::: containers.
type blockParser struct{}

func (blockParser) Trigger() []byte { return []byte{':'} }

func lineOf(src []byte, offset int) int {
	return bytes.Count(src[:min(offset, len(src))], []byte("\n")) + 1
}

func (blockParser) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	line, seg := reader.PeekLine()
	w, pos := util.IndentWidth(line, reader.LineOffset())
	if w > 3 {
		return nil, parser.NoChildren
	}
	body := bytes.TrimRight(line[pos:], "\r\n")
	if !bytes.HasPrefix(body, []byte(":::")) {
		return nil, parser.NoChildren
	}
	b := &Block{Attrs: map[string]string{}, line: lineOf(reader.Source(), seg.Start)}
	m := blockOpenRE.FindSubmatch(body)
	switch {
	case m == nil:
		b.err = newProblem("block_line", map[string]string{"text": string(body)}, "cannot read the block line %q; write :::article{kicker=\"…\"}", string(body))
	case len(m[1]) == 0:
		b.err = newProblem("block_unopened", nil, "a closing ::: without an opening block")
	default:
		b.Name = strings.ToLower(string(m[1]))
		b.err = parseBlockAttrs(b, string(m[2]))
	}
	if b.err == nil && parent.Kind() != ast.KindDocument {
		b.err = newProblem("block_nested", map[string]string{"block": b.Name}, "a :::%s block inside another block or list; blocks do not nest (close the previous one with :::)", b.Name)
	}
	reader.AdvanceToEOL()
	return b, parser.HasChildren
}

func parseBlockAttrs(b *Block, s string) *problem {
	known, ok := blockTypes[b.Name]
	if !ok {
		return newProblem("block_unknown", map[string]string{"block": b.Name, "known": strings.Join(BlockKinds(), ", ")},
			"unknown block type %q (known: %s)", b.Name, strings.Join(BlockKinds(), ", "))
	}
	if s == "" {
		return nil
	}
	inner := s[1 : len(s)-1]
	rest := blockAttrRE.ReplaceAllStringFunc(inner, func(kv string) string {
		m := blockAttrRE.FindStringSubmatch(kv)
		b.Attrs[strings.ToLower(m[1])] = unescapeAttr(m[2])
		return ""
	})
	if strings.TrimSpace(rest) != "" {
		return newProblem("block_attrs", map[string]string{"text": strings.TrimSpace(rest)},
			"cannot read the attributes %q; write them as name=\"value\"", strings.TrimSpace(rest))
	}
	for k := range b.Attrs {
		found := false
		for _, a := range known {
			found = found || a == k
		}
		if !found {
			return newProblem("block_attr_unknown", map[string]string{"block": b.Name, "attr": k, "known": strings.Join(known, ", ")},
				"a :::%s block has no attribute %q (it has: %s)", b.Name, k, strings.Join(known, ", "))
		}
	}
	return nil
}

func unescapeAttr(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + s + `"`); err == nil {
		return u
	}
	return s
}

func (blockParser) Continue(node ast.Node, reader text.Reader, pc parser.Context) parser.State {
	line, _ := reader.PeekLine()
	w, pos := util.IndentWidth(line, reader.LineOffset())
	if w <= 3 && pos < len(line) && bytes.Equal(bytes.TrimSpace(line[pos:]), []byte(":::")) {
		reader.AdvanceToEOL()
		return parser.Close
	}
	return parser.Continue | parser.HasChildren
}

func (blockParser) Close(node ast.Node, reader text.Reader, pc parser.Context) {}
func (blockParser) CanInterruptParagraph() bool                                { return true }
func (blockParser) CanAcceptIndentedLine() bool                                { return false }

// The nodes the block transformer builds, shared by the HTML and the text
// renderer so that both parts show the same content.
var (
	KindKicker       = ast.NewNodeKind("Kicker")
	KindFigure       = ast.NewNodeKind("Figure")
	KindReadMore     = ast.NewNodeKind("ReadMore")
	KindSignature    = ast.NewNodeKind("Signature")
	KindCalendarList = ast.NewNodeKind("CalendarList")
	KindCalendarItem = ast.NewNodeKind("CalendarItem")
)

// Kicker is the small category line above a headline.
type Kicker struct {
	ast.BaseBlock
	Label string
}

// Kind implements ast.Node.
func (n *Kicker) Kind() ast.NodeKind { return KindKicker }

// Dump implements ast.Node.
func (n *Kicker) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

// Figure is an image with alt text and an optional caption.
type Figure struct {
	ast.BaseBlock
	Src, Alt, Caption string
}

// Kind implements ast.Node.
func (n *Figure) Kind() ast.NodeKind { return KindFigure }

// Dump implements ast.Node.
func (n *Figure) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

// ReadMore is an article's "read more" link.
type ReadMore struct {
	ast.BaseBlock
	Href, Label, Context string // Context: the headline, for screen readers
}

// Kind implements ast.Node.
func (n *ReadMore) Kind() ast.NodeKind { return KindReadMore }

// Dump implements ast.Node.
func (n *ReadMore) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

// Signature closes an editorial.
type Signature struct {
	ast.BaseBlock
	Label string
}

// Kind implements ast.Node.
func (n *Signature) Kind() ast.NodeKind { return KindSignature }

// Dump implements ast.Node.
func (n *Signature) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

// CalendarList holds a calendar's entries.
type CalendarList struct{ ast.BaseBlock }

// Kind implements ast.Node.
func (n *CalendarList) Kind() ast.NodeKind { return KindCalendarList }

// Dump implements ast.Node.
func (n *CalendarList) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

// CalendarItem is one date and what happens then; its children are the
// title's inline content (often a link).
type CalendarItem struct {
	ast.BaseBlock
	Date string
}

// Kind implements ast.Node.
func (n *CalendarItem) Kind() ast.NodeKind { return KindCalendarItem }

// Dump implements ast.Node.
func (n *CalendarItem) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

var blockErrorsKey = parser.NewContextKey()

// blockShaper checks each block and rebuilds it into the nodes the
// renderers know: kicker, headline, figure, text, then read-more link or
// signature. A paragraph that is only an image becomes a figure, with the
// image title as its caption.
type blockShaper struct {
	th  *Theme
	cat Catalog
}

func (s *blockShaper) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	src := reader.Source()
	var errs []*BodyError
	fail := func(line int, p *problem) {
		errs = append(errs, p.at(line))
	}
	// Figures first, everywhere.
	var paras []*ast.Paragraph
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if p, ok := n.(*ast.Paragraph); ok && entering {
			paras = append(paras, p)
		}
		return ast.WalkContinue, nil
	})
	for _, p := range paras {
		img, ok := p.FirstChild().(*ast.Image)
		if !ok || p.ChildCount() != 1 {
			continue
		}
		f := &Figure{Src: string(img.Destination), Alt: plainText(img, src), Caption: string(img.Title)}
		p.Parent().ReplaceChild(p.Parent(), p, f)
	}

	// Blocks in the wrong place (nested ones) are only reported.
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if b, ok := n.(*Block); ok && entering && b.err != nil {
			fail(b.line, b.err)
		}
		return ast.WalkContinue, nil
	})
	for n := doc.FirstChild(); n != nil; {
		next := n.NextSibling()
		b, ok := n.(*Block)
		if !ok || b.err != nil {
			n = next
			continue
		}
		for _, k := range []string{"image", "more"} {
			if v, ok := b.Attrs[k]; ok && !absoluteURL(v) {
				fail(b.line, newProblem("block_attr_url", map[string]string{"attr": k, "value": v}, "%s=%q must be an absolute https:// URL", k, v))
			}
		}
		if _, ok := b.Attrs["more_text"]; ok && b.Attrs["more"] == "" {
			fail(b.line, newProblem("block_more_text", nil, "more_text needs more=\"https://…\""))
		}
		var headline ast.Node
		for c := b.FirstChild(); c != nil; c = c.NextSibling() {
			if h, ok := c.(*ast.Heading); ok {
				headline = h
				h.Level = 2
				h.SetAttributeString("style", []byte(s.th.Headline))
				break
			}
		}
		if headline != nil && headline != b.FirstChild() {
			fail(b.line, newProblem("block_headline_first", map[string]string{"block": b.Name}, "the headline (## …) must be the first thing in a :::%s block", b.Name))
		}
		if b.Name == "article" && headline == nil {
			fail(b.line, newProblem("block_article_headline", nil, "an article needs a headline: a line starting with ## right after :::article"))
		}
		var title string
		if headline != nil {
			title = plainText(headline, src)
		}
		if k := b.Attrs["kicker"]; k != "" {
			b.InsertBefore(b, b.FirstChild(), &Kicker{Label: k})
		}
		if img := b.Attrs["image"]; img != "" {
			f := &Figure{Src: img, Alt: b.Attrs["alt"], Caption: b.Attrs["caption"]}
			if headline != nil {
				b.InsertAfter(b, headline, f)
			} else {
				b.InsertAfter(b, b.FirstChild(), f)
			}
		}
		switch b.Name {
		case "editorial":
			if sig := b.Attrs["signature"]; sig != "" {
				b.AppendChild(b, &Signature{Label: sig})
			}
		case "calendar":
			lists := 0
			for c := b.FirstChild(); c != nil; {
				cn := c.NextSibling()
				if l, ok := c.(*ast.List); ok {
					b.ReplaceChild(b, l, calendarList(l, src))
					lists++
				}
				c = cn
			}
			if lists == 0 {
				fail(b.line, newProblem("block_calendar_list", nil, "a calendar needs a list of entries: - date | title"))
			}
		}
		if more := b.Attrs["more"]; more != "" {
			t := b.Attrs["more_text"]
			if t == "" {
				t = s.cat.T("article.more")
			}
			b.AppendChild(b, &ReadMore{Href: more, Label: t, Context: title})
		}
		n = next
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		pc.Set(blockErrorsKey, errs)
	}
}

func absoluteURL(v string) bool {
	return strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://") || markerStartRE.MatchString(v)
}

// markerStartRE is a placeholder's marker at the start of a value: an
// image="{{ attr.foto }}" is checked when the value is known.
var markerStartRE = regexp.MustCompile(`^Qph[0-9a-f]*n[0-9]+Z`)

// calendarList turns "- date | title" list items into calendar entries.
// An item without a "|" is a title without a date.
func calendarList(l *ast.List, src []byte) *CalendarList {
	cl := &CalendarList{}
	for item := l.FirstChild(); item != nil; item = item.NextSibling() {
		ci := &CalendarItem{}
		// The entry's inline content is in its first paragraph or text block.
		tb := item.FirstChild()
		if tb == nil {
			cl.AppendChild(cl, ci)
			continue
		}
		var before []ast.Node
		var pipe *ast.Text
		at := 0
		for c := tb.FirstChild(); c != nil; c = c.NextSibling() {
			if t, ok := c.(*ast.Text); ok {
				if i := bytes.IndexByte(t.Segment.Value(src), '|'); i >= 0 {
					pipe, at = t, i
					break
				}
			}
			before = append(before, c)
		}
		if pipe != nil {
			var date strings.Builder
			for _, c := range before {
				date.WriteString(nodeText(c, src))
				tb.RemoveChild(tb, c)
			}
			date.Write(pipe.Segment.Value(src)[:at])
			ci.Date = strings.Join(strings.Fields(date.String()), " ")
			seg := pipe.Segment.WithStart(pipe.Segment.Start + at + 1)
			pipe.Segment = seg.TrimLeftSpace(src)
			if pipe.Segment.Len() == 0 {
				tb.RemoveChild(tb, pipe)
			}
		}
		for c := tb.FirstChild(); c != nil; {
			cn := c.NextSibling()
			ci.AppendChild(ci, c)
			c = cn
		}
		cl.AppendChild(cl, ci)
	}
	return cl
}

// nodeText is the text of one inline node, without markup.
func nodeText(n ast.Node, src []byte) string {
	switch n := n.(type) {
	case *ast.Text:
		s := string(n.Segment.Value(src))
		if n.SoftLineBreak() || n.HardLineBreak() {
			s += " "
		}
		return s
	case *ast.String:
		return string(n.Value)
	}
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		b.WriteString(nodeText(c, src))
	}
	return b.String()
}

// plainText is the text of n's inline content, without markup.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		b.WriteString(nodeText(c, src))
	}
	return strings.TrimSpace(b.String())
}

// ValidateBody checks a campaign body's blocks and placeholders, for the
// API to reject a body at save time. Block mistakes are a *BodyError.
func ValidateBody(body string) error {
	if err := checkBody(body); err != nil {
		return err
	}
	md := newMarkdown(DefaultTheme, Catalog{})
	pc := parser.NewContext()
	md.Parser().Parse(text.NewReader([]byte(body)), parser.WithContext(pc))
	if err := blockError(pc); err != nil {
		return err
	}
	return urlError(pc)
}

func blockError(pc parser.Context) error {
	if errs, ok := pc.Get(blockErrorsKey).([]*BodyError); ok && len(errs) > 0 {
		return errs[0]
	}
	return nil
}
