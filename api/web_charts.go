package api

// Charts of the report pages, drawn here as inline SVG: no script, no
// library, nothing fetched. Every chart is shown next to a table with the
// same numbers (the accessible form, and the one tests read), so the SVG
// is an image with a title and a short description, and each mark
// carries its value in data-value for the tests that compare the two.

import (
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
)

// chartSeries is one row of numbers of a chart, one value per label.
type chartSeries struct {
	Key    string // CSS class suffix: chart-<Key>; also the test's handle
	Name   string // shown in the legend and the table's column head
	Line   bool   // drawn as a line over the bars instead of as bars
	Values []int64
}

// chart is a bar chart over Labels (time buckets or links), with the
// numbers in Series; Horizontal draws one bar a row (links).
type chart struct {
	ID, Title, Desc string
	LabelHead       string   // the table's first column head
	Labels          []string // one per bucket or link
	Series          []chartSeries
	Horizontal      bool
	Lang            string
}

const (
	chartW   = 720.0
	chartH   = 240.0
	chartPad = 44.0 // left margin for the y axis labels
	chartTop = 12.0
	chartBot = 28.0 // bottom margin for the x axis labels
)

// niceMax rounds m up to 1, 2 or 5 times a power of ten, so that the axis
// reads in round numbers.
func niceMax(m int64) int64 {
	if m <= 0 {
		return 1
	}
	p := int64(1)
	for p*10 <= m {
		p *= 10
	}
	for _, f := range []int64{1, 2, 5, 10} {
		if f*p >= m {
			return f * p
		}
	}
	return 10 * p
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// SVG draws the chart.
func (ch chart) SVG() htmltemplate.HTML {
	if ch.Horizontal {
		return ch.hbars()
	}
	return ch.vbars()
}

func (ch chart) open(b *strings.Builder, h float64) {
	fmt.Fprintf(b, `<svg class="chart" id="%s-svg" viewBox="0 0 %s %s" role="img" aria-labelledby="%s-t %s-d" preserveAspectRatio="xMidYMid meet">`,
		ch.ID, fnum(chartW), fnum(h), ch.ID, ch.ID)
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, ch.ID,
		htmltemplate.HTMLEscapeString(ch.Title), ch.ID, htmltemplate.HTMLEscapeString(ch.Desc))
}

