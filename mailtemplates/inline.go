package mailtemplates

import (
	"regexp"
	"strings"
)

// InlineCSS moves the rules of a template's <style> blocks onto the
// elements they select, so that clients that ignore <style> (Gmail's app
// with non-Google accounts, many webmails, Outlook's Word engine in part)
// still show the look. It runs when a staff template is saved.
//
// Only what is safe to inline is inlined: rules whose selectors are tag,
// .class or tag.class. The element's own style attribute wins over them,
// and class rules over tag rules. Everything else (@media blocks for dark
// mode or narrow screens, :root, descendant selectors) stays in a <style>
// block for the clients that do read it. Template actions ({{.Theme.Accent}})
// may appear in declarations; they move with them.
func InlineCSS(src string) string {
	var rules []cssRule
	out := styleBlockRE.ReplaceAllStringFunc(src, func(block string) string {
		m := styleBlockRE.FindStringSubmatch(block)
		inl, kept := splitCSS(m[2])
		rules = append(rules, inl...)
		if strings.TrimSpace(kept) == "" {
			return ""
		}
		return m[1] + "\n" + strings.TrimSpace(kept) + "\n</style>"
	})
	if len(rules) == 0 {
		return src
	}
	return applyRules(out, rules)
}

var (
	styleBlockRE = regexp.MustCompile(`(?is)(<style[^>]*>)(.*?)</style\s*>`)
	cssCommentRE = regexp.MustCompile(`(?s)/\*.*?\*/`)
	simpleSelRE  = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9]*)?(?:\.([A-Za-z_][A-Za-z0-9_-]*))?$`)
)

// cssRule is one inlinable selector with its declarations.
type cssRule struct {
	tag, class string
	decls      string // "a:b;c:d;"
}

// splitCSS separates a style sheet into the rules it can inline and the
// text it keeps.
func splitCSS(css string) (inl []cssRule, kept string) {
	css = cssCommentRE.ReplaceAllString(css, "")
	var keep strings.Builder
	i := 0
	for i < len(css) {
		open := nextBrace(css, i, '{')
		if open < 0 {
			keep.WriteString(css[i:])
			break
		}
		prelude := strings.TrimSpace(css[i:open])
		// Find the matching brace (at-rules hold nested blocks).
		depth, j := 0, open
		for j < len(css) {
			if strings.HasPrefix(css[j:], "{{") {
				if e := strings.Index(css[j:], "}}"); e >= 0 {
					j += e + 2
					continue
				}
			}
			if css[j] == '{' {
				depth++
			} else if css[j] == '}' {
				depth--
				if depth == 0 {
					break
				}
			}
			j++
		}
		if j >= len(css) {
			keep.WriteString(css[i:])
			break
		}
		open -= i
		body := css[i+open+1 : j]
		whole := css[i : j+1]
		i = j + 1
		if strings.HasPrefix(prelude, "@") {
			keep.WriteString(strings.TrimSpace(whole) + "\n")
			continue
		}
		var sels []cssRule
		ok := true
		for _, sel := range strings.Split(prelude, ",") {
			m := simpleSelRE.FindStringSubmatch(strings.TrimSpace(sel))
			if m == nil || (m[1] == "" && m[2] == "") {
				ok = false
				break
			}
			sels = append(sels, cssRule{tag: strings.ToLower(m[1]), class: m[2]})
		}
		if !ok {
			keep.WriteString(strings.TrimSpace(whole) + "\n")
			continue
		}
		decls := normalizeDecls(body)
		for _, r := range sels {
			r.decls = decls
			inl = append(inl, r)
		}
	}
	return inl, keep.String()
}

// nextBrace is the index of the next c at or after i that is not part of
// a template action, or -1.
func nextBrace(css string, i int, c byte) int {
	for i < len(css) {
		if strings.HasPrefix(css[i:], "{{") {
			e := strings.Index(css[i:], "}}")
			if e < 0 {
				return -1
			}
			i += e + 2
			continue
		}
		if css[i] == c {
			return i
		}
		i++
	}
	return -1
}

// normalizeDecls turns "a: b; c : d" into "a:b;c:d;", with double quotes
// made single so the result fits in a double-quoted attribute.
func normalizeDecls(body string) string {
	var b strings.Builder
	for _, d := range strings.Split(body, ";") {
		k, v, ok := strings.Cut(d, ":")
		if !ok || strings.TrimSpace(k) == "" {
			continue
		}
		b.WriteString(strings.ToLower(strings.TrimSpace(k)) + ":" + strings.ReplaceAll(strings.TrimSpace(v), `"`, "'") + ";")
	}
	return b.String()
}

