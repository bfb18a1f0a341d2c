// Package lint checks a rendered campaign message for what makes mail
// fail to arrive or read badly: size against Gmail's clipping, the
// unsubscribe link, alt text, vague link text, image-only content, broken
// or insecure links, subject length, and SPF, DKIM and DMARC for the From
// domain. Everything is advice except a missing unsubscribe link, which
// blocks sending.
package lint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/publicsuffix"
)

// Severities of a finding.
const (
	Error   = "error"   // the mail is broken for some readers or will not arrive
	Warning = "warning" // likely to hurt delivery or reading
	Info    = "info"    // worth knowing; includes checks that could not run
)

// Finding is one problem, or one check that could not be made.
type Finding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	// Message is the finding in English, for the API and logs.
	Message string `json:"message"`
	// Blocking findings stop POST /campaigns/{id}/send.
	Blocking bool `json:"blocking,omitempty"`
	// Key names the wording in Messages: Code itself, or Code.variant for
	// a code said in several ways. Params fill its {placeholders}. Pages
	// translate Key (the i18n key "lint."+Key) with Params, so a finding
	// reads in the reader's language; Message is Key's English.
	Key    string            `json:"-"`
	Params map[string]string `json:"-"`
}

// Messages are the English wordings of the findings by Key, with
// {name} placeholders for their Params. Every Key has a Swedish and an
// English string in the workspace's i18n (api's test checks it).
var Messages = map[string]string{
	"unreadable.message":          "the message cannot be parsed: {error}",
	"unreadable.body":             "the message body cannot be parsed: {error}",
	"unreadable.html":             "the HTML part cannot be parsed: {error}",
	"gmail_clip":                  "the HTML part is {kb} KB; Gmail clips messages over 102 KB and hides the rest, footer included. Shorten the issue or link to the archive.",
	"near_gmail_clip":             "the HTML part is {kb} KB, close to Gmail's 102 KB clipping limit",
	"link_shortener":              "link {url} goes through a URL shortener; spam filters distrust them (they hide the target and are shared with spammers) and readers cannot see where it leads: link to the page itself",
	"missing_image":               "the image {url} is no longer in the media library (deleted?); readers would see a broken image: pick it again or remove it",
	"missing_alt":                 "{n} image(s) without alt text, e.g. {src}; screen readers and clients that block images show nothing",
	"vague_link_text.aria":        "link text \"{text}\" says nothing about where it leads ({url}); its aria-label helps screen readers, but everyone else reads the text: name the target (for a block, more_text)",
	"vague_link_text":             "link text \"{text}\" says nothing about where it leads ({url}); name the target instead",
	"malformed_link":              "the mail shows \"{text}\" as text: a link that did not become one (a space in the address, or a missing bracket or parenthesis?)",
	"image_heavy":                 "{images} image(s) but only {words} words of text; mostly-image mail looks like spam and says nothing when images are blocked",
	"no_text":                     "the HTML part has no text",
	"no_postal_address":           "no postal address is set, so the footer has none; marketing mail must say who sends it and where they can be reached (Settings → Sender identity, or the list's own)",
	"postal_address_not_shown":    "the postal address \"{address}\" is set but the mail does not show it; the list's template should show .PostalAddress (or .T.Address) in its footer",
	"missing_unsubscribe.header":  "no List-Unsubscribe header with an https link; Gmail and Yahoo require one-click unsubscribe for bulk mail",
	"missing_unsubscribe.post":    "no List-Unsubscribe-Post: List-Unsubscribe=One-Click header",
	"missing_unsubscribe.html":    "the HTML part has no link to the recipient's unsubscribe page; the list's template must contain <a href=\"{{.UnsubscribeURL}}\">",
	"missing_unsubscribe.text":    "the text part does not show the recipient's unsubscribe link",
	"broken_link.empty":           "a link goes nowhere (href=\"{url}\")",
	"broken_link.invalid":         "link \"{url}\" is not a valid URL: {error}",
	"broken_link.mailto":          "link \"{url}\" is not a valid mail address",
	"insecure_link":               "link {url} is not https; browsers warn and spam filters count it",
	"broken_link.scheme":          "link \"{url}\" must be an absolute https:// URL",
	"broken_link.host":            "link \"{url}\" has no valid host",
	"links_unchecked":             "only the first {max} of {n} links were fetched",
	"unreachable_link":            "link {url} could not be fetched: {error}",
	"broken_link.status":          "link {url} answers {status}",
	"no_subject":                  "the subject is empty",
	"long_subject":                "the subject is {n} characters; phones show about {max}",
	"shouty_subject.capitals":     "the subject is mostly capital letters, which spam filters count against it",
	"shouty_subject.exclamations": "several exclamation marks in the subject count against it in spam filters",
	"bad_from":                    "the From header is not an address: {error}",
	"dkim_off":                    "messages are not DKIM-signed; set UTSKICK_DKIM_DOMAIN (see `utskick dkim`). Gmail and Yahoo require authenticated bulk mail.",
	"dkim_not_aligned":            "mail is signed for {dkim_domain} but sent From {from_domain}; DMARC needs the signing domain to match the From domain",
	"dkim_unchecked.no_dns":       "not checked: whether the DKIM key is published at {name} ({why})",
	"spf_unchecked.no_dns":        "not checked: SPF for {domain} ({why})",
	"dmarc_unchecked.no_dns":      "not checked: DMARC for {domain} ({why})",
	"dkim_unchecked":              "could not check the DKIM key at {name}: {error}",
	"dkim_dns_missing":            "no DKIM key published at {name}; publish the record `utskick dkim` prints",
	"dkim_dns_mismatch":           "the DKIM key published at {name} is not the one utskick signs with; signatures will fail",
	"spf_unchecked":               "could not check SPF for {domain}: {error}",
	"spf_missing":                 "{domain}, the envelope sender's domain, publishes no SPF record",
	"spf_not_aligned":             "SPF is checked for {domain}, which is not the From domain {from_domain}; DMARC then relies on DKIM",
	"dmarc_unchecked":             "could not check DMARC for {domain}: {error}",
	"dmarc_missing":               "{domain} publishes no DMARC record (_dmarc.{domain}); Gmail and Yahoo require one from bulk senders",
	"dmarc_fail":                  "neither DKIM ({dkim_domain}) nor SPF ({domain}) is aligned with the From domain {from_domain}, so DMARC (p={policy}) fails",
}

