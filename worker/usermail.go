package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// userMail mails a staff user a one-time link: an invitation or a
// password reset. The link is made here, at send time, and voids the
// user's earlier unused link of the same kind, so the newest mail is the
// one that works. A retry makes a new link; its mail replaces the first.
func (h *Handlers) userMail(ctx context.Context, t *asynq.Task) error {
	var p queue.UserMailPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	switch p.Purpose {
	case store.PurposeInvite, store.PurposeReset:
	case mailtemplates.ApprovalRequested, mailtemplates.ApprovalApproved, mailtemplates.ApprovalRejected:
		return h.approvalMail(ctx, p)
	default:
		return fmt.Errorf("user mail purpose %q: %w", p.Purpose, asynq.SkipRetry)
	}
	var u *store.User
	var err error
	if p.UserID != 0 {
		u, err = h.st.User(ctx, p.UserID)
	} else {
		u, err = h.st.UserByEmail(ctx, p.Email)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil // no such account: nothing to send, and nobody told
	}
	if err != nil {
		return fmt.Errorf("user mail %d: %w", p.UserID, err)
	}
	// An invitation is for someone who has not set a password yet; a
	// deactivated user gets no link of either kind.
	if u.Status == store.UserDeactivated || (p.Purpose == store.PurposeInvite && u.Status != store.UserInvited) {
		h.log.Info("user mail not sent", "user_id", u.ID, "purpose", p.Purpose, "status", u.Status)
		return nil
	}
	var inviter string
	if p.ByUserID != 0 && p.ByUserID != u.ID {
		if by, err := h.st.User(ctx, p.ByUserID); err == nil {
			inviter = by.DisplayName()
		}
	}
	secret, expires, err := h.st.CreateUserToken(ctx, u.ID, p.Purpose)
	if err != nil {
		return fmt.Errorf("user mail %d: %w", u.ID, err)
	}
	now := h.now()
	var buf, sig bytes.Buffer
	err = h.tmpl.WriteAccountLink(&buf, mailtemplates.AccountLinkInput{
		Purpose: p.Purpose, Language: u.Lang, From: h.compose.From(), To: mail.Address{Name: u.Name, Address: u.Email},
		Org: h.compose.Org(), Inviter: inviter, URL: SetPasswordURL(h.compose.BaseURL(), secret), Expires: expires, Date: now,
		MessageID: fmt.Sprintf("%s.u%d.%d", p.Purpose, u.ID, now.UnixNano()) + h.compose.MessageIDSuffix(h.compose.From()),
	})
	if err != nil {
		return fmt.Errorf("user mail %d: %v: %w", u.ID, err, asynq.SkipRetry)
	}
	msg, err := h.signed(&sig, buf.Bytes())
	if err != nil {
		return fmt.Errorf("user mail %d: %v: %w", u.ID, err, asynq.SkipRetry)
	}
	if err := h.sendOne(ctx, h.compose.PlainReturnPath(), u.Email, msg); err != nil {
		return err
	}
	h.log.Info("user mail sent", "user_id", u.ID, "purpose", p.Purpose)
	return nil
}

// approvalMail tells a staff user about a four-eyes step of campaign
// p.CampaignID: a publisher that a send waits for them, the one who asked
// that it was approved or sent back. A user gone (or deactivated), or a
// campaign deleted, sends nothing.
func (h *Handlers) approvalMail(ctx context.Context, p queue.UserMailPayload) error {
	u, err := h.st.User(ctx, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("approval mail to %d: %w", p.UserID, err)
	}
	if u.Status != store.UserActive {
		return nil
	}
	c, err := h.st.Campaign(ctx, p.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("approval mail of campaign %d: %w", p.CampaignID, err)
	}
	var lists []string
	for _, id := range c.ListIDs {
		if l, err := h.st.List(ctx, id); err == nil {
			lists = append(lists, l.Name)
		}
	}
	var by string
	if p.ByUserID != 0 {
		if x, err := h.st.User(ctx, p.ByUserID); err == nil {
			by = x.DisplayName()
		}
	}
	in := mailtemplates.ApprovalInput{Kind: p.Purpose, Language: u.Lang, From: h.compose.From(),
		To: mail.Address{Name: u.Name, Address: u.Email}, Org: h.compose.Org(), Campaign: c.Name, Subject: c.Subject,
		Lists: lists, Actor: by, Comment: c.ReviewComment,
		URL:  fmt.Sprintf("%s/admin/campaigns/%d", h.compose.BaseURL(), c.ID),
		Date: h.now(),
	}
	if c.SendAt != nil && c.SendAt.After(h.now()) {
		in.SendAt = *c.SendAt
	}
	in.MessageID = fmt.Sprintf("%s.c%d.u%d.%d", p.Purpose, c.ID, u.ID, in.Date.UnixNano()) + h.compose.MessageIDSuffix(h.compose.From())
	var buf, sig bytes.Buffer
	if err := h.tmpl.WriteApproval(&buf, in); err != nil {
		return fmt.Errorf("approval mail %d: %v: %w", u.ID, err, asynq.SkipRetry)
	}
	msg, err := h.signed(&sig, buf.Bytes())
	if err != nil {
		return fmt.Errorf("approval mail %d: %v: %w", u.ID, err, asynq.SkipRetry)
	}
	if err := h.sendOne(ctx, h.compose.PlainReturnPath(), u.Email, msg); err != nil {
		return err
	}
	h.log.Info("approval mail sent", "user_id", u.ID, "campaign_id", c.ID, "kind", p.Purpose)
	return nil
}

// SetPasswordURL is the page a one-time link opens. The CLI, the
// first-run link and the mails all build it here.
func SetPasswordURL(baseURL, secret string) string {
	return baseURL + "/admin/password/" + secret
}
