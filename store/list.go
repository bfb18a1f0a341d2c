package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Opt-in modes of a list.
const (
	OptinSingle = "single" // subscribing confirms at once
	OptinDouble = "double" // subscribing sends a confirmation link first
)

// Visibility of a list on the public pages.
const (
	VisibilityPublic  = "public"
	VisibilityPrivate = "private"
)

// List is a newsletter a subscriber can be on, e.g. "Senaste nytt" or "BUS".
type List struct {
	ID          int64  `gorm:"primaryKey" json:"id"`
	Slug        string `gorm:"size:64;not null;uniqueIndex" json:"slug"`
	Name        string `gorm:"size:200;not null" json:"name"`
	Description string `gorm:"type:text;not null;default:''" json:"description"`
	Language    string `gorm:"size:8;not null;default:'sv'" json:"language"`
	Optin       string `gorm:"size:8;not null;default:'double'" json:"optin"`
	Visibility  string `gorm:"size:8;not null;default:'private'" json:"visibility"`
	// TemplateID is the staff template its campaigns are sent with; nil
	// is the built-in layout.
	TemplateID *int64 `gorm:"index" json:"template_id"`
	// Archive publishes the list's sent campaigns at /archive/<slug>,
	// without personal links, with an Atom feed.
	Archive bool `gorm:"not null;default:false" json:"archive"`
	// TrackOpens and TrackClicks switch tracking on for the list; off by
	// default, and even on they apply only to subscribers who agreed.
	TrackOpens  bool `gorm:"not null;default:false" json:"track_opens"`
	TrackClicks bool `gorm:"not null;default:false" json:"track_clicks"`
	// ReplyTo is the Reply-To of the list's campaigns that set none of
	// their own ("" for none: replies go to the From address).
	ReplyTo string `gorm:"size:400;not null;default:''" json:"reply_to"`
	// RequiresApproval makes every send to the list wait for a second
	// user with the publisher role (four eyes).
	RequiresApproval bool `gorm:"not null;default:false" json:"requires_approval"`
	// FromName, FromAddress, PostalAddress and Contact override the
	// instance's sender identity for the list's campaigns ("": the
	// instance's; see SenderIdentity).
	FromName      string    `gorm:"size:200;not null;default:''" json:"from_name"`
	FromAddress   string    `gorm:"size:320;not null;default:''" json:"from_address"`
	PostalAddress string    `gorm:"size:300;not null;default:''" json:"postal_address"`
	Contact       string    `gorm:"size:300;not null;default:''" json:"contact"`
	CreatedAt     time.Time `gorm:"not null" json:"created_at"`
	UpdatedAt     time.Time `gorm:"not null" json:"updated_at"`

	Counts ListCounts `gorm:"-" json:"counts"`
}

// ListCounts are the list's subscriptions by status.
type ListCounts struct {
	Confirmed    int64 `json:"confirmed"`
	Unconfirmed  int64 `json:"unconfirmed"`
	Unsubscribed int64 `json:"unsubscribed"`
}

// ListPatch holds the fields of an update; nil means unchanged.
type ListPatch struct {
	Slug        *string
	Name        *string
	Description *string
	Language    *string
	Optin       *string
	Visibility  *string
	TemplateID  **int64 // non-nil: set; pointing at nil: back to the built-in layout
	Archive     *bool
	TrackOpens  *bool
	TrackClicks *bool
	ReplyTo     *string
	// RequiresApproval changes four eyes; only an admin may.
	RequiresApproval *bool
	// The sender identity's overrides; "" goes back to the instance's.
	FromName      *string
	FromAddress   *string
	PostalAddress *string
	Contact       *string
}

// CreateList inserts l. A taken slug is ErrConflict.
func (s *Store) CreateList(ctx context.Context, l *List) error {
	if err := requireGlobal(ctx, GrantPublisher, "create lists"); err != nil {
		return err
	}
	if l.RequiresApproval && AccessFrom(ctx) != nil && !AccessFrom(ctx).Admin {
		return forbiddenf("only an admin may set requires_approval")
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := checkTemplateExists(tx, l.TemplateID); err != nil {
			return err
		}
		if err := tx.Create(l).Error; err != nil {
			if isDup(err) {
				return fieldConflictf("slug", "list slug %q is taken", l.Slug)
			}
			return fmt.Errorf("create list %q: %w", l.Slug, err)
		}
		return nil
	})
}

// List returns one list with its counts.
func (s *Store) List(ctx context.Context, id int64) (*List, error) {
	if !AccessFrom(ctx).Can(id, GrantViewer) {
		return nil, notFound("list", id)
	}
	var l List
	if err := s.reader(ctx).First(&l, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("list", id)
		}
		return nil, fmt.Errorf("list %d: %w", id, err)
	}
	if err := s.fillCounts(ctx, []*List{&l}); err != nil {
		return nil, err
	}
	return &l, nil
}

// ListsByID returns the lists of ids that exist and the actor may view,
// in id order, without counts: one read for pages that name a handful of
// lists (a confirmation, an unsubscribe), where List would count each
// list's subscribers as well.
func (s *Store) ListsByID(ctx context.Context, ids []int64) ([]List, error) {
	acc := AccessFrom(ctx)
	want := make([]int64, 0, len(ids))
	for _, id := range ids {
		if acc.Can(id, GrantViewer) {
			want = append(want, id)
		}
	}
	ls := []List{}
	if len(want) == 0 {
		return ls, nil
	}
	if err := s.reader(ctx).Where("id IN ?", want).Order("id").Find(&ls).Error; err != nil {
		return nil, fmt.Errorf("lists %v: %w", want, err)
	}
	return ls, nil
}

