package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Four-eyes approval. A send (or schedule) of a campaign goes to
// pending_approval instead of scheduled when one of its lists requires
// approval, or when the actor is an author but not a publisher of all
// its lists. Another user (or, for instance tokens, another token) with
// the publisher role on all the lists approves it at the revision they
// saw, which schedules it, or rejects it with a comment, which makes it
// a draft again. An edit after the request or the approval voids it.

// voidsApproval reports whether an edit of c voids a request or an
// approval (and so makes it a draft again).
func voidsApproval(c *Campaign) bool {
	return c.Status == CampaignPending || (c.Status == CampaignScheduled && c.ApprovedAt != nil)
}

// editable is the status an edit of c must find it in.
func editable(c *Campaign) string {
	if voidsApproval(c) {
		return c.Status
	}
	return CampaignDraft
}

// needsApproval reports whether the actor of ctx sending c must wait for
// a second publisher.
func needsApproval(ctx context.Context, tx *gorm.DB, c *Campaign) (bool, error) {
	if !AccessFrom(ctx).CanAll(c.ListIDs, GrantPublisher) {
		return true, nil
	}
	var n int64
	if err := tx.Model(&List{}).Where("id IN ? AND requires_approval = ?", c.ListIDs, true).Count(&n).Error; err != nil {
		return false, fmt.Errorf("approval rule of campaign %d: %w", c.ID, err)
	}
	return n > 0, nil
}

// actorIDs are the user and token of the actor of ctx.
func actorIDs(ctx context.Context) (user, token *int64) {
	by, _ := ActorFrom(ctx)
	if by.UserID != 0 {
		u := by.UserID
		user = &u
	}
	if by.TokenID != 0 {
		t := by.TokenID
		token = &t
	}
	return user, token
}

func (s *Store) requestApproval(ctx context.Context, tx *gorm.DB, c *Campaign, sendAt time.Time) (*Campaign, error) {
	now := s.now()
	user, token := actorIDs(ctx)
	res := tx.Model(&Campaign{}).Where("id = ? AND status = ? AND revision = ?", c.ID, CampaignDraft, c.Revision).
		Updates(map[string]any{"status": CampaignPending, "send_at": sendAt, "revision": c.Revision + 1,
			"status_reason": "", "review_comment": "", "requested_by_user": user, "requested_by_token": token,
			"approved_by_user": nil, "approved_by_token": nil, "approved_at": nil, "approved_revision": 0, "updated_at": now})
	if res.Error != nil {
		return nil, fmt.Errorf("request approval of campaign %d: %w", c.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, s.transitionError(tx, c.ID, "schedule")
	}
	if err := insertEvents(tx, []Event{campaignEvent(c.ID, CampaignPending, "", now)}); err != nil {
		return nil, err
	}
	a := AuditOf(ctx)
	a.SetAction("campaign.request_approval")
	a.Change("status", c.Status, CampaignPending)
	a.Note("send_at", sendAt)
	return s.campaign(tx, c.ID)
}

// sameActor reports whether the approver is the one who asked: the same
// user (through any token or the web), or the same instance token.
func sameActor(c *Campaign, user, token *int64) bool {
	if c.RequestedByUser != nil || user != nil {
		return c.RequestedByUser != nil && user != nil && *c.RequestedByUser == *user
	}
	return c.RequestedByToken != nil && token != nil && *c.RequestedByToken == *token
}

// ApproveCampaign approves campaign id, waiting in pending_approval at
// revision (what the approver saw; 0 takes the current one), and
// schedules it for its requested time (now if that has passed). The one
// who asked cannot approve; an approver who saw an older revision gets
// ErrConflict.
func (s *Store) ApproveCampaign(ctx context.Context, id int64, revision int) (*Campaign, error) {
	var out *Campaign
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		c, err := s.campaignFor(ctx, tx, id, GrantPublisher)
		if err != nil {
			return err
		}
		if c.Status != CampaignPending {
			return conflictf("campaign %d is %s: only a campaign waiting for approval can be approved", id, c.Status)
		}
		if revision != 0 && revision != c.Revision {
			return fieldConflictf("revision", "campaign %d changed since revision %d (now %d): look at it again", id, revision, c.Revision)
		}
		user, token := actorIDs(ctx)
		if sameActor(c, user, token) {
			return forbiddenf("a campaign must be approved by someone other than the one who asked to send it")
		}
		now := s.now()
		sendAt := now
		if c.SendAt != nil && c.SendAt.After(now) {
			sendAt = *c.SendAt
		}
		res := tx.Model(&Campaign{}).Where("id = ? AND status = ? AND revision = ?", id, CampaignPending, c.Revision).
			Updates(map[string]any{"status": CampaignScheduled, "send_at": sendAt, "revision": c.Revision + 1,
				"approved_by_user": user, "approved_by_token": token, "approved_at": now, "approved_revision": c.Revision,
				"status_reason": "", "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("approve campaign %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return s.transitionError(tx, id, "approve")
		}
		if err := insertEvents(tx, []Event{campaignEvent(id, CampaignScheduled, "approved", now)}); err != nil {
			return err
		}
		a := AuditOf(ctx)
		a.Change("status", CampaignPending, CampaignScheduled)
		a.Note("approved_revision", c.Revision)
		out, err = s.campaign(tx, id)
		return err
	})
	return out, err
}

