package mailtemplates

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	htmltemplate "html/template"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// CampaignInput is what a campaign issue is made of.
type CampaignInput struct {
	Subject   string
	Preheader string
	Body      string // Markdown with placeholders
	From      mail.Address
	ListName  string // shown in the header and the footer's "why you get this"
	ListID    string // List-Id header value without angle brackets, e.g. "senaste-nytt.utskick.example.se"
	Org       string // the sender organisation, in header and footer
	// PostalAddress and Contact are the sender's postal address and a
	// line that says how to reach them, shown in the footer of every
	// message (Swedish marketing law wants a sender that can be reached);
	// "" leaves the line out, and the lint warns.
	PostalAddress, Contact string
	Theme                  *Theme // nil: the layout's theme, or DefaultTheme
	// Language is the content's language (the list's): <html lang> and
	// the words the renderer adds to the content ("Läs mer"). The footer
	// follows each subscriber's language. "" is the default language.
	Language string
	// Layout is the list's staff template; nil is the built-in layout.
	Layout *Layout
	// ArchiveURL is the issue in the public archive, for a "view in
	// browser" link; "" when the list has no archive.
	ArchiveURL string
	// Archive renders for the public archive: the footer invites to
	// subscribe, and the recipient's links are not personal.
	Archive bool
	// Headers are added to every message as they are (Feedback-ID,
	// Precedence, ...). Values must be ASCII without line breaks.
	Headers []Header
	// Tracking makes links and an open pixel per-recipient (tracking.go).
	Tracking Tracking
}

// Header is one message header.
type Header struct{ Name, Value string }

// Compiled is a campaign ready to be written for any number of
// recipients. It is immutable and safe for concurrent use.
type Compiled struct {
	in           CampaignInput
	placeholders []Placeholder
	subject      []piece
	variants     map[string]*variant // by subscriber language
	boundary     string
	staticHeader []byte
	track        *tracker // nil without Tracking
}

// variant is the campaign body in one footer language.
type variant struct {
	html, text []piece
}

// piece is either literal text or a placeholder in an escaping context.
type piece struct {
	raw string // literal text (ph < 0)
	qp  []byte // raw, quoted-printable encoded, ending at column col
	col int
	ph  int // placeholder index, or -1
	ctx escapeContext
}

type escapeContext int

const (
	ctxPlain    escapeContext = iota // text part, header
	ctxPlainURL                      // inside a URL in the text part
	ctxHTML                          // HTML text or attribute
	ctxHTMLURL                       // inside an href or src
)

// CompileCampaign renders everything of a campaign that does not depend on
// the recipient. Bad placeholders are a *PlaceholderError naming the field.
func (t *Templates) CompileCampaign(in CampaignInput) (*Compiled, error) {
	nonce := t.nonce()
	c := &Compiled{in: in, variants: map[string]*variant{}, boundary: "=_utskick_" + nonce}

	subject, ps, err := extractPlaceholders("subject", in.Subject, nonce)
	if err != nil {
		return nil, err
	}
	c.placeholders = ps
	pre, ps, err := extractMore("preheader", in.Preheader, nonce, len(c.placeholders))
	if err != nil {
		return nil, err
	}
	c.placeholders = append(c.placeholders, ps...)
	body, ps, err := extractMore("body", in.Body, nonce, len(c.placeholders))
	if err != nil {
		return nil, err
	}
	c.placeholders = append(c.placeholders, ps...)
	unsub := marker(nonce, len(c.placeholders))
	c.placeholders = append(c.placeholders, Placeholder{Name: "unsubscribe_url"})
	prefs := marker(nonce, len(c.placeholders))
	c.placeholders = append(c.placeholders, Placeholder{Name: "preferences_url"})

	c.subject = split(subject, nonce, func(string, int) escapeContext { return ctxPlain })

	layout := t.html.Lookup("campaign.html")
	theme := in.Theme
	if in.Layout != nil {
		layout = in.Layout.html
		if theme == nil {
			theme = in.Layout.Theme
		}
	}
	if theme == nil {
		theme = DefaultTheme
	}
	contentLang := NormalizeLanguage(in.Language)
	// The content is the same for every subscriber: render it once.
	ccat := t.cats[contentLang]
	htmlBody, textBody, err := renderMarkdown(newMarkdown(theme, ccat), []byte(body), ccat)
	if err != nil {
		return nil, err
	}
	for _, lang := range Languages {
		data := t.layoutData(layoutInput{
			lang: lang, contentLang: contentLang, subject: subject, preheader: pre, list: in.ListName, org: in.Org,
			postal: in.PostalAddress, contact: in.Contact,
			theme: theme, unsubscribe: unsub, preferences: prefs, archiveURL: in.ArchiveURL, archive: in.Archive,
		})
		var hb, tb bytes.Buffer
		data.Content = htmltemplate.HTML(htmlBody)
		if err := layout.Execute(&hb, data); err != nil {
			return nil, &LayoutError{"html", "campaign layout: " + trimTemplateErr(err)}
		}
		data.Content = textBody
		if err := t.text.ExecuteTemplate(&tb, "campaign.txt", data); err != nil {
			return nil, fmt.Errorf("campaign text layout: %w", err)
		}
		hs, ts := hb.String(), tb.String()
		if in.Tracking != (Tracking{}) {
			c.tracker().nonce = nonce
			hs, ts = c.trackHTML(hs), c.trackText(ts)
		}
		c.variants[lang] = &variant{
			html: c.markRaw(encodePieces(split(hs, nonce, htmlContext))),
			text: encodePieces(split(ts, nonce, textContext)),
		}
	}
	c.staticHeader = c.buildStaticHeader()
	return c, nil
}

