package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"net/url"

	"github.com/pquerna/otp"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type enrolData struct {
	webPage
	Enabled bool
	// Required: the instance requires two-factor sign-in, and the user
	// reaches nothing else until it is on (enrolGate).
	Required bool
	// Secret is the new secret, carried by the form to the confirmation
	// (BeginTOTP keeps nothing); QR is its otpauth URL as a PNG data: URI
	// (the pages' img-src allows data:, so nothing leaves the host).
	Secret string
	QR     template.URL // built here from a PNG, never from input
	// Codes are the recovery codes, shown once after the confirmation.
	Codes []string
}

// twoFactorIssuer names the instance in the authenticator app.
func (s *Server) twoFactorIssuer() string {
	if s.org != "" {
		return s.org
	}
	return "utskick"
}

// enrolData starts an enrolment: a new secret and its QR code.
func (s *Server) newEnrolment(c echo.Context) (enrolData, error) {
	ws := webSessionOf(c)
	p := enrolData{webPage: s.page(c, "perm.enrol_title", "account")}
	ctx := c.Request().Context()
	on, err := s.st.TOTPEnabled(ctx, ws.User.ID)
	if err != nil {
		return p, err
	}
	p.Enabled = on
	if !on {
		if p.Required, err = s.mustEnrol(c, ws); err != nil {
			return p, err
		}
	}
	enr, err := s.st.BeginTOTP(ctx, ws.User.ID, s.twoFactorIssuer())
	if err != nil {
		return p, err
	}
	p.Secret = enr.Key.Secret()
	p.QR, err = qrPNG(enr.Key)
	return p, err
}

// qrPNG is key's QR code as a PNG data: URI.
func qrPNG(key *otp.Key) (template.URL, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// qrOf draws the QR code of secret again, when a wrong first code shows
// the form once more with the same secret.
func qrOf(issuer, account, secret string) (template.URL, error) {
	v := url.Values{"secret": {secret}, "issuer": {issuer}, "period": {"30"}, "digits": {"6"}, "algorithm": {"SHA1"}}
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	key, err := otp.NewKeyFromURL(u.String())
	if err != nil {
		return "", err
	}
	return qrPNG(key)
}

// twoFactorPage is GET /admin/account/twofactor: the QR code of a new
// secret and a field for the first code. With two-factor sign-in already
// on, confirming replaces the secret and the recovery codes.
func (s *Server) twoFactorPage(c echo.Context) error {
	p, err := s.newEnrolment(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.renderWeb(c, http.StatusOK, "twofactor", p.Lang, p)
}

// twoFactorConfirm is POST /admin/account/twofactor: the code proves the
// app holds the secret; two-factor sign-in goes on and the recovery codes
// are shown, once.
func (s *Server) twoFactorConfirm(c echo.Context) error {
	ws := webSessionOf(c)
	secret, code := c.FormValue("secret"), c.FormValue("code")
	c.Response().Header().Set("Cache-Control", "no-store")
	if len(secret) < 16 || len(secret) > 128 {
		// Not a secret of ours: start again with a new one.
		return redirect(c, "/admin/account/twofactor")
	}
	codes, err := s.st.ConfirmTOTP(c.Request().Context(), ws.User.ID, secret, code)
	if errors.Is(err, store.ErrBadCode) {
		store.AuditOf(c.Request().Context()).SetAction("account.twofactor_refused")
		p := enrolData{webPage: s.page(c, "perm.enrol_title", "account"), Secret: secret}
		p.Enabled, _ = s.st.TOTPEnabled(c.Request().Context(), ws.User.ID)
		if p.QR, err = qrOf(s.twoFactorIssuer(), ws.User.Email, secret); err != nil {
			return err
		}
		p.Errors = map[string]string{"code": s.t(c, "perm.code_bad")}
		return s.renderWeb(c, http.StatusUnprocessableEntity, "twofactor", p.Lang, p)
	}
	if err != nil {
		return err
	}
	p := enrolData{webPage: s.page(c, "perm.enrol_title", "account"), Enabled: true, Codes: codes}
	return s.renderWeb(c, http.StatusOK, "twofactor", p.Lang, p)
}
