package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz says the process is up; it touches nothing.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the database answers and takes writes, and whether
// Redis answers.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "redis": "ok"}
	code := http.StatusOK
	if err := s.st.Ping(ctx); err != nil {
		checks["database"], code = err.Error(), http.StatusServiceUnavailable
	} else if s.writable != nil {
		// A ping reads; a full disk or a read-only database answers it.
		if err := s.writable(); err != nil {
			checks["database"], code = err.Error(), http.StatusServiceUnavailable
		}
	}
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			checks["redis"], code = err.Error(), http.StatusServiceUnavailable
		}
	}
	status := "ok"
	if code != http.StatusOK {
		status = "unavailable"
	}
	return c.JSON(code, map[string]any{"status": status, "checks": checks})
}
