package mailtemplates

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Bounds on a campaign body. goldmark's inline parsing is quadratic (and
// worse) in the markup of one paragraph for some inputs ("[a](" or "*a_ "
// repeated: each opener scans on to the paragraph's end), and its block
// parsing in the depth of nested quotes and lists: measured, 80 KB of
// "*a_ " took 8.5 s and 160 KB 84 s, 20,000 ">" 1.9 s. Bounding the
// markup per paragraph, the paragraph, the nesting and the whole keeps the
// worst body near a second, far above any real issue (pasted issues have
// paragraphs of up to 3,700 characters with a handful of links; Gmail
// clips a message at 102 KB anyway).
const (
	// MaxBodyChars bounds a whole body.
	MaxBodyChars = 200_000
	// MaxParagraphChars bounds one paragraph, heading or line: the unit
	// goldmark's inline parser works on.
	MaxParagraphChars = 10_000
	// MaxParagraphMarkup bounds the characters that open or close inline
	// markup ([ ] ( * _ ~ ` <) in one paragraph.
	MaxParagraphMarkup = 300
	// MaxNesting bounds quotes and lists inside each other.
	MaxNesting = 16
	// maxIndent bounds a line's indentation, in columns: lists nested by
	// indentation cost as much as ones nested by markers.
	maxIndent = 64
)

// counts are the params of a size mistake: what was found, and the most.
func counts(n, most int) map[string]string {
	return map[string]string{"n": strconv.Itoa(n), "max": strconv.Itoa(most)}
}

// checkBody checks a body's placeholders, then its shape as goldmark will
// see it: with the placeholders replaced by markers, so that the "_" of
// {{ first_name }} is not taken for markup.
func checkBody(body string) error {
	if n := utf8.RuneCountInString(body); n > MaxBodyChars {
		return newProblem("body_chars", counts(n, MaxBodyChars), "the body is %d characters; at most %d fit in a mail (split the issue, or link to longer texts)", n, MaxBodyChars).at(1)
	}
	marked, _, err := extractPlaceholders("body", body, "", 0)
	if err != nil {
		return err
	}
	return checkBodyShape([]byte(marked))
}

// checkBodyShape refuses a body that would take goldmark too long, as a
// *BodyError naming the line. It runs before goldmark sees the body.
func checkBodyShape(src []byte) error {
	line := 1
	for start := 0; start < len(src); line++ {
		end := start
		for end < len(src) && src[end] != '\n' {
			end++
		}
		l := src[start:end]
		if n := utf8.RuneCount(l); n > MaxParagraphChars {
			return newProblem("line_chars", counts(n, MaxParagraphChars), "the line is %d characters; at most %d (break it into paragraphs with blank lines)", n, MaxParagraphChars).at(line)
		}
		if depth, indent := nesting(l); depth > MaxNesting {
			return newProblem("nesting", counts(depth, MaxNesting), "quotes or lists nested %d deep; at most %d", depth, MaxNesting).at(line)
		} else if indent > maxIndent {
			return newProblem("indent", counts(indent, maxIndent), "the line is indented by %d columns; at most %d", indent, maxIndent).at(line)
		}
		start = end + 1
	}
	// Paragraphs span lines: find them with goldmark's block parser only,
	// which is linear once nesting is bounded.
	doc := shapeParser.Parse(text.NewReader(src))
	var err error
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering || n.Type() != ast.TypeBlock {
			return ast.WalkContinue, nil
		}
		lines := n.Lines()
		switch n.(type) {
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			return ast.WalkContinue, nil // not parsed for markup
		}
		if lines == nil || lines.Len() == 0 {
			return ast.WalkContinue, nil
		}
		size, markup := 0, 0
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			v := seg.Value(src)
			size += utf8.RuneCount(v)
			for _, c := range v {
				switch c {
				case '[', ']', '(', '*', '_', '~', '`', '<':
					markup++
				}
			}
		}
		line := lineOf(src, lines.At(0).Start)
		switch {
		case size > MaxParagraphChars:
			err = newProblem("paragraph_chars", counts(size, MaxParagraphChars), "a paragraph of %d characters; at most %d (split it with a blank line)", size, MaxParagraphChars).at(line)
		case markup > MaxParagraphMarkup:
			err = newProblem("paragraph_markup", counts(markup, MaxParagraphMarkup), "a paragraph with %d markup characters ([ ] ( * _ ~ ` <); at most %d (split it with a blank line)", markup, MaxParagraphMarkup).at(line)
		default:
			return ast.WalkContinue, nil
		}
		return ast.WalkStop, nil
	})
	return err
}

// shapeParser finds the blocks of a body without parsing their inline
// content; tables are recognised so that a long table is not taken for a
// long paragraph.
var shapeParser = parser.NewParser(
	parser.WithBlockParsers(append(parser.DefaultBlockParsers(), util.Prioritized(blockParser{}, 150))...),
	parser.WithParagraphTransformers(util.Prioritized(extension.NewTableParagraphTransformer(), 200)),
	parser.WithInlineParsers(),
)

// nesting counts the quote and list markers a line opens with, and its
// indentation in columns. A thematic break ("* * * *") is not nesting.
func nesting(l []byte) (depth, indent int) {
	breakChar, onlyBreak := byte(0), true
	for _, c := range l {
		switch c {
		case ' ', '\t', '\r':
		case '-', '*', '_':
			if breakChar == 0 {
				breakChar = c
			}
			onlyBreak = onlyBreak && c == breakChar
		default:
			onlyBreak = false
		}
	}
	if onlyBreak && breakChar != 0 {
		return 0, 0
	}
	i := 0
	for i < len(l) {
		switch c := l[i]; {
		case c == ' ':
			indent++
			i++
		case c == '\t':
			indent += 4
			i++
		case c == '>':
			depth++
			i++
		case (c == '-' || c == '*' || c == '+') && i+1 < len(l) && (l[i+1] == ' ' || l[i+1] == '\t'):
			depth++
			i++
		case c >= '0' && c <= '9':
			j := i
			for j < len(l) && j-i < 9 && l[j] >= '0' && l[j] <= '9' {
				j++
			}
			if j+1 < len(l) && (l[j] == '.' || l[j] == ')') && (l[j+1] == ' ' || l[j+1] == '\t') {
				depth++
				i = j + 1
				continue
			}
			return depth, indent
		default:
			return depth, indent
		}
	}
	return depth, indent
}

// ctxErr is the context's error, for checks between the stages of a
// compile: the request that asked for it may have ended.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("compile stopped: %w", context.Cause(ctx))
	}
	return nil
}
