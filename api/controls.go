package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// pauseCampaign stops sending; every worker notices within a second.
func (s *Server) pauseCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	camp, err := s.st.PauseCampaign(c.Request().Context(), id, "paused by staff")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, camp)
}

// resumeCampaign continues a paused campaign and rings the workers.
func (s *Server) resumeCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	camp, err := s.st.ResumeCampaign(ctx, id)
	if err != nil {
		return err
	}
	s.kick(c, camp)
	return c.JSON(http.StatusOK, camp)
}

// kick rings the worker for a campaign that is scheduled or sending
// again; the worker decides what that means (dispatch, sender slots). A
// lost ring is repaired by the workers' reconcile.
func (s *Server) kick(c echo.Context, camp *store.Campaign) {
	at := s.now()
	switch camp.Status {
	case store.CampaignScheduled:
		at = *camp.SendAt
	case store.CampaignSending:
	default:
		return
	}
	if err := s.q.Enqueue(c.Request().Context(), queue.NewWakeTask(camp.ID, camp.Revision, at)); err != nil {
		s.log.Warn("enqueue wake; reconcile will retry", "campaign_id", camp.ID, "err", err)
	}
}

func (s *Server) cancelCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	camp, err := s.st.CancelCampaign(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, camp)
}

func (s *Server) retryFailed(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	camp, n, err := s.st.RetryFailed(c.Request().Context(), id)
	if err != nil {
		return err
	}
	s.kick(c, camp)
	return c.JSON(http.StatusOK, map[string]any{"campaign": camp, "requeued": n})
}

func (s *Server) duplicateCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	camp, err := s.st.DuplicateCampaign(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, camp)
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
