package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Event kinds. Events are append-only: the history of consent and of what
// was sent, for proof and for stats.
const (
	EventCreated      = "subscriber.created"
	EventUpdated      = "subscriber.updated"
	EventDeleted      = "subscriber.deleted"
	EventSubscribed   = "subscribed"
	EventConfirmed    = "confirmed"
	EventUnsubscribed = "unsubscribed"
	EventCampaign     = "campaign.status"
	EventSuppressed   = "suppressed"
	EventUnsuppressed = "unsuppressed"
)

// Event is one row of the append-only history.
type Event struct {
	ID           int64     `gorm:"primaryKey" json:"id"`
	Kind         string    `gorm:"size:40;not null;index:idx_events_kind_created,priority:1;index:idx_events_delivery_kind,priority:2;index:idx_events_campaign_kind,priority:2" json:"kind"`
	SubscriberID *int64    `gorm:"index;index:idx_events_campaign_kind,priority:3" json:"subscriber_id,omitempty"`
	ListID       *int64    `gorm:"index" json:"list_id,omitempty"`
	CampaignID   *int64    `gorm:"index;index:idx_events_campaign_kind,priority:1" json:"campaign_id,omitempty"`
	DeliveryID   *int64    `gorm:"index:idx_events_delivery_kind,priority:1" json:"delivery_id,omitempty"`
	Source       string    `gorm:"size:40;not null;default:''" json:"source"`
	TokenID      *int64    `json:"token_id,omitempty"`
	UserID       *int64    `json:"user_id,omitempty"` // the staff user who made the change, from the web workspace
	IP           string    `gorm:"size:64;not null;default:''" json:"ip,omitempty"`
	UserAgent    string    `gorm:"size:500;not null;default:''" json:"user_agent,omitempty"`
	Data         JSONMap   `gorm:"type:text;not null" json:"data,omitempty"`
	CreatedAt    time.Time `gorm:"not null;index:idx_events_kind_created,priority:2" json:"created_at"`
}

func newEvent(kind string, by Actor, at time.Time, subscriberID, listID, campaignID *int64) Event {
	ev := Event{Kind: kind, SubscriberID: subscriberID, ListID: listID, CampaignID: campaignID,
		Source: by.Source, IP: by.IP, UserAgent: truncate(by.UserAgent, 500), CreatedAt: at, Data: JSONMap{}}
	if by.TokenID != 0 {
		id := by.TokenID
		ev.TokenID = &id
	}
	if by.UserID != 0 {
		id := by.UserID
		ev.UserID = &id
	}
	for k, v := range by.Data {
		ev.Data[k] = v
	}
	return ev
}

func withData(m JSONMap, k string, v any) JSONMap {
	if m == nil {
		m = JSONMap{}
	}
	m[k] = v
	return m
}

func insertEvents(tx *gorm.DB, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	if err := tx.CreateInBatches(evs, 200).Error; err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	// Counters and webhooks are derived from events in the same
	// transaction, so neither can miss or double an event.
	if err := countEvents(tx, evs); err != nil {
		return err
	}
	return queueWebhooks(tx, evs)
}

// EventQuery filters Events.
type EventQuery struct {
	SubscriberID int64
	CampaignID   int64
	After        int64
	Limit        int
}

// Events returns events in id order, one page at a time.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]Event, int64, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	tx := s.reader(ctx).Where("id > ?", q.After)
	if q.SubscriberID != 0 {
		tx = tx.Where("subscriber_id = ?", q.SubscriberID)
	}
	if q.CampaignID != 0 {
		tx = tx.Where("campaign_id = ?", q.CampaignID)
	}
	var evs []Event
	if err := tx.Order("id").Limit(q.Limit + 1).Find(&evs).Error; err != nil {
		return nil, 0, fmt.Errorf("events: %w", err)
	}
	var next int64
	if len(evs) > q.Limit {
		evs = evs[:q.Limit]
		next = evs[len(evs)-1].ID
	}
	return evs, next, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// WithdrawalMark is a number that grows with every committed change that
// can take someone out of a campaign's audience: a confirmed subscription
// changed or removed, a subscriber deleted or readdressed, an address
// suppressed, a list taken off a campaign (triggers of migration 0020
// count them). It never shrinks, so a sender that reads it before
// checking its recipients, and finds it unchanged later, knows that no
// check is needed; sending itself does not move it.
func (s *Store) WithdrawalMark(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reader(ctx).Raw(`SELECT COALESCE(SUM(n), 0) FROM withdrawal_shards`).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("withdrawal mark: %w", err)
	}
	return n, nil
}
