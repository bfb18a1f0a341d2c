package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

// pending2FACookie carries, between the password and the code, that the
// password of a user was right: a signed token of the user and the time,
// good for secondFactorWait. No session exists until the code is right.
const (
	pending2FACookie = "utskick_2fa"
	secondFactorWait = 5 * time.Minute
)

type signinCodeData struct {
	webPage
	Next  string
	Error string
}

// askSecondFactor is the sign-in's second step for a user with TOTP on.
func (s *Server) askSecondFactor(c echo.Context, u *store.User, next string) error {
	store.AuditOf(c.Request().Context()).SetAction("auth.password_checked")
	tok := s.sign.Sign(links.KindSignin2FA, uint64(u.ID), uint64(s.now().Unix()))
	s.setCookie(c, pending2FACookie, tok, s.now().Add(secondFactorWait))
	p := signinCodeData{webPage: s.page(c, "perm.code_title", ""), Next: next}
	return s.renderWeb(c, http.StatusOK, "signin_code", p.Lang, p)
}

// signinCode is POST /admin/signin/code: the code (or a recovery code)
// after the password. Attempts are limited per account and IP like the
// password's, and each wrong code is an audit row.
func (s *Server) signinCode(c echo.Context) error {
	p := signinCodeData{webPage: s.page(c, "perm.code_title", ""), Next: safeNext(c.FormValue("next"))}
	ck, err := c.Cookie(pending2FACookie)
	var vals []uint64
	if err == nil {
		vals, err = s.sign.Open(links.KindSignin2FA, ck.Value)
	}
	if err != nil || len(vals) != 2 || s.now().Sub(time.Unix(int64(vals[1]), 0)) > secondFactorWait {
		s.flash(c, "perm.code_expired")
		return redirect(c, "/admin/signin")
	}
	ctx := c.Request().Context()
	u, err := s.st.User(ctx, int64(vals[0]))
	if err != nil || u.Status != store.UserActive {
		s.flash(c, "perm.code_expired")
		return redirect(c, "/admin/signin")
	}
	if wait, ok := s.allowAttempt(c, "signin", u.Email); !ok {
		p.Error = s.t(c, "signin.throttled", "minutes", strconv.Itoa(minutes(wait)))
		return s.renderWeb(c, http.StatusTooManyRequests, "signin_code", p.Lang, p)
	}
	by := store.Actor{Source: "web", UserID: u.ID, IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
	// The sign-in is the code used and the session made: one
	// transaction with its row, which names the sign-in rather than the
	// code's route.
	err = s.startSessionWith(c, u, func(ctx context.Context) error {
		recovery, err := s.st.VerifySecondFactor(ctx, u.ID, c.FormValue("code"))
		if err != nil {
			return err
		}
		if a := store.AuditOf(ctx); a != nil {
			a.SetAction("auth.signin")
			a.SetObject("user", u.ID)
			a.Note("second_factor", map[bool]string{true: "recovery code", false: "totp"}[recovery])
		}
		return nil
	})
	if errors.Is(err, store.ErrBadCode) {
		if aerr := s.st.AppendAudit(ctx, by, "auth.code_failed", "user", strconv.FormatInt(u.ID, 10), nil); aerr != nil {
			return aerr
		}
		p.Error = s.t(c, "perm.code_bad")
		return s.renderWeb(c, http.StatusUnauthorized, "signin_code", p.Lang, p)
	}
	if err != nil {
		return err
	}
	s.setCookie(c, pending2FACookie, "", time.Time{})
	return redirect(c, p.Next)
}

// webApprove is POST /admin/campaigns/{id}/approve: the button of the
// approval partial (_approval.html), through the API's own path.
func (s *Server) webApprove(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	rev, _ := strconv.Atoi(c.FormValue("revision"))
	back := "/admin/campaigns/" + strconv.FormatInt(id, 10)
	_, err = s.approve(c, id, rev)
	if err := s.approvalAnswer(c, err, "campaign.approve_refused", "perm.approved"); err != nil {
		return err
	}
	return redirect(c, back)
}

// approvalAnswer turns the outcome of an approval or a rejection into the
// campaign page's flash. A refusal (no right, or the campaign moved on)
// is answered with a redirect, not an error status, so its audit row
// says the attempt was refused; other errors are returned.
func (s *Server) approvalAnswer(c echo.Context, err error, refused, done string) error {
	var ce *store.ConflictError
	switch {
	case errors.Is(err, store.ErrForbidden):
		store.AuditOf(c.Request().Context()).SetAction(refused)
		s.flashError(c, "perm.not_allowed")
	case errors.As(err, &ce) && ce.Field == "comment":
		// Sent back without saying why (the field is required, but a
		// comment of spaces passes the browser).
		store.AuditOf(c.Request().Context()).SetAction(refused)
		s.flashError(c, "perm.reject_comment_missing")
	case errors.Is(err, store.ErrConflict):
		store.AuditOf(c.Request().Context()).SetAction(refused)
		s.flashError(c, "perm.changed")
	case err != nil:
		return err
	default:
		s.flash(c, done)
	}
	return nil
}

// webReject is POST /admin/campaigns/{id}/reject, with the comment.
func (s *Server) webReject(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	back := "/admin/campaigns/" + strconv.FormatInt(id, 10)
	// The store trims and bounds the comment.
	_, err = s.reject(c.Request().Context(), id, c.FormValue("comment"))
	if err := s.approvalAnswer(c, err, "campaign.reject_refused", "perm.rejected_flash"); err != nil {
		return err
	}
	return redirect(c, back)
}