// Sentence is the wording of key as a sentence on a page: Messages'
// English with a capital first letter and a full stop (none after a
// closing placeholder, which may end in one of its own). The workspace's
// English catalog takes these, so the English is written once.
func Sentence(key string) string {
	m := Messages[key]
	if m == "" {
		return ""
	}
	s := strings.ToUpper(m[:1]) + m[1:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "}") {
		s += "."
	}
	return s
}

// placeholderRE is a {name} in a wording of Messages.
var placeholderRE = regexp.MustCompile(`\{(\w+)\}`)

// Fill writes wording with params in place of its {placeholders}; one
// without a value stays as it is.
func Fill(wording string, params map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(wording, func(m string) string {
		if v, ok := params[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// newFinding is the finding of Messages[key] with params given as name,
// value pairs.
func newFinding(sev, key string, params ...string) Finding {
	code, _, _ := strings.Cut(key, ".")
	f := Finding{Code: code, Severity: sev, Key: key}
	if len(params) > 0 {
		f.Params = make(map[string]string, len(params)/2)
		for i := 0; i+1 < len(params); i += 2 {
			f.Params[params[i]] = params[i+1]
		}
	}
	wording, ok := Messages[key]
	if !ok {
		panic("lint: no wording for " + key) // a programming error, caught by the tests
	}
	f.Message = Fill(wording, f.Params)
	return f
}

// Report is the result of a check.
type Report struct {
	Findings     []Finding `json:"findings"`
	MessageBytes int       `json:"message_bytes"`
	HTMLBytes    int       `json:"html_bytes"` // the encoded HTML part, what Gmail's clipping counts
	Blocking     bool      `json:"blocking"`
}

// GmailClipBytes is where Gmail cuts a message off behind a "view entire
// message" link, which also hides the unsubscribe link in the footer.
const GmailClipBytes = 102 * 1024

// MaxSubjectRunes is about what a phone shows of a subject line.
const MaxSubjectRunes = 60

// Resolver looks up DNS TXT records; *net.Resolver is one.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// DKIMKey describes the configured signing key.
type DKIMKey struct {
	Domain, Selector string
	Record           string // the TXT value that publishes it ("v=DKIM1; k=…; p=…")
}

// Input is one subscriber's message and what it was sent with.
type Input struct {
	Message        []byte // complete RFC 5322 message, as WriteMessage writes it
	UnsubscribeURL string // this recipient's one-click link
	ReturnPath     string // envelope sender
	DKIM           *DKIMKey
	// PostalAddress is the sender's postal address the mail was made
	// with; "" when none is set. Swedish marketing law wants it in every
	// mail, so the lint warns when it is missing or not shown.
	PostalAddress string
}

// Checker runs the checks.
type Checker struct {
	// Resolver answers the SPF, DKIM and DMARC lookups; nil skips them,
	// and the report says so with NoDNSReason.
	Resolver Resolver
	// NoDNSReason says why there is no Resolver, for the "not checked"
	// findings; "" is a generic reason.
	NoDNSReason string
	// HTTP, when set, fetches each link (HEAD) to find broken ones. Off by
	// default: it reaches out to every host the mail links to.
	HTTP *http.Client
	// Timeout bounds each DNS lookup; 0 is LookupTimeout.
	Timeout time.Duration
	// ImageGone, when set, tells whether an image source is one this
	// server's media library should serve but cannot (its image was
	// deleted): such an image is a blocking error. An error skips the
	// check for that image. The caller knows the library; the lint only
	// asks.
	ImageGone func(ctx context.Context, src string) (bool, error)
}

// MaxImageLookups bounds the ImageGone calls of one check.
const MaxImageLookups = 100

// Check examines in.
func (c *Checker) Check(ctx context.Context, in Input) Report {
	r := Report{MessageBytes: len(in.Message)}
	add := func(sev, key string, params ...string) {
		r.Findings = append(r.Findings, newFinding(sev, key, params...))
	}
	m, err := mail.ReadMessage(bytes.NewReader(in.Message))
	if err != nil {
		add(Error, "unreadable.message", "error", err.Error())
		return r
	}
	parts, err := readParts(m)
	if err != nil {
		add(Error, "unreadable.body", "error", err.Error())
		return r
	}
	r.HTMLBytes = parts.htmlEncoded
	switch {
	case r.HTMLBytes > GmailClipBytes:
		add(Warning, "gmail_clip", "kb", strconv.Itoa(r.HTMLBytes/1024))
	case r.HTMLBytes > GmailClipBytes*8/10:
		add(Info, "near_gmail_clip", "kb", strconv.Itoa(r.HTMLBytes/1024))
	}

	doc, err := html.Parse(strings.NewReader(parts.html))
	if err != nil {
		add(Error, "unreadable.html", "error", err.Error())
		return r
	}
	pg := scan(doc)
	unsubscribe(m, parts, pg, in, &r)
	c.images(ctx, pg.imgs, &r)
	for _, l := range pg.shortened {
		add(Warning, "link_shortener", "url", l)
	}
	if n := len(pg.noAlt); n > 0 {
		add(Warning, "missing_alt", "n", strconv.Itoa(n), "src", pg.noAlt[0])
	}
	for _, v := range pg.vague {
		if v.aria {
			add(Warning, "vague_link_text.aria", "text", v.text, "url", v.href)
			continue
		}
		add(Warning, "vague_link_text", "text", v.text, "url", v.href)
	}
	for _, m := range pg.literal {
		add(Warning, "malformed_link", "text", m)
	}
	if pg.images > 0 && pg.words < 60*pg.images {
		add(Warning, "image_heavy", "images", strconv.Itoa(pg.images), "words", strconv.Itoa(pg.words))
	}
	if pg.words == 0 {
		add(Error, "no_text")
	}
	postal(doc, parts, in, add)
	c.links(ctx, pg.links, &r)
	subject(m, add)
	c.auth(ctx, m, in, add)

	sort.SliceStable(r.Findings, func(i, j int) bool { return rank(r.Findings[i]) < rank(r.Findings[j]) })
	for _, f := range r.Findings {
		r.Blocking = r.Blocking || f.Blocking
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	return r
}

func rank(f Finding) int {
	switch {
	case f.Blocking:
		return 0
	case f.Severity == Error:
		return 1
	case f.Severity == Warning:
		return 2
	}
	return 3
}

type parts struct {
	html, text  string
	htmlEncoded int
}

func readParts(m *mail.Message) (parts, error) {
	var p parts
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return p, err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(m.Body)
		if err != nil {
			return p, err
		}
		if mt == "text/html" {
			p.html, p.htmlEncoded = string(b), len(b)
		} else {
			p.text = string(b)
		}
		return p, nil
	}
	raw, err := io.ReadAll(m.Body)
	if err != nil {
		return p, err
	}
	// The encoded size of the HTML part: read the parts raw once more.
	rr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	for {
		part, err := rr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return p, err
		}
		b, _ := io.ReadAll(part)
		if ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct == "text/html" {
			p.htmlEncoded = len(b)
		}
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return p, err
		}
		b, err := io.ReadAll(part)
		if err != nil {
			return p, err
		}
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/html":
			p.html = string(b)
		case "text/plain":
			p.text = string(b)
		}
	}
	return p, nil
}

// postal checks that the sender's postal address is set and that the
// footer shows it in both parts (a staff layout may leave it out).
func postal(doc *html.Node, p parts, in Input, add func(sev, key string, params ...string)) {
	if in.PostalAddress == "" {
		add(Warning, "no_postal_address")
		return
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	want := squash(in.PostalAddress)
	if !strings.Contains(squash(textOf(doc)), want) || (p.text != "" && !strings.Contains(squash(p.text), want)) {
		add(Warning, "postal_address_not_shown", "address", in.PostalAddress)
	}
}

// images asks ImageGone about each image source; one it says is gone is
// a blocking error naming the URL.
func (c *Checker) images(ctx context.Context, srcs []string, r *Report) {
	if c.ImageGone == nil {
		return
	}
	for i, src := range srcs {
		if i == MaxImageLookups {
			break
		}
		if gone, err := c.ImageGone(ctx, src); err == nil && gone {
			f := newFinding(Error, "missing_image", "url", src)
			f.Blocking = true
			r.Findings = append(r.Findings, f)
		}
	}
}

// unsubscribe checks the one-click header pair and the visible links.
func unsubscribe(m *mail.Message, p parts, pg page, in Input, r *Report) {
	block := func(key string) {
		f := newFinding(Error, key)
		f.Blocking = true
		r.Findings = append(r.Findings, f)
	}
	lu := m.Header.Get("List-Unsubscribe")
	if !strings.Contains(lu, "<https://") && !strings.Contains(lu, "<http://") {
		block("missing_unsubscribe.header")
	}
	if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		block("missing_unsubscribe.post")
	}
	if in.UnsubscribeURL == "" {
		return
	}
	found := false
	for _, h := range pg.hrefs {
		found = found || h == in.UnsubscribeURL
	}
	if !found {
		block("missing_unsubscribe.html")
	}
	if !strings.Contains(p.text, in.UnsubscribeURL) {
		block("missing_unsubscribe.text")
	}
}

type page struct {
	images, words int
	noAlt         []string
	vague         []vagueLink
	imgs          []string // image sources, in order, each once
	literal       []string // Markdown link syntax left in the text
	shortened     []string // links through a URL shortener
	links         []string // hrefs and image sources, in order
	hrefs         []string
}

type vagueLink struct {
	text, href string
	aria       bool // it has an aria-label
}

// vagueTexts are link texts that only make sense next to the link; an
// aria-label does not excuse them, as sighted readers do not see it.
var vagueTexts = map[string]bool{
	"klicka här": true, "klicka": true, "här": true, "tryck här": true, "länk": true, "denna länk": true, "läs här": true,
	"klicka på länken": true, "klicka här för att läsa mer": true, "klicka här för mer information": true,
	"click here": true, "click": true, "here": true, "this link": true, "link": true, "read here": true,
}

// contextTexts need their context: fine with an aria-label that gives it
// (the blocks' "Läs mer" carries the headline), vague without.
var contextTexts = map[string]bool{"läs mer": true, "mer": true, "läs vidare": true, "read more": true, "more": true}

// literalLinkRE finds Markdown link syntax that stayed text: "[text]("
// before an address (or before the autolink the address became), and
// "http:/" with one slash.
var literalLinkRE = regexp.MustCompile(`\[[^\[\]\n]{1,200}\]\s?\(\s*(?:$|https?:|www\.|mailto:)|\bhttps?:/[^/\s]`)

func scan(doc *html.Node) page {
	var pg page
	var walk func(*html.Node, bool)
	walk = func(n *html.Node, hidden bool) {
		switch n.Type {
		case html.ElementNode:
			switch n.Data {
			case "head", "style", "script", "title":
				return
			case "img":
				pg.images++
				src, alt, hasAlt := "", "", false
				for _, a := range n.Attr {
					switch a.Key {
					case "src":
						src = a.Val
					case "alt":
						alt, hasAlt = a.Val, true
					}
				}
				if !hasAlt || strings.TrimSpace(alt) == "" {
					pg.noAlt = append(pg.noAlt, src)
				}
				if src != "" && !slices.Contains(pg.imgs, src) {
					pg.imgs = append(pg.imgs, src)
				}
				pg.links = append(pg.links, src)
			case "a":
				href := attr(n, "href")
				pg.links = append(pg.links, href)
				pg.hrefs = append(pg.hrefs, href)
				txt := strings.ToLower(strings.Join(strings.Fields(textOf(n)), " "))
				txt = strings.TrimSpace(strings.TrimRightFunc(txt, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) || r == '→' }))
				aria := strings.TrimSpace(attr(n, "aria-label")) != ""
				if vagueTexts[txt] || contextTexts[txt] && !aria {
					pg.vague = append(pg.vague, vagueLink{strings.TrimSpace(textOf(n)), href, aria})
				}
				if hostOf(href) != "" && shorteners[hostOf(href)] {
					pg.shortened = append(pg.shortened, href)
				}
			}
			if strings.Contains(strings.ReplaceAll(attr(n, "style"), " ", ""), "display:none") {
				hidden = true // the preheader
			}
		case html.TextNode:
			if !hidden {
				pg.words += len(strings.Fields(n.Data))
				if m := literalLinkRE.FindString(n.Data); m != "" && (n.Parent == nil || n.Parent.Data != "a") && len(pg.literal) < 5 {
					pg.literal = append(pg.literal, excerpt(n.Data, m))
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch, hidden)
		}
	}
	walk(doc, false)
	return pg
}