// applyRules adds the matching declarations to each start tag of src.
func applyRules(src string, rules []cssRule) string {
	var b strings.Builder
	i := 0
	for {
		lt := strings.IndexByte(src[i:], '<')
		if lt < 0 {
			b.WriteString(src[i:])
			return b.String()
		}
		lt += i
		// Template actions are copied as they are.
		if act := strings.Index(src[i:lt], "{{"); act >= 0 {
			end := strings.Index(src[i+act:], "}}")
			if end < 0 {
				b.WriteString(src[i:])
				return b.String()
			}
			stop := i + act + end + 2
			b.WriteString(src[i:stop])
			i = stop
			continue
		}
		b.WriteString(src[i:lt])
		tag, end := scanTag(src, lt)
		if tag == nil {
			b.WriteByte('<')
			i = lt + 1
			continue
		}
		b.WriteString(tag.rewrite(src[lt:end], rules))
		i = end
	}
}

// startTag is a scanned start tag: its name and attributes, with where
// the style attribute's value is (relative to the tag's start).
type startTag struct {
	name                 string
	classes              []string
	styleStart, styleEnd int // value bounds, -1 when absent
	closeAt              int // index of the final '>' or '/>'
}

// scanTag reads the start tag at src[at] == '<'. Template actions inside
// the tag are skipped as opaque.
func scanTag(src string, at int) (*startTag, int) {
	j := at + 1
	for j < len(src) && (isAlnum(src[j])) {
		j++
	}
	if j == at+1 || !isLetter(src[at+1]) {
		return nil, 0
	}
	t := &startTag{name: strings.ToLower(src[at+1 : j]), styleStart: -1, styleEnd: -1}
	for j < len(src) {
		c := src[j]
		switch {
		case c == '>':
			t.closeAt = j - at
			if j > at && src[j-1] == '/' {
				t.closeAt--
			}
			return t, j + 1
		case strings.HasPrefix(src[j:], "{{"):
			e := strings.Index(src[j:], "}}")
			if e < 0 {
				return nil, 0
			}
			j += e + 2
		case isLetter(c):
			k := j
			for k < len(src) && (isAlnum(src[k]) || src[k] == '-' || src[k] == ':') {
				k++
			}
			name := strings.ToLower(src[j:k])
			for k < len(src) && src[k] == ' ' {
				k++
			}
			if k < len(src) && src[k] == '=' {
				k++
				for k < len(src) && src[k] == ' ' {
					k++
				}
				vs, ve := k, k
				if k < len(src) && (src[k] == '"' || src[k] == '\'') {
					q := src[k]
					vs = k + 1
					ve = vs
					for ve < len(src) && src[ve] != q {
						if strings.HasPrefix(src[ve:], "{{") {
							if e := strings.Index(src[ve:], "}}"); e >= 0 {
								ve += e + 2
								continue
							}
						}
						ve++
					}
					k = ve + 1
				} else {
					for ve < len(src) && src[ve] != ' ' && src[ve] != '>' {
						ve++
					}
					k = ve
				}
				switch name {
				case "class":
					t.classes = literalClasses(src[vs:ve])
				case "style":
					t.styleStart, t.styleEnd = vs-at, ve-at
				}
			}
			j = k
		default:
			j++
		}
	}
	return nil, 0
}

// literalClasses are the class names outside template actions.
func literalClasses(v string) []string {
	for {
		a := strings.Index(v, "{{")
		if a < 0 {
			break
		}
		e := strings.Index(v[a:], "}}")
		if e < 0 {
			v = v[:a]
			break
		}
		v = v[:a] + " " + v[a+e+2:]
	}
	return strings.Fields(v)
}

func (t *startTag) rewrite(tag string, rules []cssRule) string {
	var add strings.Builder
	// Tag rules first, then class rules: a class is more specific.
	for pass := 0; pass < 2; pass++ {
		for _, r := range rules {
			if (pass == 0) != (r.class == "") {
				continue
			}
			if r.tag != "" && r.tag != t.name {
				continue
			}
			if r.class != "" && !contains(t.classes, r.class) {
				continue
			}
			add.WriteString(r.decls)
		}
	}
	if add.Len() == 0 {
		return tag
	}
	if t.styleStart >= 0 {
		own := strings.TrimSpace(tag[t.styleStart:t.styleEnd])
		return tag[:t.styleStart] + add.String() + own + tag[t.styleEnd:]
	}
	return tag[:t.closeAt] + ` style="` + add.String() + `"` + tag[t.closeAt:]
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool  { return isLetter(c) || c >= '0' && c <= '9' }