// ListBySlug returns the list with that slug, without counts.
func (s *Store) ListBySlug(ctx context.Context, slug string) (*List, error) {
	var l List
	if err := s.reader(ctx).Where("slug = ?", slug).First(&l).Error; err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("list %q: %w", slug, ErrNotFound)
		}
		return nil, fmt.Errorf("list %q: %w", slug, err)
	}
	return &l, nil
}

// Lists returns every list, ordered by id, with counts.
func (s *Store) Lists(ctx context.Context) ([]List, error) {
	var ls []List
	tx := s.reader(ctx).Order("id")
	if ids, all := AccessFrom(ctx).listIDs(GrantViewer); !all {
		if len(ids) == 0 {
			return []List{}, nil
		}
		tx = tx.Where("id IN ?", ids)
	}
	if err := tx.Find(&ls).Error; err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	ptrs := make([]*List, len(ls))
	for i := range ls {
		ptrs[i] = &ls[i]
	}
	if err := s.fillCounts(ctx, ptrs); err != nil {
		return nil, err
	}
	return ls, nil
}

// fillCounts sets Counts on each list from the trigger-kept counters.
func (s *Store) fillCounts(ctx context.Context, ls []*List) error {
	if len(ls) == 0 {
		return nil
	}
	ids := make([]int64, len(ls))
	byID := make(map[int64]*List, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
		byID[l.ID] = l
	}
	var rows []struct {
		ListID int64
		Status string
		N      int64
	}
	// list_counts, kept by triggers on subscriptions in the same
	// transaction, rather than a COUNT over subscriptions: that took
	// 200–700 ms for a list of a million on SQLite, on every page that
	// names a list.
	err := s.reader(ctx).Model(&ListCount{}).
		Select("list_id, status, n").
		Where("list_id IN ?", ids).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("count subscriptions: %w", err)
	}
	for _, r := range rows {
		l := byID[r.ListID]
		switch r.Status {
		case SubConfirmed:
			l.Counts.Confirmed = r.N
		case SubUnconfirmed:
			l.Counts.Unconfirmed = r.N
		case SubUnsubscribed:
			l.Counts.Unsubscribed = r.N
		}
	}
	return nil
}

// UpdateList applies p to list id and returns the result.
func (s *Store) UpdateList(ctx context.Context, id int64, p ListPatch) (*List, error) {
	if err := checkListsFor(ctx, []int64{id}, GrantPublisher); err != nil {
		return nil, err
	}
	upd := map[string]any{}
	if p.RequiresApproval != nil {
		if acc := AccessFrom(ctx); acc != nil && !acc.Admin {
			return nil, forbiddenf("only an admin may change requires_approval")
		}
		upd["requires_approval"] = *p.RequiresApproval
	}
	set := func(col string, v *string) {
		if v != nil {
			upd[col] = *v
		}
	}
	set("slug", p.Slug)
	set("name", p.Name)
	set("description", p.Description)
	set("language", p.Language)
	set("optin", p.Optin)
	set("visibility", p.Visibility)
	set("reply_to", p.ReplyTo)
	set("from_name", p.FromName)
	set("from_address", p.FromAddress)
	set("postal_address", p.PostalAddress)
	set("contact", p.Contact)
	if p.TemplateID != nil {
		upd["template_id"] = *p.TemplateID
	}
	if p.Archive != nil {
		upd["archive"] = *p.Archive

	}
	if p.TrackOpens != nil {
		upd["track_opens"] = *p.TrackOpens
	}
	if p.TrackClicks != nil {
		upd["track_clicks"] = *p.TrackClicks
	}
	if len(upd) > 0 {
		upd["updated_at"] = s.now()
		err := s.inTx(ctx, func(tx *gorm.DB) error {
			if p.TemplateID != nil {
				if err := checkTemplateExists(tx, *p.TemplateID); err != nil {
					return err
				}
			}
			var before List
			if err := tx.Take(&before, id).Error; err != nil {
				if isMissing(err) {
					return notFound("list", id)
				}
				return err
			}
			res := tx.Model(&List{}).Where("id = ?", id).Updates(upd)
			if res.Error != nil {
				if isDup(res.Error) {
					return fieldConflictf("slug", "list slug %q is taken", *p.Slug)
				}
				return fmt.Errorf("update list %d: %w", id, res.Error)
			}
			if res.RowsAffected == 0 {
				return notFound("list", id)
			}
			var after List
			if err := tx.Take(&after, id).Error; err != nil {
				return err
			}
			auditDiff(ctx, before, after)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return s.List(ctx, id)
}

// DeleteList removes a list and its subscriptions. Campaigns keep their
// deliveries; a draft simply loses the list from its targets.
func (s *Store) DeleteList(ctx context.Context, id int64) error {
	if !AccessFrom(ctx).Can(id, GrantViewer) {
		return notFound("list", id)
	}
	if err := requireGlobal(ctx, GrantPublisher, "delete lists"); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		var busy int64
		err := tx.Table("campaign_lists").
			Joins("JOIN campaigns ON campaigns.id = campaign_lists.campaign_id").
			Where("campaign_lists.list_id = ? AND campaigns.status IN ?", id,
				[]string{CampaignScheduled, CampaignSending, CampaignPaused}).
			Count(&busy).Error
		if err != nil {
			return fmt.Errorf("delete list %d: %w", id, err)
		}
		if busy > 0 {
			return conflictf("list %d is the target of a campaign that is scheduled or sending", id)
		}
		res := tx.Delete(&List{}, id)
		if res.Error != nil {
			return fmt.Errorf("delete list %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("list", id)
		}
		return nil
	})
}
