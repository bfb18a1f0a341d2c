package api

// The staff workspace under /admin: server-rendered pages, one template
// per screen on a shared layout, words from api/web/i18n (Swedish by
// default, English per user), static files with a content hash in their
// URL. Every screen works without JavaScript; app.js only enhances.

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/store"
)

//go:embed web/templates/*.html web/static/* web/i18n/*.json
var webFS embed.FS

// webScreens are the templates in web/templates besides the layout (and
// the partials, whose names start with "_"). A new screen is a new file:
// nothing to register.
var webScreens = func() []string {
	names, err := fs.Glob(webFS, "web/templates/*.html")
	if err != nil {
		panic(err)
	}
	var out []string
	for _, n := range names {
		n = strings.TrimSuffix(path.Base(n), ".html")
		if n != "layout" && !strings.HasPrefix(n, "_") {
			out = append(out, n)
		}
	}
	return out
}()

// screenDefine finds a screen's own blocks, "content" and "head";
// anyDefine every template a file defines.
var (
	screenDefine = regexp.MustCompile(`\{\{(-?\s*)define "(content|head)"`)
	anyDefine    = regexp.MustCompile(`\{\{-?\s*(?:define|block) "([^"]+)"`)
)

type screenSource struct{ name, src string }

// screenSources gives every screen's template text with its blocks named
// for the screen ("content:campaigns") and a "page:<screen>" that puts
// them in the layout. So one set per language holds the layout, the
// partials and every screen once. Parsing each screen on its own clone
// of the layout and partials, as before, copied their parse trees 80
// times: 12 of the 15 MB the process held live before its first send,
// which the Go runtime marks on every collection.
func screenSources(fsys fs.FS, screens []string) ([]screenSource, error) {
	var out []screenSource
	// In one set a second define of a name silently replaces the first,
	// so any other template a screen defines must be its alone.
	definedBy := map[string]string{}
	partials, _ := fs.Glob(fsys, "web/templates/_*.html")
	for _, p := range append(partials, "web/templates/layout.html") {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("staff ui %s: %w", p, err)
		}
		for _, m := range anyDefine.FindAllStringSubmatch(string(b), -1) {
			definedBy[m[1]] = path.Base(p)
		}
	}
	for _, name := range screens {
		b, err := fs.ReadFile(fsys, "web/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("staff ui screen %s: %w", name, err)
		}
		src := string(b)
		for _, m := range anyDefine.FindAllStringSubmatch(src, -1) {
			if m[1] == "content" || m[1] == "head" {
				continue
			}
			if other, ok := definedBy[m[1]]; ok {
				return nil, fmt.Errorf("staff ui screens %s and %s both define %q: name it for its screen", other, name, m[1])
			}
			definedBy[m[1]] = name
		}
		found := map[string]int{}
		for _, m := range screenDefine.FindAllStringSubmatch(src, -1) {
			found[m[2]]++
		}
		if found["content"] != 1 || found["head"] > 1 {
			return nil, fmt.Errorf("staff ui screen %s: want one content block and at most one head, found %v", name, found)
		}
		src = screenDefine.ReplaceAllString(src, `{{${1}define "${2}:`+name+`"`)
		head := ""
		if found["head"] == 1 {
			head = `{{template "head:` + name + `" .}}`
		}
		src += `{{define "page:` + name + `"}}{{template "layout:top" .}}` + head +
			`{{template "layout:middle" .}}{{template "content:` + name + `" .}}{{template "layout:bottom" .}}{{end}}`
		out = append(out, screenSource{name, src})
	}
	return out, nil
}

// webUI holds what the staff pages are made of, parsed once at start.
type webUI struct {
	cats   map[string]mailtemplates.Catalog
	tmpl   map[string]*htmltemplate.Template // lang → every screen, as "page:<screen>"
	assets map[string]webAsset               // hashed file name → file
	hashed map[string]string                 // plain name → hashed name
}

type webAsset struct {
	body        []byte
	contentType string
}

