package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

type campaignRequest struct {
	Name      *string  `json:"name"`
	Subject   *string  `json:"subject"`
	From      *string  `json:"from"`
	ReplyTo   *string  `json:"reply_to"`
	Preheader *string  `json:"preheader"`
	Body      *string  `json:"body"`
	ListIDs   *[]int64 `json:"list_ids"`
	// Revision, in a PATCH, is the revision the edit was made from: the
	// edit is refused (409, field "revision") if someone saved since.
	Revision *int `json:"revision"`
}

func (r *campaignRequest) validate(create bool) error {
	if r.Revision != nil && (create || *r.Revision < 0) {
		if create {
			return fieldErr("revision", "is only for editing a draft")
		}
		return fieldErr("revision", "must be a campaign's revision (0 or more)")
	}
	if err := oneLineText("name", r.Name, create, 200); err != nil {
		return err
	}
	if err := oneLineText("subject", r.Subject, create, 400); err != nil {
		return err
	}
	if err := oneLineText("preheader", r.Preheader, false, 400); err != nil {
		return err
	}
	if err := text("body", r.Body, create, mailtemplates.MaxBodyChars); err != nil {
		return err
	}
	// "" (or no from) is the default sender; anything else must be an
	// address. A from of spaces used to be stored and then failed every
	// preview, test and lint.
	if err := address("from", r.From); err != nil {
		return err
	}
	if err := address("reply_to", r.ReplyTo); err != nil {
		return err
	}
	fields := map[string]string{}
	for field, v := range map[string]*string{"subject": r.Subject, "preheader": r.Preheader, "body": r.Body} {
		if v != nil {
			fields[field] = *v
		}
	}
	if err := validateContent(fields); err != nil {
		return err
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

// address checks and normalises a From or Reply-To: one line of text
// (the API's text rule), then an address like "Redaktionen
// <red@example.se>", or empty (the default). It is stored readable, as
// staff wrote it; the header's encoding is made when the mail is written.
func address(field string, v *string) error {
	if err := oneLineText(field, v, false, 400); err != nil {
		return err
	}
	if v == nil || *v == "" {
		return nil
	}
	a, err := mail.ParseAddress(*v)
	if err != nil {
		return fieldErr(field, "must be an address like \"Redaktionen <redaktionen@example.se>\", or empty")
	}
	norm, err := store.NormalizeEmail(a.Address)
	if err != nil {
		return fieldErr(field, "%v", err)
	}
	a.Address = norm
	*v = readableAddress(a)
	return nil
}

// readableAddress writes a as staff read it back: `Name <addr>`, the name
// quoted when it needs to be and left in UTF-8. The header's RFC 2047
// encoding is made when the mail is written.
func readableAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	if enc := a.String(); !strings.Contains(enc, "=?") {
		return enc
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a.Name) + `" <` + a.Address + ">"
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
	camp, err := s.newCampaign(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, camp)
}

// newCampaign checks and stores a new draft: the one path of the API and
// the workspace.
func (s *Server) newCampaign(ctx context.Context, req campaignRequest) (*store.Campaign, error) {
	if err := req.validate(true); err != nil {
		return nil, err
	}
	camp := &store.Campaign{Name: *req.Name, Subject: *req.Subject, FromAddr: deref(req.From), ReplyTo: deref(req.ReplyTo),
		Preheader: deref(req.Preheader), Body: *req.Body, ListIDs: deref(req.ListIDs)}
	if camp.ListIDs == nil {
		camp.ListIDs = []int64{}
	}
	if err := s.st.CreateCampaign(ctx, camp); err != nil {
		return nil, listFieldError(err, listIDRefs(req.ListIDs), "list_ids")
	}
	return camp, nil
}

func (s *Server) listCampaigns(c echo.Context) error {
	before, limit, err := keyset(c, "before", 50, 500)
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
	camp, err := s.editCampaign(c.Request().Context(), id, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, camp)
}

// editCampaign checks and saves an edit of draft id: the one path of the
// API's PATCH and the workspace's editor.
func (s *Server) editCampaign(ctx context.Context, id int64, req campaignRequest) (*store.Campaign, error) {
	if err := req.validate(false); err != nil {
		return nil, err
	}
	camp, err := s.st.UpdateCampaign(ctx, id, store.CampaignPatch{Name: req.Name, Subject: req.Subject,
		From: req.From, ReplyTo: req.ReplyTo, Preheader: req.Preheader, Body: req.Body, ListIDs: req.ListIDs, IfRevision: req.Revision})
	if err != nil {
		return nil, listFieldError(err, listIDRefs(req.ListIDs), "list_ids")
	}
	return camp, nil
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
	camp, rep, err := s.sendCampaign(c.Request().Context(), id, sendAt)
	var refused *lintBlocked
	if errors.As(err, &refused) {
		return c.JSON(http.StatusConflict, lintRefusal{
			Error:    "the campaign cannot be sent: " + refused.Findings[0].Message,
			Findings: refused.Findings, RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
		})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, scheduled{Campaign: camp, Lint: rep.Findings})
}

// lintBlocked is a send the lint refused (a missing unsubscribe link).
type lintBlocked struct{ lint.Report }

func (e *lintBlocked) Error() string { return "the campaign cannot be sent: " + e.Findings[0].Message }

// sendCampaign schedules draft id for sendAt (zero: now), the one path of
// the API and the workspace. What is checked is the mail a subscriber
// would get now: the lint is advice, except a blocking finding (a missing
// unsubscribe link), which stops the send as a *lintBlocked.
func (s *Server) sendCampaign(ctx context.Context, id int64, sendAt time.Time) (*store.Campaign, lint.Report, error) {
	draft, err := s.st.Campaign(ctx, id)
	if err != nil {
		return nil, lint.Report{}, err
	}
	rep, err := s.lintCampaign(ctx, draft, 0, false)
	if err != nil {
		return nil, rep, err
	}
	if rep.Blocking {
		return nil, rep, &lintBlocked{rep}
	}
	camp, err := s.st.ScheduleCampaign(ctx, id, sendAt)
	if err != nil {
		return nil, rep, err
	}
	if camp.Status == store.CampaignPending {
		// Four eyes: nothing is queued until another publisher approves;
		// the publishers are told by mail.
		s.mailApprovers(ctx, camp)
		return camp, rep, nil
	}
	// The row is the promise; the task is a doorbell. If this enqueue is
	// lost, reconcile rings again.
	s.kick(ctx, camp)
	return camp, rep, nil
}

// scheduled is a campaign accepted for sending, with the lint's advice.
type scheduled struct {
	*store.Campaign
	Lint []lint.Finding `json:"lint"`
}

// lintRefusal is the 409 of a send the lint blocks.
type lintRefusal struct {
	Error     string         `json:"error"`
	Findings  []lint.Finding `json:"findings"`
	RequestID string         `json:"request_id,omitempty"`
}

// noDNSEmbedded is why the lint asks no DNS in the embedded mode; pages
// show it in their own language (lintText).
const noDNSEmbedded = "mail goes to the embedded capture (UTSKICK_SMTP_URL is not set), so DNS was not asked; set it to check before the first real send"

// lintCampaign checks the message subscriber subID (0: a sample reader)
// would get. A campaign that does not compile is a 400 naming the field.
func (s *Server) lintCampaign(ctx context.Context, camp *store.Campaign, subID int64, fetchLinks bool) (lint.Report, error) {
	comp, err := s.compose.Compose(ctx, s.st, camp)
	if err != nil {
		return lint.Report{}, contentError(err)
	}
	r, err := s.previewRecipient(ctx, comp, subID)
	if err != nil {
		return lint.Report{}, err
	}
	rcpt := s.compose.StaffRecipient(camp.ID, comp.From, r, s.now())
	var buf bytes.Buffer
	comp.Compiled.WriteMessage(&buf, rcpt, mailtemplates.WriteOptions{})
	in := lint.Input{Message: buf.Bytes(), UnsubscribeURL: rcpt.UnsubscribeURL, ReturnPath: s.compose.ReturnPath(0), // only its domain matters to the lint
		PostalAddress: comp.Sender.PostalAddress}
	in.DKIM = s.dkim
	checker := &lint.Checker{Resolver: s.resolver, Timeout: s.dnsTimeout, ImageGone: s.mediaGone}
	if s.resolver == nil {
		// cmd/utskick sets a resolver only when mail really leaves.
		checker.NoDNSReason = noDNSEmbedded
	}
	if fetchLinks {
		checker.HTTP = s.outbound.Client()
	}
	return checker.Check(ctx, in), nil
}

// previewRecipient is subscriber subID, or a sample reader in the
// campaign's language.
func (s *Server) previewRecipient(ctx context.Context, comp *compose.Composed, subID int64) (store.Recipient, error) {
	r := store.Recipient{Email: "reader@example.org", Language: "sv"}
	if len(comp.Lists) > 0 {
		r.Language = comp.Lists[0].Language
	}
	if subID != 0 {
		sub, err := s.st.Subscriber(ctx, subID)
		if err != nil {
			return r, err
		}
		r = store.Recipient{SubscriberID: sub.ID, Email: sub.Email, Name: sub.Name, Language: sub.Language, Attributes: sub.Attributes}
	}
	return r, nil
}

// lintCampaignHandler is POST /campaigns/:id/lint: the deliverability
// checks, as advice. ?subscriber_id= checks one subscriber's mail;
// ?check_links=true also fetches every link.
func (s *Server) lintCampaignHandler(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	subID, err := queryInt(c, "subscriber_id", 0)
	if err != nil {
		return err
	}
	fetch := false
	if v := c.QueryParam("check_links"); v != "" {
		if v != "true" && v != "false" {
			return fieldErr("check_links", "must be true or false")
		}
		fetch = v == "true"
	}
	ctx := c.Request().Context()
	camp, err := s.st.Campaign(ctx, id)
	if err != nil {
		return err
	}
	rep, err := s.lintCampaign(ctx, camp, subID, fetch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
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
	n, err := s.sendTest(c, id, req.Emails)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"queued": n})
}

