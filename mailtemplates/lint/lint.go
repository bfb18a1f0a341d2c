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
	"sort"
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
	Message  string `json:"message"`
	// Blocking findings stop POST /campaigns/{id}/send.
	Blocking bool `json:"blocking,omitempty"`
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
}

// Check examines in.
func (c *Checker) Check(ctx context.Context, in Input) Report {
	r := Report{MessageBytes: len(in.Message)}
	add := func(sev, code, format string, args ...any) {
		r.Findings = append(r.Findings, Finding{Code: code, Severity: sev, Message: fmt.Sprintf(format, args...)})
	}
	m, err := mail.ReadMessage(bytes.NewReader(in.Message))
	if err != nil {
		add(Error, "unreadable", "the message cannot be parsed: %v", err)
		return r
	}
	parts, err := readParts(m)
	if err != nil {
		add(Error, "unreadable", "the message body cannot be parsed: %v", err)
		return r
	}
	r.HTMLBytes = parts.htmlEncoded
	switch {
	case r.HTMLBytes > GmailClipBytes:
		add(Warning, "gmail_clip", "the HTML part is %d KB; Gmail clips messages over 102 KB and hides the rest, footer included. Shorten the issue or link to the archive.", r.HTMLBytes/1024)
	case r.HTMLBytes > GmailClipBytes*8/10:
		add(Info, "near_gmail_clip", "the HTML part is %d KB, close to Gmail's 102 KB clipping limit", r.HTMLBytes/1024)
	}

	doc, err := html.Parse(strings.NewReader(parts.html))
	if err != nil {
		add(Error, "unreadable", "the HTML part cannot be parsed: %v", err)
		return r
	}
	pg := scan(doc)
	unsubscribe(m, parts, pg, in, &r)
	for _, l := range pg.shortened {
		add(Warning, "link_shortener", "link %s goes through a URL shortener; spam filters distrust them (they hide the target and are shared with spammers) and readers cannot see where it leads: link to the page itself", l)
	}
	if n := len(pg.noAlt); n > 0 {
		add(Warning, "missing_alt", "%d image(s) without alt text, e.g. %s; screen readers and clients that block images show nothing", n, pg.noAlt[0])
	}
	for _, v := range pg.vague {
		if v.aria {
			add(Warning, "vague_link_text", "link text %q says nothing about where it leads (%s); its aria-label helps screen readers, but everyone else reads the text: name the target (for a block, more_text)", v.text, v.href)
			continue
		}
		add(Warning, "vague_link_text", "link text %q says nothing about where it leads (%s); name the target instead", v.text, v.href)
	}
	for _, m := range pg.literal {
		add(Warning, "malformed_link", "the mail shows %q as text: a link that did not become one (a space in the address, or a missing bracket or parenthesis?)", m)
	}
	if pg.images > 0 && pg.words < 60*pg.images {
		add(Warning, "image_heavy", "%d image(s) but only %d words of text; mostly-image mail looks like spam and says nothing when images are blocked", pg.images, pg.words)
	}
	if pg.words == 0 {
		add(Error, "no_text", "the HTML part has no text")
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
func postal(doc *html.Node, p parts, in Input, add func(sev, code, format string, args ...any)) {
	if in.PostalAddress == "" {
		add(Warning, "no_postal_address", "no postal address is set, so the footer has none; marketing mail must say who sends it and where they can be reached (Settings → Sender identity, or the list's own)")
		return
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	want := squash(in.PostalAddress)
	if !strings.Contains(squash(textOf(doc)), want) || (p.text != "" && !strings.Contains(squash(p.text), want)) {
		add(Warning, "postal_address_not_shown", "the postal address %q is set but the mail does not show it; the list's template should show .PostalAddress (or .T.Address) in its footer", in.PostalAddress)
	}
}

// unsubscribe checks the one-click header pair and the visible links.
func unsubscribe(m *mail.Message, p parts, pg page, in Input, r *Report) {
	block := func(format string, args ...any) {
		r.Findings = append(r.Findings, Finding{Code: "missing_unsubscribe", Severity: Error, Blocking: true, Message: fmt.Sprintf(format, args...)})
	}
	lu := m.Header.Get("List-Unsubscribe")
	if !strings.Contains(lu, "<https://") && !strings.Contains(lu, "<http://") {
		block("no List-Unsubscribe header with an https link; Gmail and Yahoo require one-click unsubscribe for bulk mail")
	}
	if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		block("no List-Unsubscribe-Post: List-Unsubscribe=One-Click header")
	}
	if in.UnsubscribeURL == "" {
		return
	}
	found := false
	for _, h := range pg.hrefs {
		found = found || h == in.UnsubscribeURL
	}
	if !found {
		block("the HTML part has no link to the recipient's unsubscribe page; the list's template must contain <a href=\"{{.UnsubscribeURL}}\">")
	}
	if !strings.Contains(p.text, in.UnsubscribeURL) {
		block("the text part does not show the recipient's unsubscribe link")
	}
}

type page struct {
	images, words int
	noAlt         []string
	vague         []vagueLink
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
	add := func(sev, code, format string, args ...any) {
		r.Findings = append(r.Findings, Finding{Code: code, Severity: sev, Message: fmt.Sprintf(format, args...)})
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
			add(Error, "broken_link", "a link goes nowhere (href=%q)", l)
		case err != nil:
			add(Error, "broken_link", "link %q is not a valid URL: %v", l, err)
		case u.Scheme == "mailto":
			if _, err := mail.ParseAddress(strings.SplitN(u.Opaque, "?", 2)[0]); err != nil {
				add(Error, "broken_link", "link %q is not a valid mail address", l)
			}
		case u.Scheme == "http":
			add(Warning, "insecure_link", "link %s is not https; browsers warn and spam filters count it", l)
			fetch = append(fetch, l)
		case u.Scheme != "https":
			add(Error, "broken_link", "link %q must be an absolute https:// URL", l)
		case u.Host == "" || !strings.Contains(u.Hostname(), ".") && u.Hostname() != "localhost":
			add(Error, "broken_link", "link %q has no valid host", l)
		default:
			fetch = append(fetch, l)
		}
	}
	if c.HTTP == nil || len(fetch) == 0 {
		return
	}
	const maxFetch, parallel = 100, 4
	if len(fetch) > maxFetch {
		add(Info, "links_unchecked", "only the first %d of %d links were fetched", maxFetch, len(fetch))
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
			add(Warning, "unreachable_link", "link %s could not be fetched: %v", res.url, res.err)
		case res.code >= 400:
			add(Error, "broken_link", "link %s answers %d %s", res.url, res.code, http.StatusText(res.code))
		}
	}
}