// shorteners are URL-shortening services whose links spam filters count
// against a mail.
var shorteners = map[string]bool{
	"bit.ly": true, "bitly.com": true, "tinyurl.com": true, "t.co": true, "goo.gl": true, "ow.ly": true, "is.gd": true,
	"buff.ly": true, "rebrand.ly": true, "cutt.ly": true, "shorturl.at": true, "tiny.cc": true, "bl.ink": true,
	"lnkd.in": true, "s.id": true, "rb.gy": true, "t.ly": true, "v.gd": true, "tr.im": true, "shorte.st": true,
	"adf.ly": true, "x.co": true, "short.io": true, "urlz.fr": true, "t1p.de": true, "qrco.de": true, "surl.li": true,
}

// hostOf is the lower-case host of an absolute URL without "www.".
func hostOf(href string) string {
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
}

// excerpt is m with a little of the text around it.
func excerpt(s, m string) string {
	i := strings.Index(s, m)
	start, end := max(0, i-20), min(len(s), i+len(m)+30)
	for start > 0 && !utf8.RuneStart(s[start]) {
		start--
	}
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return strings.TrimSpace(s[start:end])
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(textOf(c))
	}
	return b.String()
}

// links flags malformed and plain-http links, and with c.HTTP set, links
// that answer an error.
func (c *Checker) links(ctx context.Context, links []string, r *Report) {
	add := func(sev, key string, params ...string) {
		r.Findings = append(r.Findings, newFinding(sev, key, params...))
	}
	seen := map[string]bool{}
	var fetch []string
	for _, l := range links {
		if seen[l] {
			continue
		}
		seen[l] = true
		u, err := url.Parse(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
			add(Error, "broken_link.empty", "url", l)
		case err != nil:
			add(Error, "broken_link.invalid", "url", l, "error", err.Error())
		case u.Scheme == "mailto":
			if _, err := mail.ParseAddress(strings.SplitN(u.Opaque, "?", 2)[0]); err != nil {
				add(Error, "broken_link.mailto", "url", l)
			}
		case u.Scheme == "http":
			add(Warning, "insecure_link", "url", l)
			fetch = append(fetch, l)
		case u.Scheme != "https":
			add(Error, "broken_link.scheme", "url", l)
		case u.Host == "" || !strings.Contains(u.Hostname(), ".") && u.Hostname() != "localhost":
			add(Error, "broken_link.host", "url", l)
		default:
			fetch = append(fetch, l)
		}
	}
	if c.HTTP == nil || len(fetch) == 0 {
		return
	}
	const maxFetch, parallel = 100, 4
	if len(fetch) > maxFetch {
		add(Info, "links_unchecked", "max", strconv.Itoa(maxFetch), "n", strconv.Itoa(len(fetch)))
		fetch = fetch[:maxFetch]
	}
	type result struct {
		url  string
		code int
		err  error
	}
	results := make([]result, len(fetch))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, l := range fetch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = result{url: l}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(cctx, http.MethodHead, l, nil)
			if err != nil {
				results[i].err = err
				return
			}
			resp, err := c.HTTP.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusMethodNotAllowed {
				// Some servers refuse HEAD; ask for the page.
				req.Method = http.MethodGet
				if resp, err = c.HTTP.Do(req); err != nil {
					results[i].err = err
					return
				}
				resp.Body.Close()
			}
			results[i].code = resp.StatusCode
		}()
	}
	wg.Wait()
	for _, res := range results {
		switch {
		case res.err != nil:
			add(Warning, "unreachable_link", "url", res.url, "error", res.err.Error())
		case res.code >= 400:
			add(Error, "broken_link.status", "url", res.url, "status", strings.TrimSpace(fmt.Sprintf("%d %s", res.code, http.StatusText(res.code))))
		}
	}
}

