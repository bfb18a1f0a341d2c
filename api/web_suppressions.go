package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type suppressionsData struct {
	webPage
	audLabels
	Email, Reason string
	Items         []store.Suppression
	Reasons       []string
	NextURL       string
	FirstURL      string
	Searched      bool
	Add           suppressionForm
}

type suppressionForm struct {
	Email  string `form:"email"`
	Reason string `form:"reason"`
	Note   string `form:"note"`
}

func (s *Server) suppressionsData(c echo.Context) (suppressionsData, int, error) {
	p := suppressionsData{webPage: s.page(c, "supp.title", "suppressions"), audLabels: s.labels(c), Email: c.QueryParam("email"),
		Reason: c.QueryParam("reason"), Reasons: staffReasons, Add: suppressionForm{Reason: store.SuppressManual}}
	ctx := c.Request().Context()
	if p.Reason != "" {
		if err := oneOf("reason", &p.Reason, "", append(staffReasons, store.SuppressErased)...); err != nil {
			p.Errors = map[string]string{"filter-reason": s.t(c, "aud.err.choose")}
			return p, http.StatusBadRequest, nil
		}
	}
	if p.Email != "" {
		// One address, looked up by its hash: erased entries are found too.
		p.Searched = true
		email := p.Email
		if err := normalizeField("email", &email); err != nil {
			p.Errors = map[string]string{"filter-email": s.t(c, "err.email")}
			return p, http.StatusBadRequest, nil
		}
		sp, err := s.st.SuppressionOf(ctx, email)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return p, 0, err
		}
		if sp != nil {
			if sp.Email == "" {
				// Erased: the entry keeps no address, but the one who
				// typed it knows it, and may lift the entry by it.
				sp.Email = email
			}
			p.Items = []store.Suppression{*sp}
		}
		return p, http.StatusOK, nil
	}
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	items, next, err := s.st.Suppressions(ctx, store.SuppressionQuery{Reason: p.Reason, After: max(after, 0), Limit: 100})
	if err != nil {
		return p, 0, err
	}
	p.Items = items
	p.Searched = p.Reason != ""
	q := url.Values{}
	if p.Reason != "" {
		q.Set("reason", p.Reason)
	}
	if after > 0 {
		p.FirstURL = withQuery("/admin/suppressions", q)
	}
	if next != 0 {
		q.Set("after", strconv.FormatInt(next, 10))
		p.NextURL = withQuery("/admin/suppressions", q)
	}
	return p, http.StatusOK, nil
}

func (s *Server) suppressionsPage(c echo.Context) error {
	p, code, err := s.suppressionsData(c)
	if err != nil {
		return err
	}
	return s.renderWeb(c, code, "suppressions", p.Lang, p)
}

// suppressionAdd is the web form of POST /api/v1/suppressions.
func (s *Server) suppressionAdd(c echo.Context) error {
	var f suppressionForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	req := suppressionRequest{Email: &f.Email, Reason: &f.Reason, Note: &f.Note}
	err := req.validate()
	added := false
	if err == nil {
		added, err = s.st.Suppress(c.Request().Context(), *req.Email, *req.Reason, *req.Note, actor(c))
	}
	if err == nil {
		if added {
			s.flash(c, "flash.aud_suppressed")
		} else {
			s.flash(c, "flash.aud_already_suppressed")
		}
		return redirect(c, "/admin/suppressions?email="+url.QueryEscape(*req.Email))
	}
	errs := s.audienceErrors(c, err)
	if errs == nil {
		return err
	}
	p, _, perr := s.suppressionsData(c)
	if perr != nil {
		return perr
	}
	p.Add, p.Errors = f, errs
	return s.renderWeb(c, http.StatusUnprocessableEntity, "suppressions", p.Lang, p)
}

// suppressionRemove is the web form of DELETE /api/v1/suppressions: by
// address only, as there.
func (s *Server) suppressionRemove(c echo.Context) error {
	email := c.FormValue("email")
	if err := normalizeField("email", &email); err != nil {
		return err
	}
	if err := s.st.Unsuppress(c.Request().Context(), email, actor(c)); err != nil {
		return err
	}
	s.flash(c, "flash.aud_unsuppressed")
	return redirect(c, "/admin/suppressions")
}
