package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker"
)

type campaignRequest struct {
	Name      *string  `json:"name"`
	Subject   *string  `json:"subject"`
	From      *string  `json:"from"`
	Preheader *string  `json:"preheader"`
	Body      *string  `json:"body"`
	ListIDs   *[]int64 `json:"list_ids"`
}

func (r *campaignRequest) validate(create bool) error {
	if err := oneLineText("name", r.Name, create, 200); err != nil {
		return err
	}
	if err := oneLineText("subject", r.Subject, create, 400); err != nil {
		return err
	}
	if err := oneLineText("preheader", r.Preheader, false, 400); err != nil {
		return err
	}
	if err := text("body", r.Body, create, 500_000); err != nil {
		return err
	}
	if r.From != nil && strings.TrimSpace(*r.From) != "" {
		a, err := mail.ParseAddress(*r.From)
		if err != nil {
			return fieldErr("from", "must be an address like \"Name <news@example.se>\"")
		}
		norm, err := store.NormalizeEmail(a.Address)
		if err != nil {
			return fieldErr("from", "%v", err)
		}
		a.Address = norm
		*r.From = a.String()
	}
	for field, v := range map[string]*string{"subject": r.Subject, "preheader": r.Preheader, "body": r.Body} {
		if v == nil {
			continue
		}
		if err := mailtemplates.ValidatePlaceholders(field, *v); err != nil {
			var pe *mailtemplates.PlaceholderError
			if errors.As(err, &pe) {
				return fieldErr(pe.Field, "placeholder %s: %s", pe.Placeholder, pe.Msg)
			}
			return fieldErr(field, "%v", err)
		}
	}
	if r.ListIDs != nil {
		seen := map[int64]bool{}
		for i, id := range *r.ListIDs {
			if id <= 0 {
				return fieldErr(fmt.Sprintf("list_ids[%d]", i), "must be a list id")
			}
			if seen[id] {
				return fieldErr(fmt.Sprintf("list_ids[%d]", i), "list %d is named twice", id)
			}
			seen[id] = true
		}
	}
	return nil
}

func listIDRefs(ids *[]int64) *[]listRef {
	if ids == nil {
		return nil
	}
	refs := make([]listRef, len(*ids))
	for i, id := range *ids {
		refs[i] = listRef{ID: id}
	}
	return &refs
}

func (s *Server) createCampaign(c echo.Context) error {
	var req campaignRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(true); err != nil {
		return err
	}
	camp := &store.Campaign{Name: *req.Name, Subject: *req.Subject, FromAddr: deref(req.From),
		Preheader: deref(req.Preheader), Body: *req.Body, ListIDs: deref(req.ListIDs)}
	if camp.ListIDs == nil {
		camp.ListIDs = []int64{}
	}
	if err := s.st.CreateCampaign(c.Request().Context(), camp); err != nil {
		return listFieldError(err, listIDRefs(req.ListIDs), "list_ids")
	}
	return c.JSON(http.StatusCreated, camp)
}

func (s *Server) listCampaigns(c echo.Context) error {
	before, err := queryInt(c, "before", 0)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 50, 500)
	if err != nil {
		return err
	}
	status := c.QueryParam("status")
	if status != "" {
		if err := oneOf("status", &status, "", store.CampaignDraft, store.CampaignScheduled, store.CampaignSending,
			store.CampaignPaused, store.CampaignSent, store.CampaignCancelled); err != nil {
			return err
		}
	}
	cs, next, err := s.st.Campaigns(c.Request().Context(), store.CampaignQuery{Status: status, Before: before, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(cs, next))
}

func (s *Server) getCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	camp, err := s.st.Campaign(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, camp)
}

func (s *Server) updateCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req campaignRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(false); err != nil {
		return err
	}
	camp, err := s.st.UpdateCampaign(c.Request().Context(), id, store.CampaignPatch{Name: req.Name, Subject: req.Subject,
		From: req.From, Preheader: req.Preheader, Body: req.Body, ListIDs: req.ListIDs})
	if err != nil {
		return listFieldError(err, listIDRefs(req.ListIDs), "list_ids")
	}
	return c.JSON(http.StatusOK, camp)
}

