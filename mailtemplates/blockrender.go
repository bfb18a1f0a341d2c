package mailtemplates

import (
	"html"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

// contentWidth is the width of the content column: the 600 px layout less
// its 32 px padding on each side.
const contentWidth = "536"

// blockRenderer writes the HTML of the newsletter nodes: presentation
// tables for layout (what Outlook's Word engine renders reliably), inline
// styles, and the dark-mode classes the layouts' <style> refers to.
type blockRenderer struct{ th *Theme }

func (r *blockRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(KindBlock, r.block)
	reg.Register(KindKicker, r.kicker)
	reg.Register(KindFigure, r.figure)
	reg.Register(KindReadMore, r.readMore)
	reg.Register(KindSignature, r.signature)
	reg.Register(KindCalendarList, r.calendarList)
	reg.Register(KindCalendarItem, r.calendarItem)
}

const presentation = `<table role="presentation" width="100%" cellspacing="0" cellpadding="0" border="0"`

func (r *blockRenderer) block(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		w.WriteString("</td></tr>\n</table>\n")
		return ast.WalkContinue, nil
	}
	b := n.(*Block)
	first := n.PreviousSibling() == nil
	w.WriteString(presentation + ` style="margin:0 0 16px 0;">` + "\n")
	switch {
	case b.Name == "editorial":
		w.WriteString(`<tr><td class="u-tint" style="padding:24px 24px 8px 24px;background-color:` + r.th.Tint + `;">` + "\n")
	case first:
		w.WriteString(`<tr><td style="padding:0 0 8px 0;">` + "\n")
	default:
		w.WriteString(`<tr><td style="padding:24px 0 8px 0;border-top:1px solid #d0d7de;">` + "\n")
	}
	return ast.WalkContinue, nil
}

func (r *blockRenderer) kicker(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		w.WriteString(`<p class="u-accent" style="` + r.th.Kicker + `">` + html.EscapeString(n.(*Kicker).Label) + "</p>\n")
	}
	return ast.WalkSkipChildren, nil
}

func (r *blockRenderer) figure(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	f := n.(*Figure)
	w.WriteString(presentation + ">\n<tr><td style=\"padding:0 0 16px 0;\">\n")
	w.WriteString(`<img src="` + html.EscapeString(f.Src) + `" alt="` + html.EscapeString(f.Alt) +
		`" width="` + contentWidth + `" style="` + r.th.Image + `">` + "\n")
	if f.Caption != "" {
		w.WriteString(`<p style="` + r.th.Caption + `">` + html.EscapeString(f.Caption) + "</p>\n")
	}
	w.WriteString("</td></tr>\n</table>\n")
	return ast.WalkSkipChildren, nil
}

func (r *blockRenderer) readMore(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	m := n.(*ReadMore)
	w.WriteString(`<p style="margin:0 0 16px 0;"><a href="` + html.EscapeString(m.Href) + `" class="u-accent" style="` + r.th.ReadMore + `"`)
	if m.Context != "" {
		// "Läs mer" alone says nothing to a screen reader listing links.
		w.WriteString(` aria-label="` + html.EscapeString(m.Label+": "+m.Context) + `"`)
	}
	w.WriteString(">" + html.EscapeString(m.Label) + " &rarr;</a></p>\n")
	return ast.WalkSkipChildren, nil
}

func (r *blockRenderer) signature(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		w.WriteString(`<p style="` + r.th.Signature + `">` + html.EscapeString(n.(*Signature).Label) + "</p>\n")
	}
	return ast.WalkSkipChildren, nil
}

func (r *blockRenderer) calendarList(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		w.WriteString(presentation + ` style="border-collapse:collapse;margin:0 0 16px 0;">` + "\n")
	} else {
		w.WriteString("</table>\n")
	}
	return ast.WalkContinue, nil
}

func (r *blockRenderer) calendarItem(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		w.WriteString("</td></tr>\n")
		return ast.WalkContinue, nil
	}
	w.WriteString(`<tr><td width="30%" style="` + r.th.CalDate + `">` + html.EscapeString(n.(*CalendarItem).Date) +
		`</td><td style="` + r.th.CalTitle + `">`)
	return ast.WalkContinue, nil
}
