package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// bindForm decodes a posted form into a request struct by its form tags.
func bindForm(c echo.Context, v any) error {
	if err := (&echo.DefaultBinder{}).BindBody(c, v); err != nil {
		return fieldErr("body", "is not a valid form")
	}
	return nil
}

type signinRequest struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

type signinData struct {
	webPage
	Email, Next string
	// Error is the one answer of a refused sign-in: wrong address or
	// password (never which), too many attempts, or a deactivated account.
	Error string
}

func (s *Server) signinPage(c echo.Context) error {
	if webSessionOf(c) != nil {
		return redirect(c, safeNext(c.QueryParam("next")))
	}
	p := signinData{webPage: s.page(c, "signin.title", ""), Email: c.QueryParam("email"), Next: safeNext(c.QueryParam("next"))}
	return s.renderWeb(c, http.StatusOK, "signin", p.Lang, p)
}

// signinSubmit checks the password. An unknown address and a wrong
// password get the same page, status and (through the store's dummy hash)
// about the same time; attempts are limited per account and per IP.
func (s *Server) signinSubmit(c echo.Context) error {
	var req signinRequest
	if err := bindForm(c, &req); err != nil {
		return err
	}
	p := signinData{webPage: s.page(c, "signin.title", ""), Email: req.Email, Next: safeNext(req.Next)}
	if wait, ok := s.allowAttempt(c, "signin", req.Email); !ok {
		p.Error = s.t(c, "signin.throttled", "minutes", strconv.Itoa(minutes(wait)))
		return s.renderWeb(c, http.StatusTooManyRequests, "signin", p.Lang, p)
	}
	ctx := c.Request().Context()
	u, err := s.st.Authenticate(ctx, req.Email, req.Password)
	switch {
	case errors.Is(err, store.ErrBadCredentials):
		// The address tried is kept (staff accounts are few and known);
		// the password never.
		by := store.Actor{Source: "web", IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
		if aerr := s.st.AppendAudit(ctx, by, "auth.signin_failed", "user", "", map[string]any{"email": req.Email}); aerr != nil {
			return aerr
		}
		p.Error = s.t(c, "signin.bad")
		return s.renderWeb(c, http.StatusUnauthorized, "signin", p.Lang, p)
	case errors.Is(err, store.ErrInactive):
		p.Error = s.t(c, "signin.inactive")
		return s.renderWeb(c, http.StatusForbidden, "signin", p.Lang, p)
	case err != nil:
		return err
	}
	if on, err := s.st.TOTPEnabled(ctx, u.ID); err != nil {
		return err
	} else if on {
		return s.askSecondFactor(c, u, p.Next)
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	// Sessions that timed out without a sign-out go now, so the table
	// holds about as many rows as there are people signed in.
	now := s.now()
	if _, err := s.st.DeleteStaleSessions(ctx, now, now.Add(-s.sessionIdle)); err != nil {
		s.log.Warn("delete stale sessions", "err", err)
	}
	return redirect(c, p.Next)
}

// allowAttempt counts one sign-in or reset attempt per client IP and per
// address, in the limiter the public forms use: sign-ins per account by
// RateSignin, reset mails per address by RateAddress (as the public
// forms' mails are). It returns how long to
// wait when either limit is reached. A limiter that fails lets the
// attempt through: the password check still stands.
func (s *Server) allowAttempt(c echo.Context, what, email string) (time.Duration, bool) {
	if s.limiter == nil {
		return 0, true
	}
	rate := s.rateSignin
	if what == "reset" {
		rate = s.rateAd
	}
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	for _, k := range []struct {
		key  string
		rate queue.Rate
	}{
		{"signin-ip:" + ipKey(c.RealIP()), s.rateSignIP},
		{what + "-account:" + hex.EncodeToString(sum[:12]), rate},
	} {
		if k.rate.Unlimited() {
			continue
		}
		ok, retry, err := s.limiter.Allow(c.Request().Context(), k.key, k.rate)
		if err != nil {
			s.log.Warn("rate limiter unavailable; attempt allowed", "err", err)
			return 0, true
		}
		if !ok {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(max(retry.Round(time.Second), time.Second)/time.Second)))
			return retry, false
		}
	}
	return 0, true
}