func subject(m *mail.Message, add func(sev, key string, params ...string)) {
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		s = m.Header.Get("Subject")
	}
	n := utf8.RuneCountInString(s)
	switch {
	case strings.TrimSpace(s) == "":
		add(Error, "no_subject")
	case n > MaxSubjectRunes:
		add(Warning, "long_subject", "n", strconv.Itoa(n), "max", strconv.Itoa(MaxSubjectRunes))
	}
	letters, upper := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters >= 10 && upper*10 > letters*7 {
		add(Warning, "shouty_subject.capitals")
	}
	if strings.Count(s, "!") > 1 {
		add(Warning, "shouty_subject.exclamations")
	}
}

// auth checks that receivers can authenticate mail from the From domain:
// a DKIM signature aligned with it, its key published, SPF for the
// envelope sender, and a DMARC policy.
func (c *Checker) auth(ctx context.Context, m *mail.Message, in Input, add func(sev, key string, params ...string)) {
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		add(Error, "bad_from", "error", err.Error())
		return
	}
	fromDomain := domainOf(from.Address)
	dkimAligned := false
	if in.DKIM == nil {
		add(Warning, "dkim_off")
	} else {
		dkimAligned = aligned(in.DKIM.Domain, fromDomain)
		if !dkimAligned {
			add(Warning, "dkim_not_aligned", "dkim_domain", in.DKIM.Domain, "from_domain", fromDomain)
		}
	}
	rpDomain := domainOf(in.ReturnPath)
	spfAligned := rpDomain != "" && aligned(rpDomain, fromDomain)
	if c.Resolver == nil {
		// Say what was not checked rather than nothing: an empty report
		// reads as "all is well".
		why := c.NoDNSReason
		if why == "" {
			why = NoResolverReason
		}
		if in.DKIM != nil {
			add(Info, "dkim_unchecked.no_dns", "name", in.DKIM.Selector+"._domainkey."+in.DKIM.Domain, "why", why)
		}
		if rpDomain != "" {
			add(Info, "spf_unchecked.no_dns", "domain", rpDomain, "why", why)
		}
		add(Info, "dmarc_unchecked.no_dns", "domain", fromDomain, "why", why)
		return
	}
	d := c.Domain(ctx, DomainInput{FromDomain: fromDomain, ReturnPathDomain: rpDomain, DKIM: in.DKIM})
	if k := d.DKIM; k != nil {
		switch {
		case k.Err != nil:
			add(Info, "dkim_unchecked", "name", k.Name, "error", k.Err.Error())
		case k.Record == "":
			add(Warning, "dkim_dns_missing", "name", k.Name)
		case !d.DKIMMatches:
			add(Error, "dkim_dns_mismatch", "name", k.Name)
		}
	}
	if spf := d.SPF; spf != nil {
		switch {
		case spf.Err != nil:
			add(Info, "spf_unchecked", "domain", rpDomain, "error", spf.Err.Error())
		case spf.Record == "":
			add(Warning, "spf_missing", "domain", rpDomain)
		case !spfAligned:
			add(Info, "spf_not_aligned", "domain", rpDomain, "from_domain", fromDomain)
		}
	}
	switch dm := d.DMARC; {
	case dm.Err != nil:
		add(Info, "dmarc_unchecked", "domain", fromDomain, "error", dm.Err.Error())
	case dm.Record == "":
		add(Warning, "dmarc_missing", "domain", fromDomain)
	case !dkimAligned && !spfAligned:
		sev := Warning
		if p := tag(dm.Record, "p"); p == "reject" || p == "quarantine" {
			sev = Error
		}
		add(sev, "dmarc_fail", "dkim_domain", orEmpty(in.DKIM), "domain", rpDomain, "from_domain", fromDomain, "policy", tag(dm.Record, "p"))
	}
}

