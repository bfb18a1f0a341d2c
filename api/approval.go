package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// approvalView is what an approver looks at: the campaign at the revision
// to approve, how many people it goes to, and where to see the mail.
type approvalView struct {
	Campaign   *store.Campaign `json:"campaign"`
	Revision   int             `json:"revision"`
	Recipients int64           `json:"recipients"`
	PreviewURL string          `json:"preview_url"`
}

// campaignApproval is GET /api/v1/campaigns/{id}/approval.
func (s *Server) campaignApproval(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	v, err := s.approvalOf(c, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) approvalOf(c echo.Context, id int64) (*approvalView, error) {
	ctx := c.Request().Context()
	camp, err := s.st.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	n, err := s.st.RecipientCount(ctx, id)
	if err != nil {
		return nil, err
	}
	return &approvalView{Campaign: camp, Revision: camp.Revision, Recipients: n,
		PreviewURL: "/api/v1/campaigns/" + strconv.FormatInt(id, 10) + "/preview"}, nil
}

type approveRequest struct {
	// Revision is the revision the approver looked at; an edit since then
	// makes the approval fail with 409.
	Revision int `json:"revision"`
}

// approveCampaign is POST /api/v1/campaigns/{id}/approve.
func (s *Server) approveCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req approveRequest
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	if req.Revision < 0 {
		return fieldErr("revision", "must not be negative")
	}
	camp, err := s.approve(c, id, req.Revision)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, camp)
}

// approve approves and rings the dispatch bell, for the API and the page.
func (s *Server) approve(c echo.Context, id int64, revision int) (*store.Campaign, error) {
	ctx := c.Request().Context()
	camp, err := s.st.ApproveCampaign(ctx, id, revision)
	if err != nil {
		return nil, err
	}
	s.kick(ctx, camp)
	s.mailRequester(ctx, camp.RequestedByUser, camp, mailtemplates.ApprovalApproved)
	return camp, nil
}

// reject sends campaign id back to draft with comment and tells the one
// who asked, for the API and the page.
func (s *Server) reject(ctx context.Context, id int64, comment string) (*store.Campaign, error) {
	// The request's author is cleared by the rejection: read it first.
	var asked *int64
	if before, err := s.st.Campaign(ctx, id); err == nil {
		asked = before.RequestedByUser
	}
	camp, err := s.st.RejectCampaign(ctx, id, comment)
	if err != nil {
		return nil, err
	}
	s.mailRequester(ctx, asked, camp, mailtemplates.ApprovalRejected)
	return camp, nil
}

// mailApprovers asks the worker to mail the publishers who may approve
// camp (not the one who asked). Publishers by grant are asked; only when
// a list has none are the admins. A lost mail is logged, not an error:
// the campaign waits on its page whatever the mail does.
func (s *Server) mailApprovers(ctx context.Context, camp *store.Campaign) {
	us, err := s.st.Publishers(ctx, camp)
	if err != nil {
		s.log.Warn("approval mail: publishers", "campaign_id", camp.ID, "err", err)
		return
	}
	var byGrant []store.User
	for _, u := range us {
		if u.Role != store.RoleAdmin {
			byGrant = append(byGrant, u)
		}
	}
	if len(byGrant) > 0 {
		us = byGrant
	}
	var by int64
	if camp.RequestedByUser != nil {
		by = *camp.RequestedByUser
	}
	for _, u := range us {
		s.enqueueStaffMail(ctx, queue.UserMailPayload{UserID: u.ID, Purpose: mailtemplates.ApprovalRequested,
			CampaignID: camp.ID, Revision: camp.Revision, ByUserID: by})
	}
}

// mailRequester tells the user who asked to send (if a user did) what a
// publisher decided.
func (s *Server) mailRequester(ctx context.Context, asked *int64, camp *store.Campaign, kind string) {
	if asked == nil {
		return
	}
	s.enqueueStaffMail(ctx, queue.UserMailPayload{UserID: *asked, Purpose: kind, CampaignID: camp.ID,
		Revision: camp.Revision, ByUserID: actorOf(ctx).UserID})
}

func (s *Server) enqueueStaffMail(ctx context.Context, p queue.UserMailPayload) {
	if err := s.q.Enqueue(context.WithoutCancel(ctx), queue.NewUserMailTask(p)); err != nil {
		s.log.Warn("approval mail not queued", "user_id", p.UserID, "campaign_id", p.CampaignID, "err", err)
	}
}

func actorOf(ctx context.Context) store.Actor {
	by, _ := store.ActorFrom(ctx)
	return by
}

type rejectRequest struct {
	Comment string `json:"comment"`
}

// rejectCampaign is POST /api/v1/campaigns/{id}/reject.
func (s *Server) rejectCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req rejectRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if len(req.Comment) > 1000 {
		return fieldErr("comment", "at most 1000 characters")
	}
	camp, err := s.reject(c.Request().Context(), id, req.Comment)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, camp)
}

type grantsBody struct {
	Grants []store.ListGrant `json:"grants"`
}

// getGrants is GET /api/v1/users/{id}/grants.
func (s *Server) getGrants(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.st.User(ctx, id); err != nil {
		return err
	}
	gs, err := s.st.Grants(ctx, id)
	if err != nil {
		return err
	}
	if gs == nil {
		gs = []store.ListGrant{}
	}
	return c.JSON(http.StatusOK, grantsBody{Grants: gs})
}

type putGrantsRequest struct {
	Grants []struct {
		ListID int64  `json:"list_id"`
		Role   string `json:"role"`
	} `json:"grants"`
}

// putGrants is PUT /api/v1/users/{id}/grants: the user's grants become
// the ones given.
func (s *Server) putGrants(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req putGrantsRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if len(req.Grants) > 4000 {
		return fieldErr("grants", "at most 4000 grants")
	}
	m := map[int64][]string{}
	for i, g := range req.Grants {
		if g.ListID <= 0 {
			return fieldErr("grants["+strconv.Itoa(i)+"].list_id", "must be a positive integer")
		}
		if !store.ValidGrant(g.Role) {
			return fieldErr("grants["+strconv.Itoa(i)+"].role", "must be one of viewer, author, publisher, audience")
		}
		m[g.ListID] = append(m[g.ListID], g.Role)
	}
	gs, err := s.st.SetGrants(c.Request().Context(), id, m)
	if err != nil {
		return err
	}
	if gs == nil {
		gs = []store.ListGrant{}
	}
	return c.JSON(http.StatusOK, grantsBody{Grants: gs})
}
