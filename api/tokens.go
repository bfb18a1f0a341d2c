package api

import (
	"context"
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
	t, secret, err := s.newToken(c.Request().Context(), req, actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, tokenCreated{APIToken: t, Token: secret})
}

// newToken checks req and makes a token: the one path of the API and of
// Settings → API tokens. The secret is returned to be shown once.
func (s *Server) newToken(ctx context.Context, req tokenRequest, by store.Actor) (*store.APIToken, string, error) {
	if err := oneLineText("name", req.Name, true, 200); err != nil {
		return nil, "", err
	}
	if req.Role == nil || !store.ValidRole(*req.Role) {
		return nil, "", &FieldError{Field: "role", Msg: "is required: admin, editor or viewer", Key: "err.role"}
	}
	if req.UserID != nil {
		if *req.UserID <= 0 {
			return nil, "", fieldErr("user_id", "must be a positive integer")
		}
		if _, err := s.st.User(ctx, *req.UserID); err != nil {
			return nil, "", err
		}
	}
	secret := store.NewTokenSecret()
	t, err := s.st.CreateUserAPIToken(ctx, *req.Name, *req.Role, secret, req.UserID)
	if err != nil {
		return nil, "", err
	}
	s.log.Info("api token created", "token_id", t.ID, "role", t.Role, "by_user_id", by.UserID, "by_token_id", by.TokenID)
	return t, secret, nil
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
	if err := s.revokeToken(c.Request().Context(), id, actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// revokeToken deletes token id for by; the store keeps the last admin
// token.
func (s *Server) revokeToken(ctx context.Context, id int64, by store.Actor) error {
	if err := s.st.DeleteToken(ctx, id); err != nil {
		return err
	}
	s.log.Info("api token revoked", "token_id", id, "by_user_id", by.UserID, "by_token_id", by.TokenID)
	return nil
}
