package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// Cookies of the staff workspace.
const (
	sessionCookie = "utskick_session" // the session's secret
	// anonCookie keys the CSRF token of forms shown before sign-in
	// (sign-in, forgot password, set password), where there is no
	// session yet.
	anonCookie = "utskick_csrf"
)

// webSession is the signed-in user of a request, loaded once by
// loadSession.
type webSession struct {
	User    *store.User
	Session *store.Session
	secret  string // the cookie's value; keys the CSRF token
}

func webSessionOf(c echo.Context) *webSession {
	ws, _ := c.Get("web").(*webSession)
	return ws
}

// secureCookies is true when the workspace is served over https.
func (s *Server) secureCookies() bool { return strings.HasPrefix(s.baseURL, "https://") }

func (s *Server) setCookie(c echo.Context, name, value string, expires time.Time) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secureCookies()}
	if value == "" {
		ck.MaxAge = -1
	} else if !expires.IsZero() {
		ck.Expires = expires
	}
	c.SetCookie(ck)
}

// startSession signs u in on this browser: a new session row and its
// cookie, which lasts until the session's absolute end.
func (s *Server) startSession(c echo.Context, u *store.User) error {
	return s.startSessionWith(c, u, nil)
}

// startSessionWith is startSession after first, the rest of the change
// that signs u in (a code used, a password changed): both, and the
// request's audit row, commit in one transaction, so a failure of the
// session leaves no code used or password changed without its row. The
// cookie is set only once it committed.
func (s *Server) startSessionWith(c echo.Context, u *store.User, first func(ctx context.Context) error) error {
	now := s.now()
	// From here the request acts as u: the audit row of the sign-in (or
	// of the password set from a link) names the user.
	ctx := store.WithActor(c.Request().Context(), store.Actor{Source: "web", UserID: u.ID,
		IP: c.RealIP(), UserAgent: c.Request().UserAgent()})
	c.SetRequest(c.Request().WithContext(ctx))
	var secret string
	var sess *store.Session
	err := s.st.Atomic(ctx, func(ctx context.Context) error {
		if first != nil {
			if err := first(ctx); err != nil {
				return err
			}
		}
		var err error
		secret, sess, err = s.st.CreateSession(ctx, store.NewSession{UserID: u.ID, IP: c.RealIP(),
			UserAgent: c.Request().UserAgent(), Now: now, ExpiresAt: now.Add(s.sessionMax)})
		return err
	})
	if err != nil {
		return err
	}
	s.setCookie(c, sessionCookie, secret, sess.ExpiresAt)
	s.setCookie(c, anonCookie, "", time.Time{})
	c.Set("web", &webSession{User: u, Session: sess, secret: secret})
	return nil
}

// loadSession reads the session cookie and, for a live session, puts
// the user on the request: once per request, for every handler. A
// session past its absolute end, idle too long, or of a user who is no
// longer active is deleted, and the request goes on signed out.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			return next(c)
		}
		ctx := c.Request().Context()
		sess, u, err := s.st.SessionBySecret(ctx, ck.Value)
		if errors.Is(err, store.ErrNotFound) {
			s.setCookie(c, sessionCookie, "", time.Time{})
			return next(c)
		}
		if err != nil {
			return err
		}
		now := s.now()
		if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= s.sessionIdle || u.Status != store.UserActive {
			if err := s.st.EndSession(ctx, u.ID, sess.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("end timed-out session", "err", err)
			}
			s.setCookie(c, sessionCookie, "", time.Time{})
			c.Set("session_expired", true)
			return next(c)
		}
		// last_seen_at moves at most once a minute, so that reading pages
		// does not turn every request into a write.
		if now.Sub(sess.LastSeenAt) >= time.Minute {
			if err := s.st.TouchSession(ctx, sess.ID, now); err != nil {
				s.log.Warn("touch session", "err", err)
			} else {
				sess.LastSeenAt = now
			}
		}
		acc, err := s.st.AccessFor(ctx, u, nil)
		if err != nil {
			return err
		}
		c.Set("web", &webSession{User: u, Session: sess, secret: ck.Value})
		c.Set("access", acc)
		by := store.Actor{Source: "web", UserID: u.ID, IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
		c.SetRequest(c.Request().WithContext(store.WithAccess(store.WithActor(ctx, by), acc)))
		return next(c)
	}
}

// signedIn sends a request without a session to the sign-in page, with
// the page it wanted as next (GET) or the overview (anything else).
func (s *Server) signedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ws := webSessionOf(c); ws != nil {
			if held, err := s.enrolGate(c, ws); held || err != nil {
				return err
			}
			return next(c)
		}
		if c.Get("session_expired") == true {
			s.flash(c, "flash.session_expired")
		}
		target := "/admin/signin"
		if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
			if n := c.Request().URL.RequestURI(); n != "/admin/" && n != "/admin" {
				target += "?" + url.Values{"next": {n}}.Encode()
			}
		}
		return redirect(c, target)
	}
}

