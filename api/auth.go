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
		ctx := c.Request().Context()
		var u *store.User
		if tok.UserID != nil {
			// A user's token works while the user may sign in.
			u, err = s.st.User(ctx, *tok.UserID)
			if errors.Is(err, store.ErrNotFound) {
				return errUnauthorized
			}
			if err != nil {
				return err
			}
			if u.Status != store.UserActive {
				return errUnauthorized
			}
		}
		acc, err := s.st.AccessFor(ctx, u, tok)
		if err != nil {
			return err
		}
		s.touch(ctx, tok.ID)
		c.Set("token", tok)
		c.Set("access", acc)
		by := store.Actor{Source: "api", TokenID: tok.ID}
		if u != nil {
			by.UserID = u.ID
		}
		ctx = context.WithValue(ctx, tokenKey, tok)
		ctx = store.WithAccess(store.WithActor(ctx, by), acc)
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

// roleRank orders the instance roles for the routes' coarse gate: a
// member (rights by list grants) passes the editor gate, and the store
// then decides per list.
var roleRank = map[string]int{store.RoleViewer: 1, store.RoleEditor: 2, store.RoleMember: 2, store.RoleAdmin: 3}

// accessRank is the rank of what acc may do: 3 an admin, 1 read only, 2
// anything else (the store checks each list).
func accessRank(acc *store.Access) int {
	switch {
	case acc == nil:
		return 0
	case acc.ReadOnly:
		return 1
	case acc.Admin:
		return 3
	case acc.Any(store.GrantAuthor), acc.Any(store.GrantAudience):
		return 2
	}
	return 1
}

// requireRole lets through tokens whose rights (the token's role, at most
// its user's) reach role.
func (s *Server) requireRole(role string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			acc, _ := c.Get("access").(*store.Access)
			if tokenOf(c) == nil || accessRank(acc) < roleRank[role] {
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
	if by, ok := store.ActorFrom(c.Request().Context()); ok {
		return by
	}
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