// RejectCampaign sends campaign id, waiting for approval, back to draft
// with the reviewer's comment.
func (s *Store) RejectCampaign(ctx context.Context, id int64, comment string) (*Campaign, error) {
	comment = truncate(strings.TrimSpace(comment), 1000)
	if comment == "" {
		return nil, fieldConflictf("comment", "say what must change")
	}
	var out *Campaign
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		c, err := s.campaignFor(ctx, tx, id, GrantPublisher)
		if err != nil {
			return err
		}
		if c.Status != CampaignPending {
			return conflictf("campaign %d is %s: only a campaign waiting for approval can be rejected", id, c.Status)
		}
		now := s.now()
		res := tx.Model(&Campaign{}).Where("id = ? AND status = ? AND revision = ?", id, CampaignPending, c.Revision).
			Updates(map[string]any{"status": CampaignDraft, "revision": c.Revision + 1, "review_comment": comment,
				"status_reason": "rejected", "requested_by_user": nil, "requested_by_token": nil, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("reject campaign %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return s.transitionError(tx, id, "reject")
		}
		if err := insertEvents(tx, []Event{campaignEvent(id, CampaignDraft, "rejected", now)}); err != nil {
			return err
		}
		a := AuditOf(ctx)
		a.Change("status", CampaignPending, CampaignDraft)
		a.Note("comment", comment)
		out, err = s.campaign(tx, id)
		return err
	})
	return out, err
}

// RecipientCount is how many confirmed subscribers the campaign's lists
// have now (each person once), for the approver.
func (s *Store) RecipientCount(ctx context.Context, id int64) (int64, error) {
	c, err := s.Campaign(ctx, id)
	if err != nil {
		return 0, err
	}
	if len(c.ListIDs) == 0 {
		return 0, nil
	}
	var n int64
	err = s.reader(ctx).Model(&Subscription{}).Where("list_id IN ? AND status = ?", c.ListIDs, SubConfirmed).
		Distinct("subscriber_id").Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("recipients of campaign %d: %w", id, err)
	}
	return n, nil
}

// Publishers are the active users who may approve campaign c: publishers
// of all its lists, and admins, less the one who asked.
func (s *Store) Publishers(ctx context.Context, c *Campaign) ([]User, error) {
	var us []User
	if err := s.reader(ctx).Where("status = ?", UserActive).Order("id").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("publishers: %w", err)
	}
	out := us[:0]
	for i := range us {
		u := us[i]
		if c.RequestedByUser != nil && *c.RequestedByUser == u.ID {
			continue
		}
		acc, err := s.AccessFor(ctx, &u, nil)
		if err != nil {
			return nil, err
		}
		if len(c.ListIDs) > 0 && acc.CanAll(c.ListIDs, GrantPublisher) {
			out = append(out, u)
		}
	}
	return out, nil
}

// auditDiff records on the audit entry of ctx the fields (by their JSON
// names) that differ between before and after.
func auditDiff(ctx context.Context, before, after any) {
	a := AuditOf(ctx)
	if a == nil {
		return
	}
	var b, n map[string]any
	bj, _ := json.Marshal(before)
	nj, _ := json.Marshal(after)
	if json.Unmarshal(bj, &b) != nil || json.Unmarshal(nj, &n) != nil {
		return
	}
	for k, v := range n {
		if k == "updated_at" || k == "counts" || k == "revision" {
			continue
		}
		old, _ := json.Marshal(b[k])
		cur, _ := json.Marshal(v)
		if string(old) != string(cur) {
			a.Change(k, b[k], v)
		}
	}
}