// lintEnglish is the English of every lint finding on a page, made from
// the wording the API gives (lint.Sentence), so that it is written once;
// the Swedish is in the i18n files.
func lintEnglish() map[string]mailtemplates.Catalog {
	en := mailtemplates.Catalog{}
	for key := range lint.Messages {
		en["lint."+key] = lint.Sentence(key)
	}
	return map[string]mailtemplates.Catalog{"en": en}
}

func loadWebUI(now func() time.Time) (*webUI, error) {
	cats, err := mailtemplates.LoadCatalogs(webFS, "web/i18n", lintEnglish())
	if err != nil {
		return nil, fmt.Errorf("staff ui: %w", err)
	}
	w := &webUI{cats: cats, tmpl: map[string]*htmltemplate.Template{},
		assets: map[string]webAsset{}, hashed: map[string]string{}}
	static, _ := fs.Sub(webFS, "web/static")
	err = fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(name)
		h := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		w.hashed[name], w.assets[h] = h, webAsset{body: b, contentType: mime.TypeByExtension(ext)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("staff ui static files: %w", err)
	}
	screens, err := screenSources(webFS, webScreens)
	if err != nil {
		return nil, err
	}
	for _, lang := range mailtemplates.Languages {
		set, err := htmltemplate.New("layout.html").Funcs(w.funcs(lang, now)).ParseFS(webFS, "web/templates/layout.html")
		if err != nil {
			return nil, fmt.Errorf("staff ui layout: %w", err)
		}
		if partials, _ := fs.Glob(webFS, "web/templates/_*.html"); len(partials) > 0 {
			if set, err = set.ParseFS(webFS, partials...); err != nil {
				return nil, fmt.Errorf("staff ui partials: %w", err)
			}
		}
		for _, sc := range screens {
			if _, err := set.New(sc.name + ".html").Parse(sc.src); err != nil {
				return nil, fmt.Errorf("staff ui screen %s: %w", sc.name, err)
			}
		}
		w.tmpl[lang] = set
	}
	return w, nil
}

// funcs are the template functions, bound to one language.
func (w *webUI) funcs(lang string, now func() time.Time) htmltemplate.FuncMap {
	cat := w.cats[lang]
	return htmltemplate.FuncMap{
		// t translates key; args are name, value pairs for {name}.
		"t": func(key string, args ...any) string {
			return cat.T(key, stringArgs(args)...)
		},
		"localtime": func(t any) string {
			return timeOr(t, func(t time.Time) string { return mailtemplates.LocalTime(t, lang) })
		},
		"localdate": func(t any) string {
			return timeOr(t, func(t time.Time) string { return mailtemplates.LocalDate(t, lang) })
		},
		"isotime": func(t any) string { return timeOr(t, func(t time.Time) string { return t.UTC().Format(time.RFC3339) }) },
		"elapsed": func(t any) string { return timeOr(t, func(t time.Time) string { return elapsed(cat, now().Sub(t)) }) },
		"num":     func(n int64) string { return formatNum(n, lang) },
		"percent": func(part, whole int64) int64 {
			if whole <= 0 {
				return 0
			}
			return part * 100 / whole
		},
		"csrfField": func(token string) htmltemplate.HTML {
			return htmltemplate.HTML(`<input type="hidden" name="csrf" value="` + htmltemplate.HTMLEscapeString(token) + `">`)
		},
		"asset":      func(name string) string { return "/admin/static/" + w.hashed[name] },
		"roleName":   func(r string) string { return cat.T("role." + r) },
		"roleDesc":   func(r string) string { return cat.T("role." + r + "_desc") },
		"grantName":  func(r string) string { return cat.T("perm.grant_" + r) },
		"grantDesc":  func(r string) string { return cat.T("perm.grant_" + r + "_desc") },
		"statusName": func(s string) string { return cat.T("status." + s) },
		"campaignStatus": func(s string) string {
			return cat.T("campaign_status." + s)
		},
		"int64of": func(n int) int64 { return int64(n) },
		"field":   newInputField,
		"secret":  newSecretCard,
		// defaultHint says what an empty field falls back to.
		"defaultHint": func(v string) string {
			if v == "" {
				return cat.T("editor.default_none")
			}
			return cat.T("editor.default", "value", v)
		},
	}
}

