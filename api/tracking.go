package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// pixel is a transparent 1×1 GIF.
var pixel = []byte{0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
	0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b}

// click follows a tracked link: it records the click (when the subscriber
// still agrees to tracking) and redirects to the link's URL as stored for
// the campaign. The target never comes from the request, so the route
// cannot be made to redirect anywhere else; an altered token is a 400.
func (s *Server) click(c echo.Context) error {
	id, link, err := s.sign.OpenClick(c.Param("token"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	noStore(c)
	if isHead(c) {
		// Scanners probe with HEAD; it is answered, never counted.
		u, err := s.deliveryLink(ctx, id, link)
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusFound, u)
	}
	res, err := s.recordHit(ctx, store.Hit{DeliveryID: id, Link: link, UserAgent: c.Request().UserAgent()})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, context.Canceled) {
			return err
		}
		// The reader must reach the link even when the click cannot be
		// written (the database is busy, or the tracking rate is spent):
		// redirect, count nothing.
		if errors.Is(err, errTrackingBusy) {
			s.hit("click", "busy")
		} else {
			s.log.Error("record click", "delivery_id", id, "link", link, "err", err)
		}
		// On a context of its own: the request's may have ended while
		// the click waited for a tracking slot, and the reader should
		// still get where they were going.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		u, lerr := s.deliveryLink(lctx, id, link)
		if lerr != nil {
			return err
		}
		return c.Redirect(http.StatusFound, u)
	}
	s.hit("click", hitClass(res))
	return c.Redirect(http.StatusFound, res.URL)
}

// deliveryLink looks up link of the campaign of delivery id without
// recording anything.
func (s *Server) deliveryLink(ctx context.Context, id int64, link int) (string, error) {
	campaignID, err := s.st.DeliveryCampaign(ctx, id)
	if err != nil {
		return "", err
	}
	return s.st.CampaignLinkURL(ctx, campaignID, link)
}

// open serves the open pixel and records the open. It answers with the
// image whatever happened to the recording, so a mail client never shows
// a broken image; only an altered token is refused.
func (s *Server) open(c echo.Context) error {
	id, err := s.sign.OpenOpen(c.Param("token"))
	if err != nil {
		return err
	}
	noStore(c)
	if !isHead(c) {
		res, err := s.recordHit(c.Request().Context(), store.Hit{DeliveryID: id, Link: -1, UserAgent: c.Request().UserAgent()})
		switch {
		case err == nil:
			s.hit("open", hitClass(res))
		case errors.Is(err, errTrackingBusy):
			s.hit("open", "busy")
		case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, context.Canceled):
			s.log.Error("record open", "delivery_id", id, "err", err)
		}
	}
	return c.Blob(http.StatusOK, "image/gif", pixel)
}

// recordHit records an open or a click at the process's tracking rate
// (Limits.TrackingRate) once one of its tracking slots is free
// (Limits.TrackingConcurrency): a burst of readers then waits its turn
// instead of taking the cores from a send in progress. Measured on SQLite
// with fifty clients clicking as fast as answered beside a 20,000-recipient
// send: with 2 slots the send kept 0.24–0.25 of its unloaded rate,
// unlimited 0.11–0.12; the slots alone could not do more, because what a
// click costs outside them (HTTP, the client's next request) grew with
// the clicks they let through.
func (s *Server) recordHit(ctx context.Context, h store.Hit) (*store.HitResult, error) {
	if err := s.trackPace.wait(ctx); err != nil {
		return nil, err
	}
	select {
	case s.trackSlots <- struct{}{}:
		defer func() { <-s.trackSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.st.RecordHit(ctx, h, s.tracking)
}

func hitClass(r *store.HitResult) string {
	switch {
	case !r.Recorded:
		return "untracked"
	case r.Machine:
		return "machine"
	}
	return "human"
}

// noStore keeps caches and referrers away from the personal token in the
// URL.
func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store, private")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex")
}
