package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type profileRequest struct {
	Name string `form:"name"`
	Lang string `form:"lang"`
}

func (r *profileRequest) validate() error {
	if len(r.Name) > 200 {
		return &FieldError{Field: "name", Msg: "is longer than 200 characters", Key: "err.too_long", Args: []string{"max", "200"}}
	}
	if !store.ValidUserLang(r.Lang) {
		return &FieldError{Field: "lang", Msg: "must be sv or en", Key: "err.lang"}
	}
	return nil
}

type changePasswordRequest struct {
	Current  string `form:"current"`
	Password string `form:"password"`
	Confirm  string `form:"confirm"`
}

type sessionRow struct {
	store.Session
	Device  string
	Current bool
}

type accountData struct {
	webPage
	Name, FormLang string
	Sessions       []sessionRow
	MinLength      int
	// PasswordErrors are the password form's, apart from the profile's.
	PasswordErrors map[string]string
	// TwoFactor is whether the user signs in with a second factor,
	// CodesLeft their unused recovery codes, Required the instance's rule;
	// TwoFactorErrors are the errors of the forms that turn it off or
	// make new recovery codes ("off-password", "off-code", "codes-code").
	TwoFactor       bool
	CodesLeft       int
	Required        bool
	TwoFactorErrors map[string]string
}

func (s *Server) accountData(c echo.Context) (accountData, error) {
	ws := webSessionOf(c)
	p := accountData{webPage: s.page(c, "account.title", "account"), Name: ws.User.Name, FormLang: ws.User.Lang,
		MinLength: store.PasswordMinLen}
	ctx := c.Request().Context()
	ss, err := s.st.Sessions(ctx, ws.User.ID)
	if err != nil {
		return p, err
	}
	if p.TwoFactor, err = s.st.TOTPEnabled(ctx, ws.User.ID); err != nil {
		return p, err
	}
	if p.TwoFactor {
		if p.CodesLeft, err = s.st.RecoveryCodesLeft(ctx, ws.User.ID); err != nil {
			return p, err
		}
	}
	sec, err := s.st.SecuritySettings(ctx)
	if err != nil {
		return p, err
	}
	p.Required = sec.RequireTwoFactor
	for _, x := range ss {
		p.Sessions = append(p.Sessions, sessionRow{Session: x, Device: deviceName(x.UserAgent), Current: x.ID == ws.Session.ID})
	}
	return p, nil
}

func (s *Server) accountPage(c echo.Context) error {
	p, err := s.accountData(c)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "account", p.Lang, p)
}

func (s *Server) accountSubmit(c echo.Context) error {
	var req profileRequest
	if err := bindForm(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		p, lerr := s.accountData(c)
		if lerr != nil {
			return lerr
		}
		p.Name, p.FormLang, p.Errors = req.Name, req.Lang, s.formErrors(c, err)
		return s.renderWeb(c, http.StatusUnprocessableEntity, "account", p.Lang, p)
	}
	ws := webSessionOf(c)
	if _, err := s.st.UpdateUserProfile(c.Request().Context(), ws.User.ID, req.Name, req.Lang); err != nil {
		return err
	}
	s.flash(c, "flash.profile_saved")
	return redirect(c, "/admin/account")
}

// accountPassword changes the password. Every session of the user ends,
// this one included; the person making the change gets a new one, so
// they stay signed in and whoever else had the old password is out.
func (s *Server) accountPassword(c echo.Context) error {
	var req changePasswordRequest
	if err := bindForm(c, &req); err != nil {
		return err
	}
	ws := webSessionOf(c)
	err := validateNewPassword(req.Password, req.Confirm)
	if err == nil {
		// The change ends every session of the user; this browser's new
		// one commits with it, or neither does.
		by := actor(c)
		err = s.startSessionWith(c, ws.User, func(ctx context.Context) error {
			return s.st.ChangePassword(ctx, ws.User.ID, req.Current, req.Password, by)
		})
		if errors.Is(err, store.ErrBadCredentials) {
			err = &FieldError{Field: "current", Msg: "is not the current password", Key: "err.current_password"}
		}
	}
	if err != nil {
		p, lerr := s.accountData(c)
		if lerr != nil {
			return lerr
		}
		if p.PasswordErrors = s.formErrors(c, err); p.PasswordErrors == nil {
			return err
		}
		return s.renderWeb(c, http.StatusUnprocessableEntity, "account", p.Lang, p)
	}
	s.flash(c, "flash.password_changed")
	return redirect(c, "/admin/account")
}

// accountEndSession signs out one of the user's own sessions (another
// user's is a 404, as if it did not exist).
func (s *Server) accountEndSession(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ws := webSessionOf(c)
	if err := s.st.EndSession(c.Request().Context(), ws.User.ID, id); err != nil {
		return err
	}
	if id == ws.Session.ID {
		s.setCookie(c, sessionCookie, "", time.Time{})
		s.flash(c, "flash.signed_out")
		return redirect(c, "/admin/signin")
	}
	s.flash(c, "flash.session_ended")
	return redirect(c, "/admin/account")
}

// deviceName makes a user agent readable: "Firefox on Windows".
func deviceName(ua string) string {
	browser := "?"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Windows", "Windows"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " · " + o.name
		}
	}
	return browser
}