// sendTest queues a test send of campaign id to emails (1 to 20), the one
// path of the API and the workspace. It normalises emails in place.
func (s *Server) sendTest(c echo.Context, id int64, emails []string) (int, error) {
	if len(emails) == 0 || len(emails) > 20 {
		return 0, &FieldError{Field: "emails", Msg: "give 1 to 20 addresses", Key: "editor.err_test_count"}
	}
	for i, e := range emails {
		norm, err := store.NormalizeEmail(e)
		if err != nil {
			return 0, &FieldError{Field: fmt.Sprintf("emails[%d]", i), Msg: err.Error(), Key: "editor.err_test_address", Args: []string{"address", e}}
		}
		emails[i] = norm
	}
	ctx := c.Request().Context()
	camp, err := s.st.CheckCampaign(ctx, id, store.GrantAuthor)
	if err != nil {
		return 0, err
	}
	for i, e := range emails {
		// Test sends skip the suppression list, but not an erasure: the
		// person asked for nothing of theirs to be used again.
		sp, err := s.st.SuppressionOf(ctx, e)
		if err == nil && sp.Reason == store.SuppressErased {
			return 0, &store.ConflictError{Field: fmt.Sprintf("emails[%d]", i),
				Msg: fmt.Sprintf("%s was erased at the person's request (GDPR); test sends cannot go to it", e)}
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
	}
	if _, err := s.compose.Compose(ctx, s.st, camp); err != nil {
		return 0, contentError(err)
	}
	if err := s.allowTestMails(c, len(emails)); err != nil {
		return 0, err
	}
	t := queue.NewTestTask(queue.TestPayload{CampaignID: id, Emails: emails,
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID)})
	if err := s.q.Enqueue(ctx, t); err != nil {
		return 0, err
	}
	return len(emails), nil
}