// vbars draws bars per label, grouped by series, with values below zero
// drawn below the axis (people who left a list), and line series on top.
func (ch chart) vbars() htmltemplate.HTML {
	var hi, lo int64
	bars := 0
	for _, s := range ch.Series {
		if !s.Line {
			bars++
		}
		for _, v := range s.Values {
			hi, lo = max(hi, v), min(lo, v)
		}
	}
	top, bottom := niceMax(hi), int64(0)
	if lo < 0 {
		bottom = -niceMax(-lo)
	}
	if hi <= 0 && lo < 0 {
		top = 0
	}
	plotH := chartH - chartTop - chartBot
	y := func(v int64) float64 { return chartTop + plotH*float64(top-v)/float64(top-bottom) }
	n := max(len(ch.Labels), 1)
	slot := (chartW - chartPad - 8) / float64(n)
	var b strings.Builder
	ch.open(&b, chartH)
	// Grid and y axis: top, middle (or zero), bottom.
	ticks := []int64{top, bottom}
	if bottom < 0 && top > 0 {
		ticks = append(ticks, 0)
	} else {
		ticks = append(ticks, (top+bottom)/2)
	}
	for _, t := range ticks {
		fmt.Fprintf(&b, `<line class="chart-grid" x1="%s" x2="%s" y1="%s" y2="%s"/>`, fnum(chartPad), fnum(chartW-8), fnum(y(t)), fnum(y(t)))
		fmt.Fprintf(&b, `<text class="chart-axis" x="%s" y="%s" text-anchor="end">%s</text>`, fnum(chartPad-6), fnum(y(t)+4), formatNum(t, ch.Lang))
	}
	bw := slot * 0.8 / float64(max(bars, 1))
	bi := 0
	for _, s := range ch.Series {
		if s.Line {
			continue
		}
		for i, v := range s.Values {
			x := chartPad + float64(i)*slot + slot*0.1 + float64(bi)*bw
			y0, y1 := y(max(v, 0)), y(min(v, 0))
			fmt.Fprintf(&b, `<rect class="chart-%s" data-series="%s" data-value="%d" x="%s" y="%s" width="%s" height="%s"/>`,
				s.Key, s.Key, v, fnum(x), fnum(y0), fnum(max(bw-1, 0.5)), fnum(y1-y0))
		}
		bi++
	}
	for _, s := range ch.Series {
		if !s.Line {
			continue
		}
		var pts []string
		for i, v := range s.Values {
			pts = append(pts, fnum(chartPad+float64(i)*slot+slot/2)+","+fnum(y(v)))
		}
		fmt.Fprintf(&b, `<polyline class="chart-line chart-%s" points="%s"/>`, s.Key, strings.Join(pts, " "))
		for i, v := range s.Values {
			fmt.Fprintf(&b, `<circle class="chart-%s" data-series="%s" data-value="%d" cx="%s" cy="%s" r="2.5"/>`,
				s.Key, s.Key, v, fnum(chartPad+float64(i)*slot+slot/2), fnum(y(v)))
		}
	}
	// x labels: the first, the middle and the last, so that they never
	// overlap; the table has them all.
	for _, i := range labelIndexes(len(ch.Labels)) {
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case len(ch.Labels) - 1:
			anchor = "end"
		}
		x := chartPad + float64(i)*slot + slot/2
		if anchor == "start" {
			x = chartPad
		} else if anchor == "end" {
			x = chartW - 8
		}
		fmt.Fprintf(&b, `<text class="chart-axis" x="%s" y="%s" text-anchor="%s">%s</text>`,
			fnum(x), fnum(chartH-8), anchor, htmltemplate.HTMLEscapeString(ch.Labels[i]))
	}
	b.WriteString(`</svg>`)
	return htmltemplate.HTML(b.String())
}

func labelIndexes(n int) []int {
	switch {
	case n == 0:
		return nil
	case n == 1:
		return []int{0}
	case n == 2:
		return []int{0, 1}
	}
	return []int{0, n / 2, n - 1}
}

// hbars draws one bar per label (a link), its label above it.
func (ch chart) hbars() htmltemplate.HTML {
	const row = 40.0
	h := chartTop + row*float64(max(len(ch.Labels), 1)) + 8
	var hi int64
	for _, s := range ch.Series {
		for _, v := range s.Values {
			hi = max(hi, v)
		}
	}
	top := niceMax(hi)
	plotW := chartW - 16 - 90
	var b strings.Builder
	ch.open(&b, h)
	bh := (row - 18) / float64(max(len(ch.Series), 1))
	for i, l := range ch.Labels {
		y := chartTop + float64(i)*row
		fmt.Fprintf(&b, `<text class="chart-axis" x="8" y="%s">%s</text>`, fnum(y+10), htmltemplate.HTMLEscapeString(shorten(l, 90)))
		for si, s := range ch.Series {
			v := s.Values[i]
			w := plotW * float64(v) / float64(top)
			by := y + 14 + float64(si)*bh
			fmt.Fprintf(&b, `<rect class="chart-%s" data-series="%s" data-value="%d" x="8" y="%s" width="%s" height="%s"/>`,
				s.Key, s.Key, v, fnum(by), fnum(max(w, 0.5)), fnum(bh-1))
			fmt.Fprintf(&b, `<text class="chart-axis" x="%s" y="%s">%s</text>`, fnum(8+w+6), fnum(by+bh-3), formatNum(v, ch.Lang))
		}
	}
	b.WriteString(`</svg>`)
	return htmltemplate.HTML(b.String())
}

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Rows are the chart's numbers a row per label, for its table.
func (ch chart) Rows() []chartRow {
	out := make([]chartRow, len(ch.Labels))
	for i, l := range ch.Labels {
		out[i].Label = l
		for _, s := range ch.Series {
			out[i].Values = append(out[i].Values, s.Values[i])
		}
	}
	return out
}

type chartRow struct {
	Label  string
	Values []int64
}
