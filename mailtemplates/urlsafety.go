package mailtemplates

import (
	"fmt"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"golang.org/x/net/html"
)

// URLScheme is the scheme a browser would see in u: ASCII whitespace and
// control characters are dropped first, as browsers do, so that
// "jav&#x09;ascript:" (a tab once its entity is decoded) is "javascript".
// "" is a relative URL.
func URLScheme(u string) string {
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c <= 0x20 || c == 0x7f:
			continue
		case c == ':':
			s := strings.ToLower(b.String())
			if s == "" || !(s[0] >= 'a' && s[0] <= 'z') {
				return ""
			}
			return s
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '+', c == '-', c == '.':
			b.WriteByte(c)
		default:
			return "" // a path, query or fragment comes first: relative
		}
	}
	return ""
}

// safeSchemes are what a link or image in a mail or an archive page may
// use. javascript:, vbscript: and data: (a page or script smuggled in a
// URL) are the ones that matter; anything else unknown is refused too.
var safeSchemes = map[string]bool{"": true, "http": true, "https": true, "mailto": true, "tel": true, "cid": true}

// SafeURL tells whether u may be a link or image source.
func SafeURL(u string) bool { return safeSchemes[URLScheme(u)] }

// urlAttrs are the attributes that hold a URL a browser follows or loads.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "action": true, "formaction": true, "background": true, "poster": true, "cite": true,
	"longdesc": true, "lowsrc": true, "dynsrc": true, "data": true, "ping": true, "xlink:href": true, "srcset": true, "manifest": true,
}

// allowedHTTPEquiv are the <meta http-equiv> values a mail may carry;
// "refresh" would redirect whoever opens an archive page, "set-cookie"
// and the rest have no business in a mail.
var allowedHTTPEquiv = map[string]bool{"content-type": true, "content-language": true, "x-ua-compatible": true}

// checkHTMLSafety reads s (a layout's source or its output) as a browser
// would, entities decoded, and names the first thing that could redirect
// a reader or run a script.
func checkHTMLSafety(s string) error {
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return nil
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				switch {
				case tok.Data == "meta" && key == "http-equiv" && !allowedHTTPEquiv[strings.ToLower(strings.TrimSpace(a.Val))]:
					return fmt.Errorf(`must not contain <meta http-equiv=%q>: it would redirect or change the archive page for every reader`, a.Val)
				case strings.HasPrefix(key, "on"):
					return fmt.Errorf("must not contain event handlers such as %s=: mail clients strip them and archive pages must not run scripts", key)
				case key == "srcset":
					for _, part := range strings.Split(a.Val, ",") {
						if f := strings.Fields(part); len(f) > 0 && !SafeURL(f[0]) {
							return unsafeURLError(key, f[0])
						}
					}
				case urlAttrs[key] && !SafeURL(a.Val):
					return unsafeURLError(key, a.Val)
				}
			}
		}
	}
}

func unsafeURLError(attr, v string) error {
	return fmt.Errorf("%s=%q: links and images must be https://, http://, mailto: or tel: addresses, not %s:", attr, shorten(v, 60), URLScheme(v))
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

var urlErrorsKey = parser.NewContextKey()

// urlGuard empties the destination of every Markdown link and image whose
// scheme is not safe (goldmark's own check misses "jav&#x09;ascript:"),
// and records it, so that the body is refused at save and neutralised if
// it was stored before.
type urlGuard struct{}

func (urlGuard) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	src := reader.Source()
	var errs []*BodyError
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		var dest *[]byte
		kind := "link"
		switch n := n.(type) {
		case *ast.Link:
			dest = &n.Destination
		case *ast.Image:
			dest, kind = &n.Destination, "image"
		default:
			return ast.WalkContinue, nil
		}
		// Entities are decoded when goldmark writes the URL.
		if u := html.UnescapeString(string(*dest)); !SafeURL(u) {
			errs = append(errs, newProblem("unsafe_url."+kind, map[string]string{"url": shorten(u, 60), "scheme": URLScheme(u)},
				"the %s %q must be an https://, http://, mailto: or tel: address, not %s:", kind, shorten(u, 60), URLScheme(u)).at(blockLine(n, src)))
			*dest = nil
		}
		return ast.WalkContinue, nil
	})
	if len(errs) > 0 {
		pc.Set(urlErrorsKey, errs)
	}
}

// blockLine is the first line of the block n is in.
func blockLine(n ast.Node, src []byte) int {
	for p := n; p != nil; p = p.Parent() {
		if p.Type() == ast.TypeBlock && p.Lines() != nil && p.Lines().Len() > 0 {
			return lineOf(src, p.Lines().At(0).Start)
		}
	}
	return 1
}

func urlError(pc parser.Context) error {
	if errs, ok := pc.Get(urlErrorsKey).([]*BodyError); ok && len(errs) > 0 {
		return errs[0]
	}
	return nil
}
