package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type tokenRequest struct {
	Name *string `json:"name"`
	Role *string `json:"role"`
	// UserID makes the token the user's: it carries at most the user's
	// rights (role can only narrow them). Without it the token is an
	// instance token, its role over every list.
	UserID *int64 `json:"user_id"`
}

// tokenCreated is the one response that shows a token's secret.
type tokenCreated struct {
	*store.APIToken
	Token string `json:"token"`
}

func (s *Server) createToken(c echo.Context) error {
	var req tokenRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := oneLineText("name", req.Name, true, 200); err != nil {
		return err
	}
	if req.Role == nil {
		return fieldErr("role", "is required (admin, editor or viewer)")
	}
	if err := oneOf("role", req.Role, "", store.RoleAdmin, store.RoleEditor, store.RoleViewer); err != nil {
		return err
	}
	if req.UserID != nil {
		if *req.UserID <= 0 {
			return fieldErr("user_id", "must be a positive integer")
		}
		if _, err := s.st.User(c.Request().Context(), *req.UserID); err != nil {
			return err
		}
	}
	secret := store.NewTokenSecret()
	t, err := s.st.CreateUserAPIToken(c.Request().Context(), *req.Name, *req.Role, secret, req.UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, tokenCreated{APIToken: t, Token: secret})
}

func (s *Server) listTokens(c echo.Context) error {
	ts, err := s.st.Tokens(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(ts, 0))
}

func (s *Server) deleteToken(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteToken(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
