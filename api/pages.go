package api

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
)

//go:embed pages/*.html
var pagesFS embed.FS

// pageSet holds the subscriber-facing pages, each parsed with the shared
// layout.
type pageSet struct {
	tmpl map[string]*htmltemplate.Template
	cats func(lang string) mailtemplates.Catalog
}

func loadPages(t *mailtemplates.Templates) (*pageSet, error) {
	if t == nil {
		return nil, errors.New("api: Templates are required")
	}
	ps := &pageSet{tmpl: map[string]*htmltemplate.Template{}, cats: t.Catalog}
	layout, err := htmltemplate.ParseFS(pagesFS, "pages/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse page layout: %w", err)
	}
	for _, name := range []string{"message", "subscribe", "preferences", "archive"} {
		l, _ := layout.Clone()
		p, err := l.ParseFS(pagesFS, "pages/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		ps.tmpl[name] = p
	}
	return ps, nil
}

// pageBase is what every page has.
type pageBase struct {
	Lang, OtherLang, LangURL, Title, Org string
	Stylesheet                           string // hashed URL of public.css
	Cat                                  mailtemplates.Catalog
}

// messagePage is a page of text with optional buttons.
type messagePage struct {
	pageBase
	Paragraphs []string
	Actions    []pageAction
	Link       *pageLink
}

type pageAction struct {
	URL, Button string
	Hidden      map[string]string
	Secondary   bool
}

type pageLink struct{ URL, Text string }

// isPage tells whether a request is for a public page (HTML errors) or
// the API (JSON errors).
func isPage(c echo.Context) bool {
	p := c.Request().URL.Path
	return !strings.HasPrefix(p, "/api/") && p != "/healthz" && p != "/readyz"
}

// pageLang picks the page language: ?lang= or the form's lang, else def.
func pageLang(c echo.Context, def string) string {
	if l := c.QueryParam("lang"); l != "" {
		return mailtemplates.NormalizeLanguage(l)
	}
	if c.Request().Method == http.MethodPost {
		if l := c.FormValue("lang"); l != "" {
			return mailtemplates.NormalizeLanguage(l)
		}
	}
	return mailtemplates.NormalizeLanguage(def)
}

func (s *Server) base(c echo.Context, lang, title string) pageBase {
	other := "en"
	if lang == "en" {
		other = "sv"
	}
	u := *c.Request().URL
	q := u.Query()
	q.Set("lang", other)
	u.RawQuery = q.Encode()
	return pageBase{Lang: lang, OtherLang: other, LangURL: u.RequestURI(), Title: title, Org: s.org,
		Stylesheet: s.publicAsset("public.css"), Cat: s.pages.cats(lang)}
}

// render writes a page.
func (s *Server) render(c echo.Context, code int, name string, data any) error {
	var buf bytes.Buffer
	if err := s.pages.tmpl[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render page %s: %w", name, err)
	}
	h := c.Response().Header()
	// The policy is secureHeaders'; these pages only add that their URL
	// may hold a personal token, which no other site may see.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(code, buf.Bytes())
}

// message renders a message page with title and paragraphs by i18n key.
func (s *Server) message(c echo.Context, code int, lang, titleKey string, paras []string, actions ...pageAction) error {
	cat := s.pages.cats(lang)
	p := messagePage{pageBase: s.base(c, lang, cat.T(titleKey)), Paragraphs: paras, Actions: actions}
	return s.render(c, code, "message", p)
}

// pageError turns an error on a public page into a page, never JSON,
// with the status the one error table (statusCode) gives: a conflict is a
// 409 page that says to try again, not a server error.
func (s *Server) pageError(c echo.Context, err error) {
	lang := pageLang(c, "sv")
	cat := s.pages.cats(lang)
	code := statusCode(err)
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
	}
	switch {
	case code == http.StatusBadRequest:
		s.message(c, code, lang, "page.invalid_title", []string{cat.T("page.invalid_body")})
	case code == http.StatusNotFound:
		s.message(c, code, lang, "page.notfound_title", []string{cat.T("page.notfound_body")})
	case he != nil && code < 500:
		if code == http.StatusTooManyRequests {
			c.Response().Header().Set("Retry-After", "60")
		}
		s.message(c, code, lang, "page.error_title", []string{fmt.Sprint(he.Message)})
	case code == http.StatusConflict:
		s.message(c, code, lang, "page.error_title", []string{cat.T("page.conflict_body")})
	case code < 500 || code == http.StatusServiceUnavailable:
		s.message(c, code, lang, "page.error_title", []string{cat.T("page.error_body")})
	default:
		s.log.Error("page failed", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
			"path", c.Path(), "err", err)
		s.message(c, code, lang, "page.error_title", []string{cat.T("page.error_body")})
	}
}

// pageURL is the path of a public page with its language.
func pageURL(path, lang string) string {
	return path + "?" + url.Values{"lang": {lang}}.Encode()
}
