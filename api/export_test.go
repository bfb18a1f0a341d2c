package api

import "github.com/labstack/echo/v4"

// Echo exposes the router to the external test package, for tests that
// list routes.
func (s *Server) Echo() *echo.Echo { return s.e }
