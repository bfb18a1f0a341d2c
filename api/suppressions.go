package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type suppressionRequest struct {
	Email  *string `json:"email"`
	Reason *string `json:"reason"`
	Note   *string `json:"note"`
}

// staffReasons are the reasons staff may give; erased comes only from an
// erasure, which also removes the person's data.
var staffReasons = []string{store.SuppressManual, store.SuppressHardBounce, store.SuppressComplaint, store.SuppressUnsubscribedAll}

func normalizeField(field string, v *string) error {
	if v == nil {
		return fieldErr(field, "is required")
	}
	norm, err := store.NormalizeEmail(*v)
	if err != nil {
		var ae *store.AddressError
		if errors.As(err, &ae) {
			return fieldErr(field, "%s", ae.Reason)
		}
		return fieldErr(field, "is not a valid address")
	}
	*v = norm
	return nil
}

func (r *suppressionRequest) validate() error {
	if err := normalizeField("email", r.Email); err != nil {
		return err
	}
	if r.Reason == nil {
		r.Reason = ptr(store.SuppressManual)
	}
	if err := oneOf("reason", r.Reason, store.SuppressManual, staffReasons...); err != nil {
		return err
	}
	return text("note", r.Note, false, 1000)
}

func (s *Server) listSuppressions(c echo.Context) error {
	after, limit, err := keyset(c, "after", 100, 1000)
	if err != nil {
		return err
	}
	reason := c.QueryParam("reason")
	if reason != "" {
		if err := oneOf("reason", &reason, "", append(staffReasons, store.SuppressErased)...); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	if email := c.QueryParam("email"); email != "" {
		// Look one address up: the hash finds erased entries too.
		if err := normalizeField("email", &email); err != nil {
			return err
		}
		sp, err := s.st.SuppressionOf(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return c.JSON(http.StatusOK, newPage([]store.Suppression{}, 0))
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, newPage([]store.Suppression{*sp}, 0))
	}
	items, next, err := s.st.Suppressions(ctx, store.SuppressionQuery{Reason: reason, After: after, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(items, next))
}

// createSuppression adds an address: 201 with the new entry, or 200 with
// the entry that was already there (its first reason stays).
func (s *Server) createSuppression(c echo.Context) error {
	var req suppressionRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	added, err := s.st.Suppress(ctx, *req.Email, *req.Reason, deref(req.Note), actor(c))
	if err != nil {
		return err
	}
	sp, err := s.st.SuppressionOf(ctx, *req.Email)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if added {
		code = http.StatusCreated
	}
	return c.JSON(code, sp)
}

// deleteSuppression removes the entry of ?email=. Removing an erased
// entry lets that address be imported again, so it is done by address
// only: whoever does it knows who came back.
func (s *Server) deleteSuppression(c echo.Context) error {
	email := c.QueryParam("email")
	if email == "" {
		return fieldErr("email", "is required (?email=)")
	}
	if err := normalizeField("email", &email); err != nil {
		return err
	}
	if err := s.st.Unsuppress(c.Request().Context(), email, actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