// NoResolverReason is why DNS was not asked when the Checker has neither
// a Resolver nor a NoDNSReason.
const NoResolverReason = "no DNS resolver is configured"

// LookupTimeout bounds one DNS lookup of the checks when
// Checker.Timeout is zero.
const LookupTimeout = 5 * time.Second

// DomainInput is what Domain checks: the From domain, the envelope
// sender's domain ("" to skip SPF) and the signing key (nil to skip DKIM).
type DomainInput struct {
	FromDomain, ReturnPathDomain string
	DKIM                         *DKIMKey
}

// Lookup is one DNS TXT lookup of the checks. Err is set when it could
// not be made (no network, a timeout, a server failure): the record is
// then unknown, neither present nor missing. Record is "" when the name
// has no such record.
type Lookup struct {
	Name   string
	Record string
	Err    error
}

// DomainStatus is what DNS says about sending from a domain. DKIM and SPF
// are nil when their input was not given.
type DomainStatus struct {
	DKIM        *Lookup
	DKIMMatches bool // the published key is the one utskick signs with
	SPF         *Lookup
	DMARC       Lookup // the From domain's record, else its organisational domain's
}

// Domain looks up the DKIM key, SPF and DMARC records of a sending
// domain, at once, each lookup bounded by c.Timeout: the checks of the
// lint and of the workspace's settings page alike.
func (c *Checker) Domain(ctx context.Context, in DomainInput) DomainStatus {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = LookupTimeout
	}
	lookup := func(name, prefix string) Lookup {
		l := Lookup{Name: name}
		if c.Resolver == nil {
			l.Err = ErrNoResolver
			return l
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		txt, err := c.Resolver.LookupTXT(ctx, name)
		var de *net.DNSError
		switch {
		case errors.As(err, &de) && de.IsNotFound:
		case err != nil:
			l.Err = err
		case prefix == "v=DKIM1":
			// A DKIM key may be split into strings; its record is them all.
			l.Record = strings.Join(txt, "")
		default:
			l.Record = findRecord(txt, prefix)
		}
		return l
	}
	var st DomainStatus
	var wg sync.WaitGroup
	if in.DKIM != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := lookup(in.DKIM.Selector+"._domainkey."+in.DKIM.Domain, "v=DKIM1")
			st.DKIM, st.DKIMMatches = &k, k.Record != "" && sameKey(k.Record, in.DKIM.Record)
		}()
	}
	if in.ReturnPathDomain != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spf := lookup(in.ReturnPathDomain, "v=spf1")
			st.SPF = &spf
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, d := range uniq(in.FromDomain, orgDomain(in.FromDomain)) {
			if st.DMARC = lookup("_dmarc."+d, "v=DMARC1"); st.DMARC.Err != nil || st.DMARC.Record != "" {
				break
			}
		}
	}()
	wg.Wait()
	return st
}

