package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// Campaign controls, shared by the JSON API and the workspace's campaign
// page: one function per action, so the rules and the enqueueing that
// follows are written once.
const (
	actionPause     = "pause"
	actionResume    = "resume"
	actionCancel    = "cancel"
	actionRetry     = "retry-failed"
	actionDuplicate = "duplicate"
)

// controlResult is what a campaign control did.
type controlResult struct {
	Campaign *store.Campaign
	Requeued int64 // retry-failed: deliveries given a new round
}

// controlCampaign runs action on campaign id on behalf of the request's
// actor (the session's user or the token), which the campaign's event
// records.
func (s *Server) controlCampaign(c echo.Context, action string, id int64) (controlResult, error) {
	ctx := store.WithActor(c.Request().Context(), actor(c))
	var (
		r   controlResult
		err error
	)
	switch action {
	case actionPause:
		// pause stops sending; every worker notices within a second.
		r.Campaign, err = s.st.PauseCampaign(ctx, id, "paused by staff")
	case actionResume:
		// resume continues a paused campaign and rings the workers.
		if r.Campaign, err = s.st.ResumeCampaign(ctx, id); err == nil {
			s.kick(ctx, r.Campaign)
		}
	case actionCancel:
		r.Campaign, err = s.st.CancelCampaign(ctx, id)
	case actionRetry:
		if r.Campaign, r.Requeued, err = s.st.RetryFailed(ctx, id); err == nil {
			s.kick(ctx, r.Campaign)
		}
	case actionDuplicate:
		r.Campaign, err = s.st.DuplicateCampaign(ctx, id)
	default:
		return r, echo.NewHTTPError(http.StatusNotFound, "no such action")
	}
	return r, err
}

// controlHandler is the JSON API of one campaign control.
func (s *Server) controlHandler(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		r, err := s.controlCampaign(c, action, id)
		if err != nil {
			return err
		}
		switch action {
		case actionRetry:
			return c.JSON(http.StatusOK, map[string]any{"campaign": r.Campaign, "requeued": r.Requeued})
		case actionDuplicate:
			return c.JSON(http.StatusCreated, r.Campaign)
		}
		return c.JSON(http.StatusOK, r.Campaign)
	}
}

// kick rings the worker for a campaign that is scheduled or sending
// again; the worker decides what that means (dispatch, sender slots). A
// lost ring is repaired by the workers' reconcile.
func (s *Server) kick(ctx context.Context, camp *store.Campaign) {
	at := s.now()
	switch camp.Status {
	case store.CampaignScheduled:
		at = *camp.SendAt
	case store.CampaignSending:
	default:
		return
	}
	if err := s.q.Enqueue(ctx, queue.NewWakeTask(camp.ID, camp.Revision, at)); err != nil {
		s.log.Warn("enqueue wake; reconcile will retry", "campaign_id", camp.ID, "err", err)
	}
}

func (s *Server) campaignDeliveries(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	after, limit, err := keyset(c, "after", 100, 1000)
	if err != nil {
		return err
	}
	status := c.QueryParam("status")
	if status != "" {
		if err := oneOf("status", &status, "", store.DeliveryPending, store.DeliverySending, store.DeliverySent,
			store.DeliveryFailed, store.DeliveryCancelled, store.DeliverySuppressed, store.DeliveryBounced); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	if _, err := s.st.Campaign(ctx, id); err != nil {
		return err
	}
	rows, next, err := s.st.Deliveries(ctx, store.DeliveryQuery{CampaignID: id, Status: status, After: after, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(rows, next))
}