func subject(m *mail.Message, add func(sev, code, format string, args ...any)) {
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		s = m.Header.Get("Subject")
	}
	n := utf8.RuneCountInString(s)
	switch {
	case strings.TrimSpace(s) == "":
		add(Error, "no_subject", "the subject is empty")
	case n > MaxSubjectRunes:
		add(Warning, "long_subject", "the subject is %d characters; phones show about %d", n, MaxSubjectRunes)
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
		add(Warning, "shouty_subject", "the subject is mostly capital letters, which spam filters count against it")
	}
	if strings.Count(s, "!") > 1 {
		add(Warning, "shouty_subject", "several exclamation marks in the subject count against it in spam filters")
	}
}

// auth checks that receivers can authenticate mail from the From domain:
// a DKIM signature aligned with it, its key published, SPF for the
// envelope sender, and a DMARC policy.
func (c *Checker) auth(ctx context.Context, m *mail.Message, in Input, add func(sev, code, format string, args ...any)) {
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		add(Error, "bad_from", "the From header is not an address: %v", err)
		return
	}
	fromDomain := domainOf(from.Address)
	dkimAligned := false
	if in.DKIM == nil {
		add(Warning, "dkim_off", "messages are not DKIM-signed; set UTSKICK_DKIM_DOMAIN (see `utskick dkim`). Gmail and Yahoo require authenticated bulk mail.")
	} else {
		dkimAligned = aligned(in.DKIM.Domain, fromDomain)
		if !dkimAligned {
			add(Warning, "dkim_not_aligned", "mail is signed for %s but sent From %s; DMARC needs the signing domain to match the From domain", in.DKIM.Domain, fromDomain)
		}
	}
	rpDomain := domainOf(in.ReturnPath)
	spfAligned := rpDomain != "" && aligned(rpDomain, fromDomain)
	if c.Resolver == nil {
		// Say what was not checked rather than nothing: an empty report
		// reads as "all is well".
		why := c.NoDNSReason
		if why == "" {
			why = "no DNS resolver is configured"
		}
		if in.DKIM != nil {
			add(Info, "dkim_unchecked", "not checked: whether the DKIM key is published at %s._domainkey.%s (%s)", in.DKIM.Selector, in.DKIM.Domain, why)
		}
		if rpDomain != "" {
			add(Info, "spf_unchecked", "not checked: SPF for %s (%s)", rpDomain, why)
		}
		add(Info, "dmarc_unchecked", "not checked: DMARC for %s (%s)", fromDomain, why)
		return
	}
	d := c.Domain(ctx, DomainInput{FromDomain: fromDomain, ReturnPathDomain: rpDomain, DKIM: in.DKIM})
	if k := d.DKIM; k != nil {
		switch {
		case k.Err != nil:
			add(Info, "dkim_unchecked", "could not check the DKIM key at %s: %v", k.Name, k.Err)
		case k.Record == "":
			add(Warning, "dkim_dns_missing", "no DKIM key published at %s; publish the record `utskick dkim` prints", k.Name)
		case !d.DKIMMatches:
			add(Error, "dkim_dns_mismatch", "the DKIM key published at %s is not the one utskick signs with; signatures will fail", k.Name)
		}
	}
	if spf := d.SPF; spf != nil {
		switch {
		case spf.Err != nil:
			add(Info, "spf_unchecked", "could not check SPF for %s: %v", rpDomain, spf.Err)
		case spf.Record == "":
			add(Warning, "spf_missing", "%s, the envelope sender's domain, publishes no SPF record", rpDomain)
		case !spfAligned:
			add(Info, "spf_not_aligned", "SPF is checked for %s, which is not the From domain %s; DMARC then relies on DKIM", rpDomain, fromDomain)
		}
	}
	switch dm := d.DMARC; {
	case dm.Err != nil:
		add(Info, "dmarc_unchecked", "could not check DMARC for %s: %v", fromDomain, dm.Err)
	case dm.Record == "":
		add(Warning, "dmarc_missing", "%s publishes no DMARC record (_dmarc.%s); Gmail and Yahoo require one from bulk senders", fromDomain, fromDomain)
	case !dkimAligned && !spfAligned:
		sev := Warning
		if p := tag(dm.Record, "p"); p == "reject" || p == "quarantine" {
			sev = Error
		}
		add(sev, "dmarc_fail", "neither DKIM (%s) nor SPF (%s) is aligned with the From domain %s, so DMARC (p=%s) fails", orEmpty(in.DKIM), rpDomain, fromDomain, tag(dm.Record, "p"))
	}
}

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
