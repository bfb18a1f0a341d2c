package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// headKey marks a request that came in as HEAD (headAsGet).
const headKey = "utskick.head"

// headAsGet makes every GET route answer HEAD, as HTTP asks of a GET
// resource (RFC 9110 9.3.2) and as monitors and link checkers expect: the
// request is routed as a GET and the body is dropped. Handlers that must
// tell the two apart (a HEAD on a tracked link is never counted) ask
// isHead. It runs before routing, so a HEAD on a route without GET is a
// 405 naming the methods there are.
func headAsGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method == http.MethodHead {
			c.Set(headKey, true)
			r.Method = http.MethodGet
			c.Response().Writer = bodyless{c.Response().Writer}
		}
		return next(c)
	}
}

// isHead reports whether the request came in as HEAD.
func isHead(c echo.Context) bool {
	h, _ := c.Get(headKey).(bool)
	return h
}

// bodyless drops a response's body and keeps its status and headers.
type bodyless struct{ http.ResponseWriter }

func (b bodyless) Write(p []byte) (int, error) { return len(p), nil }

// Unwrap lets http.ResponseController reach the real writer (to flush).
func (b bodyless) Unwrap() http.ResponseWriter { return b.ResponseWriter }

// nosniff keeps browsers from reading any answer (JSON, Atom, a redirect,
// an error) as another type than the one it is sent as.
func nosniff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		return next(c)
	}
}

// under applies m only to requests whose path is prefix or below it.
func under(prefix string, m echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		wrapped := m(next)
		return func(c echo.Context) error {
			if p := c.Request().URL.Path; p == prefix || strings.HasPrefix(p, prefix+"/") {
				return wrapped(c)
			}
			return next(c)
		}
	}
}
