package api

import "github.com/labstack/echo/v4"

// Echo exposes the router to the external test package, for tests that
// list routes.
func (s *Server) Echo() *echo.Echo { return s.e }

// HoldTrackingSlots takes every tracking slot, as a burst of readers
// would, until release is called.
func (s *Server) HoldTrackingSlots() (release func()) {
	n := cap(s.trackSlots)
	for range n {
		s.trackSlots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.trackSlots
		}
	}
}