// previewHeader and previewDiffers say, in a preview's .eml and in every
// preview's HTTP answer, how a preview differs from the mail sent.
//
// The preview is not DKIM-signed, on purpose: a signed preview would be a
// message that verifies as the organisation's, fetched by any viewer
// token for any content an editor drafts, with no mail ever sent. DKIM
// does not bind the recipient, so it could be replayed to anyone.
// Signatures are made only for mail that leaves through SMTP.
const (
	previewHeader  = "X-Utskick-Preview"
	previewDiffers = "not the sent message: no DKIM-Signature (added when sent); unsubscribe and preference links inert; links not tracked; sample Message-ID and Date"
)

// previewCampaign renders what one subscriber (or a sample reader) would
// get, less what previewDiffers names: ?format=html|text|eml,
// ?subscriber_id=.
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
		return contentError(err)
	}
	r, err := s.previewRecipient(ctx, comp, subID)
	if err != nil {
		return err
	}
	rcpt := s.compose.StaffRecipient(camp.ID, comp.From, r, s.now())
	c.Response().Header().Set(previewHeader, previewDiffers)
	switch format {
	case "text":
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(comp.Compiled.Text(rcpt)))
	case "eml":
		// Folded at its semicolons: header lines stay under 78 characters.
		buf := bytes.NewBufferString(previewHeader + ": " + strings.ReplaceAll(previewDiffers, "; ", ";\r\n ") + "\r\n")
		comp.Compiled.WriteMessage(buf, rcpt, mailtemplates.WriteOptions{})
		return c.Blob(http.StatusOK, "message/rfc822", buf.Bytes())
	}
	c.Response().Header().Set("Content-Security-Policy", mailHTMLPolicy)
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
