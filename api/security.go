package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// The instance's security policy: whether every staff user must sign in
// with a second factor. API tokens are not sign-ins: the policy does not
// touch them (an admin makes and revokes them; see docs/workspace.md).

type securityRequest struct {
	RequireTwoFactor *bool `json:"require_two_factor"`
}

// getSecurity is GET /api/v1/settings/security (admin).
func (s *Server) getSecurity(c echo.Context) error {
	v, err := s.st.SecuritySettings(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// putSecurity is PUT /api/v1/settings/security (admin).
func (s *Server) putSecurity(c echo.Context) error {
	var req securityRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.RequireTwoFactor == nil {
		return fieldErr("require_two_factor", "is required (true or false)")
	}
	v, err := s.st.SetSecuritySettings(c.Request().Context(), store.SecuritySettings{RequireTwoFactor: *req.RequireTwoFactor})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// resetTwoFactor is DELETE /api/v1/users/{id}/twofactor (admin): the
// user's second factor and recovery codes are gone; they enrol again.
func (s *Server) resetTwoFactor(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.ResetTOTP(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// enrolPaths are what a user who must enrol may still reach: the
// enrolment page itself (signing out needs no session check).
var enrolPaths = map[string]bool{"/admin/account/twofactor": true}

// mustEnrol reports whether the signed-in user of c has to turn on
// two-factor sign-in before anything else: the instance requires it and
// they have none. Read once per request, only for users without it.
func (s *Server) mustEnrol(c echo.Context, ws *webSession) (bool, error) {
	if ws.User.TOTPEnabledAt != nil {
		return false, nil
	}
	if v, ok := c.Get("must_enrol").(bool); ok {
		return v, nil
	}
	sec, err := s.st.SecuritySettings(c.Request().Context())
	if err != nil {
		return false, err
	}
	c.Set("must_enrol", sec.RequireTwoFactor)
	return sec.RequireTwoFactor, nil
}

// enrolGate holds a user who must enrol at the enrolment page: a page
// asked for is a redirect there with a message; anything else (a form,
// the JSON the pages poll) is a 403 saying why.
func (s *Server) enrolGate(c echo.Context, ws *webSession) (bool, error) {
	if enrolPaths[c.Path()] {
		return false, nil
	}
	must, err := s.mustEnrol(c, ws)
	if err != nil || !must {
		return false, err
	}
	store.AuditOf(c.Request().Context()).SetAction("auth.two_factor_required")
	if m := c.Request().Method; (m == http.MethodGet || m == http.MethodHead) &&
		!strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON) {
		return true, redirect(c, "/admin/account/twofactor")
	}
	return true, s.webMessage(c, http.StatusForbidden, "team.twofactor_required_title",
		[]string{s.t(c, "team.twofactor_required")},
		&pageLink{URL: "/admin/account/twofactor", Text: s.t(c, "team.twofactor_enrol_now")})
}

// --- Settings → Security (the settings page's form) ---------------------

// securitySubmit is POST /admin/settings/security.
func (s *Server) securitySubmit(c echo.Context) error {
	on := c.FormValue("require_two_factor") == "on"
	if _, err := s.st.SetSecuritySettings(c.Request().Context(), store.SecuritySettings{RequireTwoFactor: on}); err != nil {
		return err
	}
	s.flash(c, "team.security_saved")
	return redirect(c, "/admin/settings")
}

// --- Account: turning two-factor off, new recovery codes -----------------

// twoFactorOff is POST /admin/account/twofactor/off: the password and a
// current code (or a recovery code) turn the user's own second factor
// off, unless the instance requires it.
func (s *Server) twoFactorOff(c echo.Context) error {
	ws := webSessionOf(c)
	ctx := c.Request().Context()
	if wait, ok := s.allowAttempt(c, "signin", ws.User.Email); !ok {
		return s.accountWithErrors(c, http.StatusTooManyRequests, map[string]string{
			"off-code": s.t(c, "signin.throttled", "minutes", strconv.Itoa(minutes(wait)))})
	}
	err := s.st.TurnOffTOTP(ctx, ws.User.ID, c.FormValue("password"), c.FormValue("code"))
	switch {
	case err == nil:
		s.flash(c, "team.twofactor_off")
		return redirect(c, "/admin/account")
	case errors.Is(err, store.ErrTwoFactorRequired):
		return s.accountWithErrors(c, http.StatusForbidden, map[string]string{"off-code": s.t(c, "team.twofactor_off_required")})
	case errors.Is(err, store.ErrBadCredentials):
		return s.accountWithErrors(c, http.StatusUnprocessableEntity, map[string]string{"off-password": s.t(c, "err.current_password")})
	case errors.Is(err, store.ErrBadCode):
		return s.accountWithErrors(c, http.StatusUnprocessableEntity, map[string]string{"off-code": s.t(c, "perm.code_bad")})
	}
	return err
}

// twoFactorCodes is POST /admin/account/twofactor/codes: a current code
// of the app replaces the recovery codes with ten new ones, shown once.
func (s *Server) twoFactorCodes(c echo.Context) error {
	ws := webSessionOf(c)
	if wait, ok := s.allowAttempt(c, "signin", ws.User.Email); !ok {
		return s.accountWithErrors(c, http.StatusTooManyRequests, map[string]string{
			"codes-code": s.t(c, "signin.throttled", "minutes", strconv.Itoa(minutes(wait)))})
	}
	codes, err := s.st.NewRecoveryCodes(c.Request().Context(), ws.User.ID, c.FormValue("code"))
	if errors.Is(err, store.ErrBadCode) {
		return s.accountWithErrors(c, http.StatusUnprocessableEntity, map[string]string{"codes-code": s.t(c, "perm.code_bad")})
	}
	if err != nil {
		return err
	}
	p := enrolData{webPage: s.page(c, "perm.enrol_title", "account"), Codes: codes, Enabled: true}
	return s.renderWeb(c, http.StatusOK, "twofactor", p.Lang, p)
}

// accountWithErrors shows the account page again with errors of the
// two-factor forms. A refused form is an audit row of its own (the
// attempt), as a refused approval is.
func (s *Server) accountWithErrors(c echo.Context, code int, errs map[string]string) error {
	store.AuditOf(c.Request().Context()).SetAction("account.twofactor_refused")
	p, err := s.accountData(c)
	if err != nil {
		return err
	}
	p.TwoFactorErrors = errs
	return s.renderWeb(c, code, "account", p.Lang, p)
}

// usersResetTwoFactor is POST /admin/settings/users/{id}/twofactor/reset.
func (s *Server) usersResetTwoFactor(c echo.Context) error {
	return s.userChange(c, "team.twofactor_reset", func(ctx context.Context, id int64) error {
		return s.st.ResetTOTP(ctx, id)
	})
}
