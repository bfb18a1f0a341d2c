package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// listStats reports a list's size by status and its growth per day over
// ?days= (default 30, at most 3650).
func (s *Server) listStats(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	days, err := queryInt(c, "days", 30)
	if err != nil {
		return err
	}
	if days < 1 || days > 3650 {
		return fieldErr("days", "must be between 1 and 3650")
	}
	st, err := s.st.ListStats(c.Request().Context(), id, int(days))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// metrics serves Prometheus metrics; with a metrics token set it wants
// that token as a bearer.
func (s *Server) metrics(c echo.Context) error {
	if s.met == nil {
		return echo.NewHTTPError(http.StatusNotFound, "metrics are off")
	}
	if s.metricsToken != "" && !bearerIs(c, s.metricsToken) {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="utskick metrics"`)
		return echo.NewHTTPError(http.StatusUnauthorized, "metrics need the metrics token")
	}
	s.met.Handler().ServeHTTP(c.Response(), c.Request())
	return nil
}

// hit counts a tracked open or click when metrics are on.
func (s *Server) hit(kind, class string) {
	if s.met != nil {
		s.met.Hit(kind, class)
	}
}
