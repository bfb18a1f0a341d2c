package mailtemplates

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	htmltemplate "html/template"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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
// It gives up when ctx ends (the request that asked for a preview went
// away): between its stages, and within a staff layout's run.
func (t *Templates) CompileCampaign(ctx context.Context, in CampaignInput) (*Compiled, error) {
	// The body's size and shape first: goldmark's time depends on them.
	if err := checkBody(in.Body); err != nil {
		return nil, err
	}
	nonce := t.nonce()
	c := &Compiled{in: in, variants: map[string]*variant{}, boundary: "=_utskick_" + nonce}

	subject, ps, err := extractPlaceholders("subject", in.Subject, nonce, 0)
	if err != nil {
		return nil, err
	}
	c.placeholders = ps
	pre, ps, err := extractPlaceholders("preheader", in.Preheader, nonce, len(c.placeholders))
	if err != nil {
		return nil, err
	}
	c.placeholders = append(c.placeholders, ps...)
	body, ps, err := extractPlaceholders("body", in.Body, nonce, len(c.placeholders))
	if err != nil {
		return nil, err
	}
	c.placeholders = append(c.placeholders, ps...)
	unsub := marker(nonce, len(c.placeholders))
	c.placeholders = append(c.placeholders, Placeholder{Name: "unsubscribe_url"})
	prefs := marker(nonce, len(c.placeholders))
	c.placeholders = append(c.placeholders, Placeholder{Name: "preferences_url"})

	c.subject = split(subject, nonce, plainContexts)

	theme := in.Theme
	if in.Layout != nil {
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
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	htmlBody, textBody, err := renderMarkdown(ctx, newMarkdown(theme, ccat), []byte(body), ccat)
	if err != nil {
		return nil, err
	}
	for _, lang := range Languages {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		data := t.layoutData(layoutInput{
			lang: lang, contentLang: contentLang, subject: subject, preheader: pre, list: in.ListName, org: in.Org,
			postal: in.PostalAddress, contact: in.Contact,
			theme: theme, unsubscribe: unsub, preferences: prefs, archiveURL: in.ArchiveURL, archive: in.Archive,
		})
		var hb, tb bytes.Buffer
		data.Content = htmltemplate.HTML(htmlBody)
		if in.Layout != nil {
			// A staff layout runs within bounds (layoutrun.go).
			if err := in.Layout.html.execute(ctx, &hb, data, len(htmlBody)); err != nil {
				var le *LayoutError
				if errors.As(err, &le) {
					return nil, &LayoutError{"html", "campaign layout: " + le.Msg}
				}
				return nil, err
			}
			// A layout stored before PrepareLayout checked this must
			// not redirect an archive reader either.
			if err := checkHTMLSafety(hb.String()); err != nil {
				return nil, &LayoutError{"html", "campaign layout: " + err.Error()}
			}
		} else if err := t.html.ExecuteTemplate(&hb, "campaign.html", data); err != nil {
			return nil, fmt.Errorf("campaign layout: %w", err)
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
			html: c.markRaw(encodePieces(split(hs, nonce, htmlContexts))),
			text: encodePieces(split(ts, nonce, textContexts)),
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

func newNonce() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// split cuts rendered text at the markers. ctxOf gives the escaping
// context of each marker position, in one pass over s.
func split(s, nonce string, ctxOf func(s string, at []int) []escapeContext) []piece {
	re := regexp.MustCompile(`Qph` + nonce + `n(\d+)Z`)
	ms := re.FindAllStringSubmatchIndex(s, -1)
	at := make([]int, len(ms))
	for i, m := range ms {
		at[i] = m[0]
	}
	ctxs := ctxOf(s, at)
	out := make([]piece, 0, 2*len(ms)+1)
	last := 0
	for i, m := range ms {
		if m[0] > last {
			out = append(out, piece{raw: s[last:m[0]], ph: -1})
		}
		idx, _ := strconv.Atoi(s[m[2]:m[3]])
		out = append(out, piece{ph: idx, ctx: ctxs[i]})
		last = m[1]
	}
	if last < len(s) {
		out = append(out, piece{raw: s[last:], ph: -1})
	}
	return out
}

func plainContexts(_ string, at []int) []escapeContext { return make([]escapeContext, len(at)) }

// htmlContexts tells for each position in at (ascending) whether it is
// inside a tag's attribute value, and whether that attribute is a URL.
// Our layouts and goldmark quote every attribute value, which this relies
// on. It reads s once from the start: looking back from each marker to its
// tag's start made a paragraph of placeholders quadratic.
func htmlContexts(s string, at []int) []escapeContext {
	out := make([]escapeContext, len(at))
	inTag := false
	var quote byte
	var name strings.Builder
	var attr string
	k := 0
	for i := 0; i <= len(s) && k < len(at); i++ {
		for k < len(at) && at[k] == i {
			out[k] = ctxHTML
			if inTag && quote != 0 && (attr == "href" || attr == "src") {
				out[k] = ctxHTMLURL
			}
			k++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		switch {
		case !inTag:
			if c == '<' {
				inTag, quote, attr = true, 0, ""
				name.Reset()
			}
		case quote != 0:
			if c == quote {
				quote, attr = 0, ""
			}
		case c == '"' || c == '\'':
			quote = c
			attr = strings.ToLower(name.String())
		case c == '>':
			inTag = false
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
	return out
}

// textContexts tells for each position in at (ascending) of the text part
// whether it is inside a URL: a word that holds "://" before it or starts
// with "mailto:". One pass, for the same reason as htmlContexts.
func textContexts(s string, at []int) []escapeContext {
	out := make([]escapeContext, len(at))
	wordStart, url := 0, false
	k := 0
	for i := 0; i <= len(s) && k < len(at); {
		for k < len(at) && at[k] == i {
			if url || strings.HasPrefix(s[wordStart:], "mailto:") {
				out[k] = ctxPlainURL
			}
			k++
		}
		if i == len(s) {
			break
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case unicode.IsSpace(r):
			wordStart, url = i, false
		case r == '/' && i-3 >= wordStart && s[i-3:i] == "://":
			url = true
		}
	}
	return out
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