func (s *Server) deleteCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteCampaign(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type scheduleRequest struct {
	SendAt *string `json:"send_at"`
}

func (r *scheduleRequest) validate(now time.Time) (time.Time, error) {
	if r.SendAt == nil || *r.SendAt == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, *r.SendAt)
	if err != nil {
		return time.Time{}, fieldErr("send_at", "must be an RFC 3339 time like 2026-12-01T08:00:00+01:00")
	}
	if !t.After(now) {
		return time.Time{}, fieldErr("send_at", "must be in the future")
	}
	return t, nil
}

// scheduleCampaign queues a draft for sending at send_at, or now.
func (s *Server) scheduleCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req scheduleRequest
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	sendAt, err := req.validate(s.now())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	camp, err := s.st.ScheduleCampaign(ctx, id, sendAt)
	if err != nil {
		return err
	}
	// The row is the promise; the task is a doorbell. If this enqueue is
	// lost, reconcile rings again.
	if err := s.q.Enqueue(ctx, worker.NewDispatchTask(s.queues, camp.ID, camp.Revision), processAt(*camp.SendAt)); err != nil {
		s.log.Warn("enqueue dispatch; reconcile will retry", "campaign_id", camp.ID, "err", err)
	}
	return c.JSON(http.StatusAccepted, camp)
}

type testRequest struct {
	Emails []string `json:"emails"`
}

func (s *Server) testCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req testRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if len(req.Emails) == 0 || len(req.Emails) > 20 {
		return fieldErr("emails", "give 1 to 20 addresses")
	}
	for i, e := range req.Emails {
		norm, err := store.NormalizeEmail(e)
		if err != nil {
			return fieldErr(fmt.Sprintf("emails[%d]", i), "%v", err)
		}
		req.Emails[i] = norm
	}
	ctx := c.Request().Context()
	camp, err := s.st.Campaign(ctx, id)
	if err != nil {
		return err
	}
	if _, err := s.compose.Compose(ctx, s.st, camp); err != nil {
		return fieldErr("body", "%v", err)
	}
	t := worker.NewTestTask(s.queues, worker.TestPayload{CampaignID: id, Emails: req.Emails,
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID)})
	if err := s.q.Enqueue(ctx, t); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"queued": len(req.Emails)})
}

// previewCampaign renders what one subscriber (or a sample reader) would
// get: ?format=html|text|eml, ?subscriber_id=.
func (s *Server) previewCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if err := oneOf("format", &format, "html", "html", "text", "eml"); err != nil {
		return err
	}
	subID, err := queryInt(c, "subscriber_id", 0)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	camp, err := s.st.Campaign(ctx, id)
	if err != nil {
		return err
	}
	comp, err := s.compose.Compose(ctx, s.st, camp)
	if err != nil {
		return fieldErr("body", "%v", err)
	}
	r := store.Recipient{Email: "reader@example.org", Language: "sv"}
	if len(comp.Lists) > 0 {
		r.Language = comp.Lists[0].Language
	}
	if subID != 0 {
		sub, err := s.st.Subscriber(ctx, subID)
		if err != nil {
			return err
		}
		r = store.Recipient{SubscriberID: sub.ID, Email: sub.Email, Name: sub.Name, Language: sub.Language, Attributes: sub.Attributes}
	}
	rcpt := s.compose.Recipient(camp.ID, comp.From, r, s.now())
	switch format {
	case "text":
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(comp.Compiled.Text(rcpt)))
	case "eml":
		var buf bytes.Buffer
		comp.Compiled.WriteMessage(&buf, rcpt, mailtemplates.WriteOptions{})
		return c.Blob(http.StatusOK, "message/rfc822", buf.Bytes())
	}
	return c.HTMLBlob(http.StatusOK, []byte(comp.Compiled.HTML(rcpt)))
}

func (s *Server) campaignStats(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	st, err := s.st.CampaignStats(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func processAt(t time.Time) asynq.Option { return asynq.ProcessAt(t) }