// layoutData is what a layout template sees; Layout's doc lists it.
type layoutData struct {
	Lang, ContentLang, Subject, Preheader, ListName, Org string
	PostalAddress, Contact                               string
	Theme                                                *Theme
	Content                                              any
	UnsubscribeURL, PreferencesURL, ArchiveURL           string
	Archive                                              bool
	T                                                    footerText
}

type footerText struct {
	Why, Unsubscribe, Preferences, Sender, ViewOnline, Subscribe string
	// Address is "Postal address: …" in the footer's language; "" with
	// no postal address.
	Address string
}

type layoutInput struct {
	lang, contentLang, subject, preheader, list, org string
	postal, contact                                  string
	theme                                            *Theme
	unsubscribe, preferences, archiveURL             string
	archive                                          bool
}

func (t *Templates) layoutData(in layoutInput) layoutData {
	cat := t.cats[in.lang]
	d := layoutData{
		Lang: in.lang, ContentLang: in.contentLang, Subject: in.subject, Preheader: in.preheader, ListName: in.list, Org: in.org,
		PostalAddress: in.postal, Contact: in.contact,
		Theme: in.theme, UnsubscribeURL: in.unsubscribe, PreferencesURL: in.preferences, ArchiveURL: in.archiveURL, Archive: in.archive,
		T: footerText{
			Why:         cat.T("footer.why", "list", in.list),
			Unsubscribe: cat.T("footer.unsubscribe"),
			Preferences: cat.T("footer.preferences"),
			Sender:      cat.T("footer.sender", "org", in.org),
			ViewOnline:  cat.T("footer.view_online"),
			Subscribe:   cat.T("footer.subscribe", "list", in.list),
		},
	}
	if in.postal != "" {
		d.T.Address = cat.T("footer.address", "address", in.postal)
	}
	return d
}

// extractMore is extractPlaceholders numbering markers from offset.
func extractMore(field, s, nonce string, offset int) (string, []Placeholder, error) {
	out, ps, err := extractPlaceholders(field, s, nonce)
	if err != nil || len(ps) == 0 || offset == 0 {
		return out, ps, err
	}
	// Renumber: markers were numbered from 0.
	for i := len(ps) - 1; i >= 0; i-- {
		out = strings.ReplaceAll(out, marker(nonce, i), marker(nonce, i+offset))
	}
	return out, ps, nil
}

func newNonce() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// split cuts rendered text at the markers.
func split(s, nonce string, ctxOf func(s string, at int) escapeContext) []piece {
	re := regexp.MustCompile(`Qph` + nonce + `n(\d+)Z`)
	var out []piece
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			out = append(out, piece{raw: s[last:m[0]], ph: -1})
		}
		idx, _ := strconv.Atoi(s[m[2]:m[3]])
		out = append(out, piece{ph: idx, ctx: ctxOf(s, m[0])})
		last = m[1]
	}
	if last < len(s) {
		out = append(out, piece{raw: s[last:], ph: -1})
	}
	return out
}

// htmlContext tells whether position at of an HTML document is inside a
// tag's attribute value, and whether that attribute is a URL. Our layouts
// and goldmark quote every attribute value, which this relies on.
func htmlContext(s string, at int) escapeContext {
	open := strings.LastIndexByte(s[:at], '<')
	if open < 0 || strings.LastIndexByte(s[:at], '>') > open {
		return ctxHTML
	}
	var name strings.Builder
	var attr string
	var quote byte
	for i := open + 1; i < at; i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote, attr = 0, ""
			}
		case c == '"' || c == '\'':
			quote = c
			attr = strings.ToLower(name.String())
		case c == '=':
		case unicode.IsSpace(rune(c)):
			name.Reset()
		default:
			if i > 0 && (s[i-1] == '"' || s[i-1] == '\'') {
				name.Reset()
			}
			name.WriteByte(c)
		}
	}
	if quote != 0 && (attr == "href" || attr == "src") {
		return ctxHTMLURL
	}
	return ctxHTML
}

// textContext tells whether position at of the text part is inside a URL.
func textContext(s string, at int) escapeContext {
	start := strings.LastIndexFunc(s[:at], unicode.IsSpace) + 1
	word := s[start:at]
	if strings.Contains(word, "://") || strings.HasPrefix(word, "mailto:") {
		return ctxPlainURL
	}
	return ctxPlain
}

// encodePieces pre-encodes the literal pieces as quoted-printable. Each
// piece is encoded as if it started a line; a soft break closes any piece
// that a placeholder follows, so the recipient's values can be encoded on
// their own.
func encodePieces(ps []piece) []piece {
	for i := range ps {
		if ps[i].ph >= 0 {
			continue
		}
		ps[i].qp, ps[i].col = appendQP(nil, ps[i].raw, 0)
	}
	return ps
}

// escape prepares a placeholder value for its context.
func escape(v string, ctx escapeContext) string {
	switch ctx {
	case ctxHTML:
		return html.EscapeString(v)
	case ctxHTMLURL:
		if isURL(v) {
			return html.EscapeString(v)
		}
		return html.EscapeString(url.QueryEscape(v))
	case ctxPlainURL:
		if isURL(v) {
			return v
		}
		return url.QueryEscape(v)
	}
	return v
}

func isURL(v string) bool {
	return strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "mailto:")
}
