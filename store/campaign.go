package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Campaign states. The only ways between them are the conditional updates
// in this file, so two staff members or two worker processes cannot race a
// campaign into an impossible state.
//
//	draft → scheduled → sending → sent
//	scheduled|sending → paused → sending (resume)
//	draft|scheduled|sending|paused → cancelled
//	draft → pending_approval → scheduled (approve) | draft (reject, edit)
const (
	CampaignDraft     = "draft"
	CampaignPending   = "pending_approval"
	CampaignScheduled = "scheduled"
	CampaignSending   = "sending"
	CampaignPaused    = "paused"
	CampaignSent      = "sent"
	CampaignCancelled = "cancelled"
)

// Campaign is one issue of a newsletter, sent to one or more lists.
type Campaign struct {
	ID       int64  `gorm:"primaryKey" json:"id"`
	Name     string `gorm:"size:200;not null" json:"name"`
	Subject  string `gorm:"size:400;not null" json:"subject"`
	FromAddr string `gorm:"column:from_addr;size:400;not null;default:''" json:"from"`
	// ReplyTo is the campaign's Reply-To; "" takes its first list's.
	ReplyTo      string     `gorm:"size:400;not null;default:''" json:"reply_to"`
	Preheader    string     `gorm:"size:400;not null;default:''" json:"preheader"`
	Body         string     `gorm:"type:text;not null" json:"body"`
	Status       string     `gorm:"size:16;not null;index" json:"status"`
	StatusReason string     `gorm:"size:400;not null;default:''" json:"status_reason,omitempty"`
	Revision     int        `gorm:"not null;default:0" json:"revision"`
	SendAt       *time.Time `json:"send_at"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	CreatedAt    time.Time  `gorm:"not null" json:"created_at"`
	UpdatedAt    time.Time  `gorm:"not null" json:"updated_at"`
	// Four-eyes approval: who asked for the send of a campaign waiting in
	// pending_approval, who approved it at which revision, and the
	// comment of the last rejection.
	RequestedByUser  *int64     `json:"requested_by_user,omitempty"`
	RequestedByToken *int64     `json:"requested_by_token,omitempty"`
	ApprovedByUser   *int64     `json:"approved_by_user,omitempty"`
	ApprovedByToken  *int64     `json:"approved_by_token,omitempty"`
	ApprovedAt       *time.Time `json:"approved_at,omitempty"`
	ApprovedRevision int        `gorm:"not null;default:0" json:"approved_revision,omitempty"`
	ReviewComment    string     `gorm:"size:1000;not null;default:''" json:"review_comment,omitempty"`
	// SearchFold is what the campaign search matches: campaignFold of
	// the name and subject (migration 0019).
	SearchFold string `gorm:"type:text;not null;default:''" json:"-"`

	ListIDs []int64 `gorm:"-" json:"list_ids"`
}

// CampaignList targets a campaign at a list.
type CampaignList struct {
	CampaignID int64 `gorm:"primaryKey;autoIncrement:false"`
	ListID     int64 `gorm:"primaryKey;autoIncrement:false;index"`
}

// CreateCampaign inserts a draft campaign targeting listIDs.
func (s *Store) CreateCampaign(ctx context.Context, c *Campaign) error {
	c.Status = CampaignDraft
	if err := checkListsFor(ctx, c.ListIDs, GrantAuthor); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := checkListsExist(tx, c.ListIDs); err != nil {
			return err
		}
		if err := tx.Create(c).Error; err != nil {
			return fmt.Errorf("create campaign: %w", err)
		}
		return setCampaignLists(tx, c.ID, c.ListIDs)
	})
}

func setCampaignLists(tx *gorm.DB, id int64, listIDs []int64) error {
	if err := tx.Where("campaign_id = ?", id).Delete(&CampaignList{}).Error; err != nil {
		return fmt.Errorf("campaign %d lists: %w", id, err)
	}
	if len(listIDs) == 0 {
		return nil
	}
	rows := make([]CampaignList, len(listIDs))
	for i, l := range listIDs {
		rows[i] = CampaignList{CampaignID: id, ListID: l}
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
		return fmt.Errorf("campaign %d lists: %w", id, err)
	}
	return nil
}

// Campaign returns one campaign with its list ids.
func (s *Store) Campaign(ctx context.Context, id int64) (*Campaign, error) {
	return s.campaignFor(ctx, s.reader(ctx), id, GrantViewer)
}

func (s *Store) campaign(db *gorm.DB, id int64) (*Campaign, error) {
	var c Campaign
	if err := db.First(&c, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("campaign", id)
		}
		return nil, fmt.Errorf("campaign %d: %w", id, err)
	}
	if err := db.Model(&CampaignList{}).Where("campaign_id = ?", id).Order("list_id").
		Pluck("list_id", &c.ListIDs).Error; err != nil {
		return nil, fmt.Errorf("campaign %d lists: %w", id, err)
	}
	if c.ListIDs == nil {
		c.ListIDs = []int64{}
	}
	return &c, nil
}

// CampaignStatus returns only the status; the send path polls it to notice
// a pause or cancel quickly.
func (s *Store) CampaignStatus(ctx context.Context, id int64) (string, error) {
	var st []string
	if err := s.reader(ctx).Model(&Campaign{}).Where("id = ?", id).Limit(1).Pluck("status", &st).Error; err != nil {
		return "", fmt.Errorf("campaign %d status: %w", id, err)
	}
	if len(st) == 0 {
		return "", notFound("campaign", id)
	}
	return st[0], nil
}

// CampaignQuery filters Campaigns.
type CampaignQuery struct {
	Status string
	Search string // in the name or the subject, case-insensitive
	Before int64  // keyset: ids lower than this (newest first); 0 = from the newest
	Limit  int
}

// Campaigns returns one page of campaigns, newest first, and the cursor for
// the next page (0 at the end).
func (s *Store) Campaigns(ctx context.Context, q CampaignQuery) ([]Campaign, int64, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	db := s.reader(ctx)
	tx := db.Order("id DESC").Limit(q.Limit + 1)
	if q.Before > 0 {
		tx = tx.Where("id < ?", q.Before)
	}
	if q.Status != "" {
		tx = tx.Where("status = ?", q.Status)
	}
	if q.Search != "" {
		// search_fold is already lower case, by Unicode's rules (Fold);
		// the term is folded the same way. LIKE then compares as is:
		// the ASCII-only case folding SQLite's LIKE adds changes nothing.
		like := "%" + escapeLike(Fold(q.Search)) + "%"
		tx = tx.Where("search_fold LIKE ? ESCAPE '\\'", like)
	}
	if acc := AccessFrom(ctx); acc != nil {
		if ids, all := acc.listIDs(GrantViewer); !all {
			// Only campaigns all of whose lists the actor may see; one
			// without lists if it may write campaigns.
			notMine := "EXISTS (SELECT 1 FROM campaign_lists cl WHERE cl.campaign_id = campaigns.id)"
			if len(ids) > 0 {
				notMine = "EXISTS (SELECT 1 FROM campaign_lists cl WHERE cl.campaign_id = campaigns.id AND cl.list_id NOT IN (?))"
				tx = tx.Where("NOT "+notMine, ids)
			} else {
				tx = tx.Where("NOT " + notMine)
			}
			if !acc.Any(GrantAuthor) {
				tx = tx.Where("EXISTS (SELECT 1 FROM campaign_lists cl WHERE cl.campaign_id = campaigns.id)")
			}
		}
	}
	var cs []Campaign
	if err := tx.Find(&cs).Error; err != nil {
		return nil, 0, fmt.Errorf("campaigns: %w", err)
	}
	var next int64
	if len(cs) > q.Limit {
		cs = cs[:q.Limit]
		next = cs[len(cs)-1].ID
	}
	if len(cs) > 0 {
		ids := make([]int64, len(cs))
		idx := map[int64]int{}
		for i := range cs {
			ids[i] = cs[i].ID
			idx[cs[i].ID] = i
			cs[i].ListIDs = []int64{}
		}
		var cls []CampaignList
		if err := db.Where("campaign_id IN ?", ids).Order("campaign_id, list_id").Find(&cls).Error; err != nil {
			return nil, 0, fmt.Errorf("campaign lists: %w", err)
		}
		for _, cl := range cls {
			i := idx[cl.CampaignID]
			cs[i].ListIDs = append(cs[i].ListIDs, cl.ListID)
		}
	}
	return cs, next, nil
}

// CampaignPatch holds the fields of an update; nil means unchanged.
type CampaignPatch struct {
	Name, Subject, From, ReplyTo, Preheader, Body *string
	ListIDs                                       *[]int64
	// IfRevision, when set, makes the edit conditional: it applies only
	// if the campaign still has this revision, else it is a conflict on
	// the field "revision" (someone else saved in between). Editors send
	// the revision they loaded, so two people's edits are never silently
	// merged or overwritten.
	IfRevision *int
}

// patchText is one text column of a patch: its column, the new value
// (nil: unchanged) and the field of c it sets.
type patchText struct {
	col string
	val *string
	dst *string
}

// texts pairs the patch's texts with their columns and c's fields: the
// one mapping that an update writes and a preview applies.
func (p CampaignPatch) texts(c *Campaign) []patchText {
	return []patchText{{"name", p.Name, &c.Name}, {"subject", p.Subject, &c.Subject}, {"from_addr", p.From, &c.FromAddr},
		{"reply_to", p.ReplyTo, &c.ReplyTo}, {"preheader", p.Preheader, &c.Preheader}, {"body", p.Body, &c.Body}}
}

// PatchedDraft is draft id as UpdateCampaign would leave it after p,
// written nowhere: what the editor's live preview shows while the writer
// types. It checks what the update checks (the actor may edit the draft
// and use the lists, the lists exist, the campaign is still editable),
// except the revision: a preview of text made from an older revision is
// still the writer's text.
func (s *Store) PatchedDraft(ctx context.Context, id int64, p CampaignPatch) (*Campaign, error) {
	if p.ListIDs != nil {
		if err := checkListsFor(ctx, *p.ListIDs, GrantAuthor); err != nil {
			return nil, err
		}
	}
	db := s.reader(ctx)
	c, err := s.campaignFor(ctx, db, id, GrantAuthor)
	if err != nil {
		return nil, err
	}
	if c.Status != editable(c) {
		return nil, s.transitionError(db, id, "edit")
	}
	for _, f := range p.texts(c) {
		if f.val != nil {
			*f.dst = *f.val
		}
	}
	if p.ListIDs != nil {
		if err := checkListsExist(db, *p.ListIDs); err != nil {
			return nil, err
		}
		c.ListIDs = append([]int64{}, *p.ListIDs...)
	}
	return c, nil
}

// ErrRevision is the conflict of an edit made from an older revision.
func revisionConflict(id int64, have, want int) error {
	return fieldConflictf("revision", "campaign %d was changed by someone else (revision %d, yours %d): reload it and apply your edits again", id, have, want)
}

// UpdateCampaign edits a draft. A campaign waiting for approval, or
// approved and not yet started, may be edited too: the edit voids the
// request or the approval, and the campaign is a draft again, to be sent
// (and approved) anew. Any other status is ErrConflict.
func (s *Store) UpdateCampaign(ctx context.Context, id int64, p CampaignPatch) (*Campaign, error) {
	var out *Campaign
	if p.ListIDs != nil {
		if err := checkListsFor(ctx, *p.ListIDs, GrantAuthor); err != nil {
			return nil, err
		}
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		before, err := s.campaignFor(ctx, tx, id, GrantAuthor)
		if err != nil {
			return err
		}
		upd := map[string]any{"updated_at": s.now(), "revision": gorm.Expr("revision + 1")}
		if voidsApproval(before) {
			upd["status"], upd["status_reason"] = CampaignDraft, "edited after approval was asked for"
			upd["approved_by_user"], upd["approved_by_token"], upd["approved_at"], upd["approved_revision"] = nil, nil, nil, 0
			upd["requested_by_user"], upd["requested_by_token"] = nil, nil
			AuditOf(ctx).Note("approval_voided", true)
		}
		after := *before
		for _, f := range p.texts(&after) {
			if f.val != nil {
				upd[f.col], *f.dst = *f.val, *f.val
			}
		}
		if p.Name != nil || p.Subject != nil {
			upd["search_fold"] = campaignFold(after.Name, after.Subject)
		}
		q := tx.Model(&Campaign{}).Where("id = ? AND status = ? AND revision = ?", id, editable(before), before.Revision)
		if p.IfRevision != nil {
			q = q.Where("revision = ?", *p.IfRevision)
		}
		res := q.Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("update campaign %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			if p.IfRevision != nil {
				var c Campaign
				if err := tx.Select("id, status, revision").First(&c, id).Error; err == nil && c.Status == CampaignDraft {
					return revisionConflict(id, c.Revision, *p.IfRevision)
				}
			}
			return s.transitionError(tx, id, "edit")
		}
		if before.Status == CampaignScheduled {
			// A fan-out stopped half way by this edit left deliveries
			// for the old lists; the next send makes its own.
			if err := tx.Where("campaign_id = ? AND status = ?", id, DeliveryPending).Delete(&Delivery{}).Error; err != nil {
				return fmt.Errorf("update campaign %d: %w", id, err)
			}
		}
		if p.ListIDs != nil {
			if err := checkListsExist(tx, *p.ListIDs); err != nil {
				return err
			}
			if err := setCampaignLists(tx, id, *p.ListIDs); err != nil {
				return err
			}
		}
		c, err := s.campaign(tx, id)
		out = c
		if err == nil {
			auditDiff(ctx, before, c)
		}
		return err
	})
	return out, err
}

// DeleteCampaign removes a draft.
func (s *Store) DeleteCampaign(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if _, err := s.campaignFor(ctx, tx, id, GrantAuthor); err != nil {
			return err
		}
		res := tx.Where("id = ? AND status = ?", id, CampaignDraft).Delete(&Campaign{})
		if res.Error != nil {
			return fmt.Errorf("delete campaign %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return s.transitionError(tx, id, "delete")
		}
		return nil
	})
}

// transitionError explains why a conditional update matched no row: the
// campaign is missing (ErrNotFound) or in the wrong state (ErrConflict).
func (s *Store) transitionError(tx *gorm.DB, id int64, action string) error {
	var st []string
	if err := tx.Model(&Campaign{}).Where("id = ?", id).Pluck("status", &st).Error; err != nil {
		return fmt.Errorf("campaign %d: %w", id, err)
	}
	if len(st) == 0 {
		return notFound("campaign", id)
	}
	return conflictf("campaign %d is %s: cannot %s", id, st[0], action)
}

// ScheduleCampaign moves a draft to scheduled, to be sent at sendAt (now
// when zero), and bumps its revision so that a dispatch task queued for an
// older revision does nothing.
func (s *Store) ScheduleCampaign(ctx context.Context, id int64, sendAt time.Time) (*Campaign, error) {
	var out *Campaign
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		c, err := s.campaignFor(ctx, tx, id, GrantAuthor)
		if err != nil {
			return err
		}
		if c.Status != CampaignDraft {
			return conflictf("campaign %d is %s: cannot schedule", id, c.Status)
		}
		if len(c.ListIDs) == 0 {
			return fieldConflictf("list_ids", "campaign %d has no lists", id)
		}
		now := s.now()
		if sendAt.IsZero() || sendAt.Before(now) {
			sendAt = now
		}
		sendAt = sendAt.UTC().Truncate(time.Microsecond)
		need, err := needsApproval(ctx, tx, c)
		if err != nil {
			return err
		}
		if need {
			out, err = s.requestApproval(ctx, tx, c, sendAt)
			return err
		}
		res := tx.Model(&Campaign{}).Where("id = ? AND status = ? AND revision = ?", id, CampaignDraft, c.Revision).
			Updates(map[string]any{"status": CampaignScheduled, "send_at": sendAt, "revision": c.Revision + 1,
				"status_reason": "", "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("schedule campaign %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return s.transitionError(tx, id, "schedule")
		}
		if err := insertEvents(tx, []Event{campaignEvent(c.ID, CampaignScheduled, "", now)}); err != nil {
			return err
		}
		out, err = s.campaign(tx, id)
		return err
	})
	return out, err
}

func campaignEvent(id int64, status, reason string, at time.Time) Event {
	ev := newEvent(EventCampaign, Actor{Source: "system"}, at, nil, nil, &id)
	ev.Data = JSONMap{"status": status}
	if reason != "" {
		ev.Data["reason"] = reason
	}
	return ev
}

// ErrStale means a task carried an old revision of a campaign: the
// campaign was rescheduled or changed state since, and the task must do
// nothing.
var ErrStale = errors.New("stale campaign revision")

// fanoutChunk is how many subscriber ids one fan-out transaction covers.
// One transaction for a million deliveries raised the process's peak RSS
// by ~35 MB on SQLite (what the writer holds for an open transaction),
// which pushed a 1,000,000-recipient send over 100 MB in its first
// seconds; transactions of 50,000 ids keep that to a few MB.
const fanoutChunk = 50_000

// MaterializeDeliveries fans a scheduled campaign out into one pending
// delivery per distinct confirmed subscriber of its lists, and moves it to
// sending. The fan-out goes in transactions of fanoutChunk subscriber ids,
// each of which first locks the campaign row and checks that it is still
// scheduled at rev (so a pause, cancel or edit in between stops it with
// ErrStale and no delivery is added after); the last one adds whoever
// subscribed above the ids seen at the start, and moves the campaign to
// sending. Until then the campaign stays scheduled, so no sender starts on
// a partial fan-out and a resume runs it again. It is safe to run twice:
// deliveries are UNIQUE(campaign_id, subscriber_id) and inserted ON
// CONFLICT DO NOTHING, and a second run finds the campaign no longer
// scheduled. It returns the number of deliveries the campaign has.
func (s *Store) MaterializeDeliveries(ctx context.Context, id int64, rev int) (int64, error) {
	var lo, hi sql.NullInt64
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := holdScheduled(tx, id, rev); err != nil {
			return err
		}
		return tx.Raw(`SELECT MIN(subscriber_id), MAX(subscriber_id) FROM subscriptions
			WHERE list_id IN (SELECT list_id FROM campaign_lists WHERE campaign_id = ?) AND status = ?`,
			id, SubConfirmed).Row().Scan(&lo, &hi)
	})
	if err != nil {
		return 0, err
	}
	chunk := cmp.Or(s.fanout.chunk, fanoutChunk)
	for from := lo.Int64; lo.Valid && from <= hi.Int64; from += chunk {
		err := s.inTx(ctx, func(tx *gorm.DB) error {
			if err := holdScheduled(tx, id, rev); err != nil {
				return err
			}
			return s.fanOut(tx, id, from, min(from+chunk-1, hi.Int64))
		})
		if err != nil {
			return 0, err
		}
		if s.fanout.after != nil {
			s.fanout.after(from)
		}
	}
	var n int64
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		if err := holdScheduled(tx, id, rev); err != nil {
			return err
		}
		above := int64(0)
		if hi.Valid {
			above = hi.Int64 + 1
		}
		if err := s.fanOut(tx, id, above, math.MaxInt64); err != nil {
			return err
		}
		if err := tx.Model(&Delivery{}).Where("campaign_id = ?", id).Count(&n).Error; err != nil {
			return fmt.Errorf("count deliveries of %d: %w", id, err)
		}
		now := s.now()
		res := tx.Model(&Campaign{}).Where("id = ? AND status = ? AND revision = ?", id, CampaignScheduled, rev).
			Updates(map[string]any{"status": CampaignSending, "started_at": now, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("start campaign %d: %w", id, res.Error)
		}
		return insertEvents(tx, []Event{campaignEvent(id, CampaignSending, "", now)})
	})
	return n, err
}

// holdScheduled locks campaign id's row for the rest of tx (Postgres; on
// SQLite the transaction holds the write lock already) if it is still
// scheduled at rev, and is ErrStale (or ErrNotFound) otherwise.
func holdScheduled(tx *gorm.DB, id int64, rev int) error {
	res := tx.Exec(`UPDATE campaigns SET revision = revision WHERE id = ? AND status = ? AND revision = ?`,
		id, CampaignScheduled, rev)
	if res.Error != nil {
		return fmt.Errorf("campaign %d: %w", id, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var c Campaign
	if err := tx.Select("id, status, revision").First(&c, id).Error; err != nil {
		if isMissing(err) {
			return notFound("campaign", id)
		}
		return fmt.Errorf("campaign %d: %w", id, err)
	}
	return fmt.Errorf("campaign %d r%d is %s r%d: %w", id, rev, c.Status, c.Revision, ErrStale)
}

// fanOut adds the pending deliveries of campaign id for its confirmed,
// unsuppressed subscribers with ids in [from, to].
func (s *Store) fanOut(tx *gorm.DB, id, from, to int64) error {
	now := s.now()
	// DISTINCT so that a subscriber on two of the lists gets one
	// delivery; ORDER BY so delivery ids follow subscriber ids and the
	// send batches walk both tables in index order.
	err := tx.Exec(`INSERT INTO deliveries (campaign_id, subscriber_id, status, attempts, created_at, updated_at)
		SELECT DISTINCT CAST(? AS BIGINT), m.subscriber_id, CAST(? AS VARCHAR(16)), 0, `+s.tsParam()+`, `+s.tsParam()+`
		FROM subscriptions m JOIN subscribers s ON s.id = m.subscriber_id
		WHERE m.list_id IN (SELECT list_id FROM campaign_lists WHERE campaign_id = ?)
		  AND m.status = ? AND m.subscriber_id BETWEEN ? AND ?
		  AND NOT EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email_hash = s.email_hash)
		ORDER BY m.subscriber_id
		ON CONFLICT (campaign_id, subscriber_id) DO NOTHING`,
		id, DeliveryPending, now, now, id, SubConfirmed, from, to).Error
	if err != nil {
		return fmt.Errorf("materialize campaign %d: %w", id, err)
	}
	return nil
}

// FinishCampaign marks a sending campaign sent when none of its deliveries
// is pending or sending. It reports whether it did.
func (s *Store) FinishCampaign(ctx context.Context, id int64) (bool, error) {
	done := false
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var open int64
		if err := tx.Model(&Delivery{}).
			Where("campaign_id = ? AND status IN ?", id, []string{DeliveryPending, DeliverySending}).
			Limit(1).Count(&open).Error; err != nil {
			return fmt.Errorf("campaign %d open deliveries: %w", id, err)
		}
		if open > 0 {
			return nil
		}
		now := s.now()
		res := tx.Model(&Campaign{}).Where("id = ? AND status = ?", id, CampaignSending).
			Updates(map[string]any{"status": CampaignSent, "finished_at": now, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("finish campaign %d: %w", id, res.Error)
		}
		if res.RowsAffected == 1 {
			done = true
			return insertEvents(tx, []Event{campaignEvent(id, CampaignSent, "", now)})
		}
		return nil
	})
	return done, err
}

// DueCampaigns returns campaigns the worker should be working on at now:
// scheduled ones whose time has come (or comes within ahead), and sending
// ones. Reconcile uses it to rebuild the queue from the rows.
func (s *Store) DueCampaigns(ctx context.Context, ahead time.Duration) ([]Campaign, error) {
	var cs []Campaign
	err := s.reader(ctx).
		Where("(status = ? AND send_at <= ?) OR status = ?", CampaignScheduled, s.now().Add(ahead), CampaignSending).
		Order("id").Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("due campaigns: %w", err)
	}
	return cs, nil
}

// transition moves campaign id from one of from to to, conditionally, with
// extra column updates and an event. It returns the updated campaign.
func (s *Store) transition(ctx context.Context, id int64, from []string, to, reason, action string,
	extra map[string]any, also func(tx *gorm.DB) error) (*Campaign, error) {
	var out *Campaign
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if _, err := s.campaignFor(ctx, tx, id, GrantPublisher); err != nil {
			return err
		}
		now := s.now()
		upd := map[string]any{"status": to, "status_reason": reason, "updated_at": now}
		for k, v := range extra {
			upd[k] = v
		}
		res := tx.Model(&Campaign{}).Where("id = ? AND status IN ?", id, from).Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("%s campaign %d: %w", action, id, res.Error)
		}
		if res.RowsAffected == 0 {
			return s.transitionError(tx, id, action)
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		ev := campaignEvent(id, to, reason, now)
		if by, ok := ActorFrom(ctx); ok {
			attribute(&ev, by)
		}
		if err := insertEvents(tx, []Event{ev}); err != nil {
			return err
		}
		c, err := s.campaign(tx, id)
		out = c
		return err
	})
	return out, err
}

// PauseCampaign stops a scheduled or sending campaign. Senders notice
// within a second and hand back what they hold; nothing is lost.
func (s *Store) PauseCampaign(ctx context.Context, id int64, reason string) (*Campaign, error) {
	return s.transition(ctx, id, []string{CampaignScheduled, CampaignSending}, CampaignPaused, reason, "pause", nil, nil)
}

// ResumeCampaign continues a paused campaign: back to sending if it had
// started, else to scheduled under a new revision (its old dispatch task
// is void). The caller enqueues the slots or the dispatch.
func (s *Store) ResumeCampaign(ctx context.Context, id int64) (*Campaign, error) {
	var started bool
	err := s.reader(ctx).Model(&Campaign{}).Select("started_at IS NOT NULL").Where("id = ?", id).Row().Scan(&started)
	if err != nil && !isNoRows(err) {
		return nil, fmt.Errorf("resume campaign %d: %w", id, err)
	}
	if !started {
		return s.transition(ctx, id, []string{CampaignPaused}, CampaignScheduled, "", "resume",
			map[string]any{"revision": gorm.Expr("revision + 1"), "send_at": s.now()}, func(tx *gorm.DB) error {
				// The fan-out may have finished between the read and
				// this update; then the campaign must resume as sending.
				// Deliveries alone do not say so: a fan-out paused half
				// way leaves some, and runs again from the start.
				var started bool
				if err := tx.Model(&Campaign{}).Select("started_at IS NOT NULL").Where("id = ?", id).Row().Scan(&started); err != nil {
					return err
				}
				if started {
					return tx.Model(&Campaign{}).Where("id = ?", id).Update("status", CampaignSending).Error
				}
				return nil
			})
	}
	return s.transition(ctx, id, []string{CampaignPaused}, CampaignSending, "", "resume", nil, nil)
}

// CancelCampaign ends a campaign for good: every delivery not yet sent is
// marked cancelled. A message in the middle of its SMTP exchange still
// records its real outcome.
func (s *Store) CancelCampaign(ctx context.Context, id int64) (*Campaign, error) {
	now := s.now()
	return s.transition(ctx, id, []string{CampaignScheduled, CampaignSending, CampaignPaused}, CampaignCancelled, "", "cancel",
		map[string]any{"finished_at": now}, func(tx *gorm.DB) error {
			return tx.Model(&Delivery{}).Where("campaign_id = ? AND status IN ?", id, []string{DeliveryPending, DeliverySending}).
				Updates(map[string]any{"status": DeliveryCancelled, "claim_token": "", "claimed_until": nil,
					"next_attempt_at": nil, "updated_at": now}).Error
		})
}

// RetryFailed gives deliveries that failed for a temporary reason, or that
// the receiver refused by its policy (say, before a DMARC record was
// fixed), a new round of attempts, and reopens the campaign if it had finished. Their
// attempts start from zero and their age limit counts from now (the row's
// created_at is moved), as if they were new deliveries. It
// returns the campaign and how many deliveries it requeued.
func (s *Store) RetryFailed(ctx context.Context, id int64) (*Campaign, int64, error) {
	var n int64
	now := s.now()
	c, err := s.transition(ctx, id, []string{CampaignSent, CampaignSending, CampaignPaused}, CampaignSending, "", "retry failed deliveries of",
		map[string]any{"finished_at": nil}, func(tx *gorm.DB) error {
			res := tx.Model(&Delivery{}).
				Where("campaign_id = ? AND status = ? AND failure_class IN ?", id, DeliveryFailed, []string{FailTemporary, FailPolicy}).
				Updates(map[string]any{"status": DeliveryPending, "attempts": 0, "failure_class": "",
					"next_attempt_at": nil, "created_at": now, "updated_at": now})
			n = res.RowsAffected
			return res.Error
		})
	return c, n, err
}

// DuplicateCampaign copies a campaign into a new draft.
func (s *Store) DuplicateCampaign(ctx context.Context, id int64) (*Campaign, error) {
	src, err := s.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	name := src.Name
	if !strings.HasSuffix(name, " (copy)") {
		name = truncate(name, 193) + " (copy)"
	}
	c := &Campaign{Name: name, Subject: src.Subject, FromAddr: src.FromAddr, ReplyTo: src.ReplyTo, Preheader: src.Preheader,
		Body: src.Body, ListIDs: src.ListIDs}
	if err := s.CreateCampaign(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
