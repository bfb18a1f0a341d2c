package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type ctxKey int

const tokenKey ctxKey = iota

// authenticate requires a valid bearer token on every /api/v1 call.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return errUnauthorized
		}
		tok, err := s.st.TokenBySecret(c.Request().Context(), strings.TrimSpace(secret))
		if errors.Is(err, store.ErrNotFound) {
			return errUnauthorized
		}
		if err != nil {
			return err
		}
		s.touch(c.Request().Context(), tok.ID)
		c.Set("token", tok)
		ctx := context.WithValue(c.Request().Context(), tokenKey, tok)
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// touch records token use at most once a minute per token, so reads do
// not become writes.
func (s *Server) touch(ctx context.Context, id int64) {
	s.touchMu.Lock()
	now := s.now()
	if now.Sub(s.touched[id]) < time.Minute {
		s.touchMu.Unlock()
		return
	}
	s.touched[id] = now
	s.touchMu.Unlock()
	if err := s.st.TouchToken(ctx, id); err != nil {
		s.log.Warn("touch token", "token_id", id, "err", err)
	}
}

// staff authenticates the bearer token and lets through role or higher.
func (s *Server) staff(role string) echo.MiddlewareFunc {
	need := s.requireRole(role)
	return func(next echo.HandlerFunc) echo.HandlerFunc { return s.authenticate(need(next)) }
}

var roleRank = map[string]int{store.RoleViewer: 1, store.RoleEditor: 2, store.RoleAdmin: 3}

// requireRole lets through tokens of role or higher.
func (s *Server) requireRole(role string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			tok := tokenOf(c)
			if tok == nil || roleRank[tok.Role] < roleRank[role] {
				return errForbidden
			}
			return next(c)
		}
	}
}

func tokenOf(c echo.Context) *store.APIToken {
	t, _ := c.Get("token").(*store.APIToken)
	return t
}

// actor describes who makes a change, for the events it appends: the
// signed-in staff user of a page, or the API token.
func actor(c echo.Context) store.Actor {
	if ws := webSessionOf(c); ws != nil {
		return store.Actor{Source: "web", UserID: ws.User.ID, IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
	}
	a := store.Actor{Source: "api"}
	if t := tokenOf(c); t != nil {
		a.TokenID = t.ID
	}
	return a
}

// bearerIs reports whether the request carries want as its bearer token,
// compared in constant time.
func bearerIs(c echo.Context, want string) bool {
	scheme, got, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	return ok && strings.EqualFold(scheme, "Bearer") &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) == 1
}