// webRole lets through signed-in users of role or higher; others get the
// 403 page, before the handler runs, so a refused request writes nothing.
func (s *Server) webRole(role string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ws := webSessionOf(c)
			if ws == nil || roleRank[ws.User.Role] < roleRank[role] {
				return echo.NewHTTPError(http.StatusForbidden, "your role may not do that")
			}
			return next(c)
		}
	}
}

// csrfFor is the CSRF token for a session (or pre-session) secret: an
// HMAC keyed by the secret itself. Only the browser holding the cookie
// (HttpOnly) can have it, every process computes it alike without a key
// of its own, and it is kept nowhere.
func csrfFor(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("utskick csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfToken is the token for this request's forms. Before sign-in it
// makes the pre-session cookie when there is none.
func (s *Server) csrfToken(c echo.Context) string {
	if ws := webSessionOf(c); ws != nil {
		return csrfFor(ws.secret)
	}
	if ck, err := c.Cookie(anonCookie); err == nil && len(ck.Value) >= 32 {
		return csrfFor(ck.Value)
	}
	var b [32]byte
	rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	s.setCookie(c, anonCookie, v, time.Time{})
	// Later reads in this request see the new cookie.
	c.Request().AddCookie(&http.Cookie{Name: anonCookie, Value: v})
	return csrfFor(v)
}

// errCSRF is a refused state-changing request: no or a wrong token, or
// sent from another site.
var errCSRF = echo.NewHTTPError(http.StatusForbidden, "csrf")

// checkCSRF guards every state-changing request to /admin before its
// handler runs: the browser must say it comes from this site (Sec-Fetch-
// Site, Origin), and the form must carry the token of this browser's
// session. Multipart forms (uploads) carry it in the action's query
// (?csrf=…), so that the check never reads an upload into memory.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			return errCSRF
		}
		if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(c, o) {
			return errCSRF
		}
		var secret string
		if ws := webSessionOf(c); ws != nil {
			secret = ws.secret
		} else if ck, err := c.Cookie(anonCookie); err == nil {
			secret = ck.Value
		}
		if len(secret) < 32 {
			return errCSRF
		}
		var got string
		if strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
			got = c.QueryParam("csrf")
		} else {
			got = c.FormValue("csrf")
		}
		if !hmac.Equal([]byte(got), []byte(csrfFor(secret))) {
			return errCSRF
		}
		return next(c)
	}
}

// sameOrigin accepts the origin of UTSKICK_BASE_URL, or the one the
// request was addressed to (a workspace reached by another name than the
// public one, e.g. on the office network).
func (s *Server) sameOrigin(c echo.Context, origin string) bool {
	if origin == s.baseOrigin() {
		return true
	}
	scheme := "http"
	if c.IsTLS() || s.secureCookies() {
		scheme = "https"
	}
	return origin == scheme+"://"+c.Request().Host
}

func (s *Server) baseOrigin() string {
	u, err := url.Parse(s.baseURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// contentSecurityPolicy is the policy of every HTML page utskick serves
// itself: its own scripts and stylesheets only, no inline ones, no
// framing. Mail HTML (previews, the public archive) has its own,
// mailHTMLPolicy.
func (s *Server) contentSecurityPolicy() string {
	img := "'self' data:"
	if o := s.baseOrigin(); o != "" {
		img += " " + o
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src " + img +
		"; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
}

// mailHTMLPolicy is for a mail shown as a web page: mail HTML is styled
// inline by necessity (mail clients drop stylesheets), so inline styles
// are allowed, and nothing else runs.
const mailHTMLPolicy = "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// secureHeaders sets the security headers on every response; handlers
// that need another policy (mail HTML, pages with a token in the URL)
// set theirs over these.
func (s *Server) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	csp := s.contentSecurityPolicy()
	return func(c echo.Context) error {
		h := c.Response().Header()
		if !strings.HasPrefix(c.Request().URL.Path, "/api/") {
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
		}
		return next(c)
	}
}

// safeNext returns next if it is a path of the workspace, else the
// overview: a sign-in link cannot send anyone to another site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/admin") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/admin/"
	}
	clean := path.Clean(u.Path)
	if clean != "/admin" && !strings.HasPrefix(clean, "/admin/") {
		return "/admin/"
	}
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	u.Path, u.RawPath = clean, ""
	return u.RequestURI()
}
