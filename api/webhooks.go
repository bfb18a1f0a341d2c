package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/idna"

	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/store"
)

type webhookRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
}

func (r *webhookRequest) validate() error {
	if err := oneLineText("url", r.URL, true, 2000); err != nil {
		return err
	}
	u, err := url.Parse(*r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return &FieldError{Field: "url", Msg: "must be an absolute http(s) URL without credentials, at most 2000 characters", Key: "err.webhook_url"}
	}
	if _, err := idna.Lookup.ToASCII(u.Hostname()); err != nil && net.ParseIP(u.Hostname()) == nil {
		return &FieldError{Field: "url", Msg: fmt.Sprintf("the host %q is not a valid host name", u.Hostname()), Key: "err.webhook_url"}
	}
	if r.Events == nil || len(*r.Events) == 0 {
		return &FieldError{Field: "events", Msg: "name at least one event, or \"*\" for all", Key: "err.webhook_events"}
	}
	for i, e := range *r.Events {
		if e != store.HookAll && !slices.Contains(store.HookEvents, e) {
			return fieldErr(fmt.Sprintf("events[%d]", i), "unknown event %q (known: %v, or \"*\")", e, store.HookEvents)
		}
		if slices.Index(*r.Events, e) != i {
			return fieldErr(fmt.Sprintf("events[%d]", i), "%q is named twice", e)
		}
	}
	return oneLineText("description", r.Description, false, 400)
}

// createWebhook registers an endpoint. The answer holds the signing
// secret, once.
func (s *Server) createWebhook(c echo.Context) error {
	var req webhookRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	w, err := s.addWebhook(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, w)
}

// addWebhook checks req, the URL's addresses included, and registers the
// endpoint: the one path of the API and of Settings → Webhooks.
func (s *Server) addWebhook(ctx context.Context, req webhookRequest) (*store.Webhook, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	// Checked now so staff hear of it at once; the delivery checks
	// again at every request, since DNS may answer differently then. A
	// name that does not resolve yet is accepted.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var be *outbound.BlockedError
	if err := s.outbound.CheckURL(cctx, *req.URL); errors.As(err, &be) {
		return nil, &FieldError{Field: "url", Msg: be.Error(), Key: "err.webhook_blocked"}
	}
	w := &store.Webhook{URL: *req.URL, Events: *req.Events, Description: deref(req.Description)}
	if err := s.st.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return w, nil
}

func (s *Server) listWebhooks(c echo.Context) error {
	ws, err := s.st.Webhooks(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(ws, 0))
}

func (s *Server) deleteWebhook(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteWebhook(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// webhookDeliveries is a webhook's delivery log, newest first, with every
// attempt; ?before= pages.
func (s *Server) webhookDeliveries(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	before, limit, err := keyset(c, "before", 50, 500)
	if err != nil {
		return err
	}
	ds, next, err := s.st.WebhookDeliveries(c.Request().Context(), id, before, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(ds, next))
}