// minutes rounds a wait up to whole minutes, at least one.
func minutes(d time.Duration) int { return max(1, int((d+time.Minute-1)/time.Minute)) }

func (s *Server) signout(c echo.Context) error {
	if ws := webSessionOf(c); ws != nil {
		if err := s.st.EndSession(c.Request().Context(), ws.User.ID, ws.Session.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	s.setCookie(c, sessionCookie, "", time.Time{})
	s.flash(c, "flash.signed_out")
	return redirect(c, "/admin/signin")
}

type forgotRequest struct {
	Email string `form:"email"`
}

func (r *forgotRequest) validate() error {
	if strings.TrimSpace(r.Email) == "" {
		return &FieldError{Field: "email", Msg: "is required", Key: "err.required"}
	}
	if _, err := store.NormalizeEmail(r.Email); err != nil {
		return &FieldError{Field: "email", Msg: err.Error(), Key: "err.email"}
	}
	return nil
}

type forgotData struct {
	webPage
	Email string
}

func (s *Server) forgotPage(c echo.Context) error {
	p := forgotData{webPage: s.page(c, "forgot.title", ""), Email: c.QueryParam("email")}
	return s.renderWeb(c, http.StatusOK, "forgot", p.Lang, p)
}

// forgotSubmit asks the worker to mail a reset link to the address. The
// answer is the same whether or not the address has an account, and so
// is the work done here: the worker looks the address up.
func (s *Server) forgotSubmit(c echo.Context) error {
	var req forgotRequest
	if err := bindForm(c, &req); err != nil {
		return err
	}
	p := forgotData{webPage: s.page(c, "forgot.title", ""), Email: req.Email}
	if err := req.validate(); err != nil {
		p.Errors = s.formErrors(c, err)
		return s.renderWeb(c, http.StatusUnprocessableEntity, "forgot", p.Lang, p)
	}
	if wait, ok := s.allowAttempt(c, "reset", req.Email); !ok {
		return s.webMessage(c, http.StatusTooManyRequests, "forgot.title",
			[]string{s.t(c, "signin.throttled", "minutes", strconv.Itoa(minutes(wait)))}, nil)
	}
	email, _ := store.NormalizeEmail(req.Email)
	task := queue.NewUserMailTask(queue.UserMailPayload{Purpose: store.PurposeReset, Email: email})
	if err := s.q.Enqueue(c.Request().Context(), task); err != nil {
		return err
	}
	return s.webMessage(c, http.StatusOK, "forgot.sent_title", []string{s.t(c, "forgot.sent", "email", email)},
		&pageLink{URL: "/admin/signin?" + url.Values{"lang": {p.Lang}}.Encode(), Text: s.t(c, "forgot.back")})
}

// setPasswordRequest is the form of a one-time link. Email, Name and Lang
// are asked for by a setup link only (the first admin).
type setPasswordRequest struct {
	Password string `form:"password"`
	Confirm  string `form:"confirm"`
	Email    string `form:"email"`
	Name     string `form:"name"`
	Lang     string `form:"lang"`
}

func (r *setPasswordRequest) validate(setup bool) error {
	if setup {
		if strings.TrimSpace(r.Email) == "" {
			return &FieldError{Field: "email", Msg: "is required", Key: "err.required"}
		}
		if _, err := store.NormalizeEmail(r.Email); err != nil {
			return &FieldError{Field: "email", Msg: err.Error(), Key: "err.email"}
		}
		if len(r.Name) > 200 {
			return &FieldError{Field: "name", Msg: "is longer than 200 characters", Key: "err.too_long", Args: []string{"max", "200"}}
		}
		if r.Lang != "" && !store.ValidUserLang(r.Lang) {
			return &FieldError{Field: "lang", Msg: "must be sv or en", Key: "err.lang"}
		}
	}
	return validateNewPassword(r.Password, r.Confirm)
}

// validateNewPassword is the rule for every new password: set from a
// link or changed on the account page.
func validateNewPassword(pw, confirm string) error {
	switch {
	case len(pw) < store.PasswordMinLen:
		return &FieldError{Field: "password", Msg: "is too short", Key: "err.password_short",
			Args: []string{"min", strconv.Itoa(store.PasswordMinLen)}}
	case len(pw) > store.PasswordMaxLen:
		return &FieldError{Field: "password", Msg: "is too long", Key: "err.password_long",
			Args: []string{"max", strconv.Itoa(store.PasswordMaxLen)}}
	case pw != confirm:
		return &FieldError{Field: "confirm", Msg: "does not match the password", Key: "err.password_mismatch"}
	}
	return nil
}

type passwordData struct {
	webPage
	Purpose   string // invite, reset or setup
	Email     string // the account's, or for setup the form's
	Name      string
	FormLang  string
	Action    string
	MinLength int
}

// linkPage marks a page whose URL holds a one-time secret. The
// workspace's Referrer-Policy, same-origin, already keeps the URL from
// every other site; no-referrer would be stricter but makes browsers send
// "Origin: null" with the page's form, which checkCSRF must refuse.
func linkPage(c echo.Context) { c.Response().Header().Set("Referrer-Policy", "same-origin") }

func (s *Server) passwordPage(c echo.Context) error {
	linkPage(c)
	tok, u, err := s.st.UserTokenBySecret(c.Request().Context(), c.Param("token"))
	if store.IsLinkInvalid(err) {
		return s.linkInvalid(c)
	}
	if err != nil {
		return err
	}
	p := s.passwordData(c, tok, u)
	return s.renderWeb(c, http.StatusOK, "password", p.Lang, p)
}

func (s *Server) passwordData(c echo.Context, tok *store.UserToken, u *store.User) passwordData {
	p := passwordData{Purpose: tok.Purpose, Action: c.Request().URL.Path, MinLength: store.PasswordMinLen, FormLang: "sv"}
	if u != nil {
		// The page speaks the invited user's language.
		c.Request().URL.RawQuery = url.Values{"lang": {u.Lang}}.Encode()
		p.Email = u.Email
	}
	p.webPage = s.page(c, "password.title_"+tok.Purpose, "")
	if u == nil {
		p.FormLang = p.Lang
	}
	return p
}

func (s *Server) passwordSubmit(c echo.Context) error {
	linkPage(c)
	ctx := c.Request().Context()
	tok, u, err := s.st.UserTokenBySecret(ctx, c.Param("token"))
	if store.IsLinkInvalid(err) {
		return s.linkInvalid(c)
	}
	if err != nil {
		return err
	}
	var req setPasswordRequest
	if err := bindForm(c, &req); err != nil {
		return err
	}
	setup := tok.Purpose == store.PurposeSetup
	if err = req.validate(setup); err == nil {
		in := store.SetPassword{Password: req.Password}
		if setup {
			in.Email, in.Name, in.Lang = req.Email, req.Name, req.Lang
		}
		by := store.Actor{Source: "web", IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
		var done *store.User
		done, err = s.st.UseUserToken(ctx, c.Param("token"), in, by)
		if store.IsLinkInvalid(err) {
			return s.linkInvalid(c)
		}
		if err == nil {
			s.flash(c, "flash.password_set")
			return redirect(c, "/admin/signin?"+url.Values{"email": {done.Email}, "lang": {done.Lang}}.Encode())
		}
		if errors.Is(err, store.ErrInvalidAddress) {
			err = &FieldError{Field: "email", Msg: err.Error(), Key: "err.email"}
		}
	}
	p := s.passwordData(c, tok, u)
	if setup {
		p.Email, p.Name, p.FormLang = req.Email, req.Name, mailtemplates.NormalizeLanguage(req.Lang)
	}
	p.Errors = s.formErrors(c, err)
	if p.Errors == nil {
		return err
	}
	return s.renderWeb(c, http.StatusUnprocessableEntity, "password", p.Lang, p)
}

func (s *Server) linkInvalid(c echo.Context) error {
	return s.webMessage(c, http.StatusNotFound, "password.invalid_title", []string{s.t(c, "password.invalid")},
		&pageLink{URL: "/admin/forgot", Text: s.t(c, "signin.forgot")})
}

// formErrors turns a validation error into the form's errors by field,
// in the page's language; nil for any other error.
func (s *Server) formErrors(c echo.Context, err error) map[string]string {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return nil
	}
	msg := fe.Msg
	if fe.Key != "" {
		msg = s.t(c, fe.Key, fe.Args...)
	}
	return map[string]string{fe.Field: msg}
}