// ErrNoResolver is the reason nothing was looked up: the checker has no
// resolver (mail goes to the embedded capture, or tests).
var ErrNoResolver = errors.New("DNS checks are off: mail goes to the embedded capture, not out to the Internet")

// Tag reads one tag=value of a DKIM or DMARC record ("p" of a DMARC
// record is its policy).
func Tag(rec, name string) string { return tag(rec, name) }

func orEmpty(k *DKIMKey) string {
	if k == nil {
		return "unsigned"
	}
	return k.Domain
}

func domainOf(addr string) string {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// orgDomain is the registrable domain (example.se for news.example.se).
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return o
}

// aligned is DMARC's relaxed alignment: the same organisational domain.
func aligned(a, b string) bool { return strings.EqualFold(orgDomain(a), orgDomain(b)) }

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

func findRecord(txt []string, prefix string) string {
	for _, t := range txt {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), strings.ToLower(prefix)) {
			return t
		}
	}
	return ""
}

// tag reads one tag=value of a DKIM or DMARC record.
func tag(rec, name string) string {
	for _, kv := range strings.Split(rec, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// sameKey compares the p= of two DKIM records, ignoring spacing.
func sameKey(a, b string) bool {
	strip := func(s string) string { return strings.Join(strings.Fields(s), "") }
	return strip(tag(a, "p")) != "" && strip(tag(a, "p")) == strip(tag(b, "p"))
}