func stringArgs(args []any) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = fmt.Sprint(a)
	}
	return out
}

// timeOr formats a time.Time or a non-nil *time.Time; anything else is
// an empty string.
func timeOr(v any, f func(time.Time) string) string {
	switch t := v.(type) {
	case time.Time:
		if !t.IsZero() {
			return f(t)
		}
	case *time.Time:
		if t != nil && !t.IsZero() {
			return f(*t)
		}
	}
	return ""
}

// elapsed says how long ago, roughly: staff want "5 min ago", not seconds.
func elapsed(cat mailtemplates.Catalog, d time.Duration) string {
	switch {
	case d < time.Minute:
		return cat.T("elapsed.now")
	case d < time.Hour:
		return cat.T("elapsed.minutes", "n", strconv.Itoa(int(d/time.Minute)))
	case d < 48*time.Hour:
		return cat.T("elapsed.hours", "n", strconv.Itoa(int(d/time.Hour)))
	}
	return cat.T("elapsed.days", "n", strconv.Itoa(int(d/(24*time.Hour))))
}

// formatNum groups digits: Swedish with a narrow no-break space
// (10 000), English with a comma (10,000).
func formatNum(n int64, lang string) string {
	sep := "\u202f"
	if lang == "en" {
		sep = ","
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// webPage is what every staff page has. Screens embed it in their own
// data.
type webPage struct {
	Lang, Title, Org string
	// User is the signed-in user; nil on the sign-in pages, which then
	// show no navigation.
	User *store.User
	// CSRF is the token of this browser's session for every form.
	CSRF string
	// Nav is the navigation item of the screen ("overview", "lists", …).
	Nav string
	// Flash is a message from the previous request (post/redirect/get).
	Flash      string
	FlashError bool
	// OtherLang and LangURL switch the language of a page before sign-in.
	OtherLang, LangURL string
	// Errors are form errors by field name, already translated.
	Errors map[string]string
}

// CanEdit tells a template whether to show write controls.
func (p webPage) CanEdit() bool {
	return p.User != nil && roleRank[p.User.Role] >= roleRank[store.RoleEditor]
}

// CanAdmin tells a template whether to show admin controls.
func (p webPage) CanAdmin() bool { return p.User != nil && p.User.Role == store.RoleAdmin }

// page starts a page's data for the current request: language, user,
// CSRF token, and the flash message, which it consumes.
func (s *Server) page(c echo.Context, titleKey, nav string) webPage {
	ws := webSessionOf(c)
	lang := s.webLang(c)
	p := webPage{Lang: lang, Org: s.org, Nav: nav, CSRF: s.csrfToken(c)}
	p.Title = s.web.cats[lang].T(titleKey)
	if ws != nil {
		p.User = ws.User
	} else {
		p.OtherLang = "en"
		if lang == "en" {
			p.OtherLang = "sv"
		}
		u := *c.Request().URL
		q := u.Query()
		q.Set("lang", p.OtherLang)
		u.RawQuery = q.Encode()
		p.LangURL = u.RequestURI()
	}
	if key, isErr := s.takeFlash(c); key != "" {
		p.Flash, p.FlashError = s.web.cats[lang].T(key), isErr
	}
	return p
}

// webLang is the signed-in user's language, or before sign-in ?lang= (or
// the form's lang), Swedish by default.
func (s *Server) webLang(c echo.Context) string {
	if ws := webSessionOf(c); ws != nil {
		return mailtemplates.NormalizeLanguage(ws.User.Lang)
	}
	return pageLang(c, "sv")
}

// t translates key in the language of the current request.
func (s *Server) t(c echo.Context, key string, args ...string) string {
	return s.web.cats[s.webLang(c)].T(key, args...)
}

// renderWeb writes a staff page.
func (s *Server) renderWeb(c echo.Context, code int, screen string, lang string, data any) error {
	t := s.web.tmpl[mailtemplates.NormalizeLanguage(lang)]
	if t == nil || t.Lookup("page:"+screen) == nil {
		return fmt.Errorf("staff ui: no screen %q", screen)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "page:"+screen, data); err != nil {
		return fmt.Errorf("render staff screen %s: %w", screen, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(code, buf.Bytes())
}

// staticFile serves an embedded file by its hashed name, cached for a
// year: a new build has new names.
func (s *Server) staticFile(c echo.Context) error {
	a, ok := s.web.assets[c.Param("file")]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such file")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, a.contentType, a.body)
}

// publicAsset is the hashed URL of a static file for the public pages,
// served outside /admin so that a proxy closing /admin to the world does
// not break them.
func (s *Server) publicAsset(name string) string { return "/static/" + s.web.hashed[name] }

// Flash messages carry an i18n key across a redirect in a short-lived
// cookie; only keys under "flash." are shown.
const flashCookie = "utskick_flash"

func (s *Server) flash(c echo.Context, key string) { s.setFlash(c, key, false) }

func (s *Server) flashError(c echo.Context, key string) { s.setFlash(c, key, true) }

func (s *Server) setFlash(c echo.Context, key string, isErr bool) {
	v := key
	if isErr {
		v = "!" + key
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: v, Path: "/admin", MaxAge: 60, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secureCookies()})
}

// flashPrefixes are the i18n keys a flash cookie may name: the
// workspace's own, and the four-eyes and two-factor screens' (whose
// flashes were dropped before they were listed here).
var flashPrefixes = []string{"flash.", "perm.", "team."}

func (s *Server) takeFlash(c echo.Context) (string, bool) {
	ck, err := c.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return "", false
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Path: "/admin", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secureCookies()})
	key, isErr := strings.CutPrefix(ck.Value, "!")
	if !slices.ContainsFunc(flashPrefixes, func(p string) bool { return strings.HasPrefix(key, p) }) {
		return "", false
	}
	if _, ok := s.web.cats["sv"][key]; !ok {
		return "", false
	}
	return key, isErr
}

// redirect answers a form post with 303 See Other to a GET.
func redirect(c echo.Context, to string) error { return c.Redirect(http.StatusSeeOther, to) }

// messageData is a page of text: errors, "check your inbox", "coming".
type messageData struct {
	webPage
	Paragraphs []string
	Link       *pageLink
}

// webMessage renders a staff message page.
func (s *Server) webMessage(c echo.Context, code int, titleKey string, paras []string, link *pageLink) error {
	p := messageData{webPage: s.page(c, titleKey, ""), Paragraphs: paras, Link: link}
	return s.renderWeb(c, code, "message", p.Lang, p)
}

// webError turns an error on a staff page into a page in the user's
// language, with the status the one error table gives.
func (s *Server) webError(c echo.Context, err error) {
	code := statusCode(err)
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
	}
	home := &pageLink{URL: "/admin/", Text: s.t(c, "error.back")}
	var rerr error
	switch {
	case code == http.StatusNotFound:
		rerr = s.webMessage(c, code, "error.notfound_title", []string{s.t(c, "error.notfound")}, home)
	case code == http.StatusForbidden:
		rerr = s.webMessage(c, code, "error.forbidden_title", []string{s.t(c, "error.forbidden")}, home)
	case code == http.StatusBadRequest:
		rerr = s.webMessage(c, code, "error.invalid_title", []string{s.t(c, "error.invalid")}, home)
	case code < 500:
		rerr = s.webMessage(c, code, "error.conflict_title", []string{errorText(err)}, home)
	default:
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		s.log.Error("staff page failed", "request_id", reqID, "method", c.Request().Method, "path", c.Path(), "err", err)
		rerr = s.webMessage(c, code, "error.server_title", []string{s.t(c, "error.server", "id", reqID)}, home)
	}
	if rerr != nil {
		s.log.Error("render staff error page", "err", rerr)
		c.String(code, http.StatusText(code))
	}
}

func errorText(err error) string {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return fmt.Sprint(he.Message)
	}
	return err.Error()
}

// isWeb tells whether a request is for the staff workspace.
func isWeb(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == "/admin" || strings.HasPrefix(p, "/admin/")
}
