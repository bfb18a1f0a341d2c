package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// receiveInbound takes one raw RFC 5322 message (a bounce, a complaint
// report, a mail to an unsubscribe+token@ address) from an MTA pipe or a
// mail provider's webhook. ?rcpt= may repeat the SMTP envelope recipients.
func (s *Server) receiveInbound(c echo.Context) error {
	// A bounce or complaint may suppress any address on any list: only
	// a token over every list (an admin's, an instance token) hands mail
	// over, never one limited to some lists.
	if !store.AccessFrom(c.Request().Context()).Global(store.GrantAudience) {
		return echo.NewHTTPError(http.StatusForbidden, "only a token over every list (an admin's or an instance token) may hand over inbound mail")
	}
	if s.inbound == nil {
		return echo.NewHTTPError(http.StatusNotImplemented, "inbound processing is not configured")
	}
	body := http.MaxBytesReader(c.Response(), c.Request().Body, 10<<20)
	res, err := s.inbound(c.Request().Context(), c.QueryParams()["rcpt"], body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "message larger than 10 MiB")
	case errors.Is(err, ErrNotMail), errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("body", "must be a raw RFC 5322 message")
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, res)
}
