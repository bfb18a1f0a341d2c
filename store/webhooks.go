package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Webhook event names, as receivers see them.
const (
	HookSubscribed      = "subscriber.subscribed"
	HookConfirmed       = "subscriber.confirmed"
	HookUnsubscribed    = "subscriber.unsubscribed"
	HookBounced         = "delivery.bounced"
	HookSoftBounced     = "delivery.soft_bounced"
	HookPolicyBounced   = "delivery.policy_bounced"
	HookComplained      = "delivery.complained"
	HookCampaignStarted = "campaign.started"
	HookCampaignSent    = "campaign.sent"
	HookCampaignPaused  = "campaign.paused"
	HookCampaignCancel  = "campaign.cancelled"
	HookAll             = "*"
)

// HookEvents are the event names a webhook can subscribe to.
var HookEvents = []string{HookSubscribed, HookConfirmed, HookUnsubscribed, HookBounced, HookSoftBounced,
	HookPolicyBounced, HookComplained, HookCampaignStarted, HookCampaignSent, HookCampaignPaused, HookCampaignCancel}

// hookName maps an event to its webhook name; "" for events that are not
// sent out (opens and clicks among them: too many, and too personal).
func hookName(ev Event) string {
	switch ev.Kind {
	case EventSubscribed:
		return HookSubscribed
	case EventConfirmed:
		return HookConfirmed
	case EventUnsubscribed:
		return HookUnsubscribed
	case EventBounced:
		return HookBounced
	case EventSoftBounced:
		return HookSoftBounced
	case EventPolicyBounced:
		return HookPolicyBounced
	case EventComplained:
		return HookComplained
	case EventCampaign:
		switch ev.Data["status"] {
		case CampaignSending:
			return HookCampaignStarted
		case CampaignSent:
			return HookCampaignSent
		case CampaignPaused:
			return HookCampaignPaused
		case CampaignCancelled:
			return HookCampaignCancel
		}
	}
	return ""
}

// Webhook delivery statuses.
const (
	HookPending   = "pending"
	HookDelivered = "delivered"
	HookFailed    = "failed"
)

// Webhook is an endpoint that receives events.
type Webhook struct {
	ID          int64     `gorm:"primaryKey" json:"id"`
	URL         string    `gorm:"size:2000;not null" json:"url"`
	Events      []string  `gorm:"type:text;not null;serializer:json" json:"events"`
	Secret      string    `gorm:"size:100;not null" json:"secret,omitempty"` // shown once, at creation
	Description string    `gorm:"size:400;not null;default:''" json:"description"`
	CreatedAt   time.Time `gorm:"not null" json:"created_at"`
}

// WebhookDelivery is one event for one webhook: the outbox row and its
// delivery log.
type WebhookDelivery struct {
	ID          int64           `gorm:"primaryKey" json:"id"`
	WebhookID   int64           `gorm:"not null;index:idx_webhook_deliveries_webhook,priority:1" json:"webhook_id"`
	Event       string          `gorm:"size:40;not null" json:"event"`
	EventID     *int64          `json:"event_id"`
	Payload     json.RawMessage `gorm:"type:text;not null;serializer:json" json:"payload"`
	Status      string          `gorm:"size:16;not null;index:idx_webhook_deliveries_status,priority:1" json:"status"`
	Attempts    int             `gorm:"not null;default:0" json:"attempts"`
	LastCode    int             `gorm:"not null;default:0" json:"last_code"`
	LastError   string          `gorm:"size:1000;not null;default:''" json:"last_error,omitempty"`
	EnqueuedAt  *time.Time      `json:"-"`
	DeliveredAt *time.Time      `json:"delivered_at"`
	CreatedAt   time.Time       `gorm:"not null" json:"created_at"`
	UpdatedAt   time.Time       `gorm:"not null" json:"updated_at"`

	AttemptLog []WebhookAttempt `gorm:"foreignKey:DeliveryID" json:"attempt_log,omitempty"`
}

// WebhookAttempt is one try to deliver.
type WebhookAttempt struct {
	ID         int64     `gorm:"primaryKey" json:"-"`
	DeliveryID int64     `gorm:"not null;index:idx_webhook_attempts_delivery,priority:1" json:"-"`
	Attempt    int       `gorm:"not null" json:"attempt"`
	StatusCode int       `gorm:"not null;default:0" json:"status_code"`
	Error      string    `gorm:"size:1000;not null;default:''" json:"error,omitempty"`
	DurationMS int       `gorm:"column:duration_ms;not null;default:0" json:"duration_ms"`
	CreatedAt  time.Time `gorm:"not null" json:"at"`
}

// HookPayload is the JSON body a webhook receives.
type HookPayload struct {
	ID        int64          `json:"id"` // the event's id: receivers de-duplicate by it
	Event     string         `json:"event"`
	CreatedAt time.Time      `json:"created_at"`
	Data      map[string]any `json:"data"`
}

// CreateWebhook stores w with a new signing secret, returned in w.Secret.
func (s *Store) CreateWebhook(ctx context.Context, w *Webhook) error {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("webhook secret: %w", err)
	}
	w.Secret = "whsec_" + hex.EncodeToString(b[:])
	w.CreatedAt = s.now()
	if err := s.inTx(ctx, func(tx *gorm.DB) error { return tx.Create(w).Error }); err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	return nil
}

// Webhooks lists the webhooks, without their secrets.
func (s *Store) Webhooks(ctx context.Context) ([]Webhook, error) {
	var ws []Webhook
	if err := s.reader(ctx).Order("id").Find(&ws).Error; err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	for i := range ws {
		ws[i].Secret = ""
	}
	return ws, nil
}

// DeleteWebhook removes a webhook and its delivery log.
func (s *Store) DeleteWebhook(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Delete(&Webhook{}, id)
		if res.Error != nil {
			return fmt.Errorf("delete webhook %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("webhook", id)
		}
		return nil
	})
}

// WebhookDeliveries returns a page of a webhook's delivery log, newest
// first, each with its attempts.
func (s *Store) WebhookDeliveries(ctx context.Context, webhookID, before int64, limit int) ([]WebhookDelivery, int64, error) {
	db := s.reader(ctx)
	var n int64
	if err := db.Model(&Webhook{}).Where("id = ?", webhookID).Count(&n).Error; err != nil {
		return nil, 0, fmt.Errorf("webhook %d: %w", webhookID, err)
	}
	if n == 0 {
		return nil, 0, notFound("webhook", webhookID)
	}
	q := db.Where("webhook_id = ?", webhookID).Order("id DESC").Limit(limit+1).
		Preload("AttemptLog", func(tx *gorm.DB) *gorm.DB { return tx.Order("id") })
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var out []WebhookDelivery
	if err := q.Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("deliveries of webhook %d: %w", webhookID, err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// queueWebhooks writes an outbox row for each webhook subscribed to each
// event, in the transaction that appends the events: an event is
// announced if and only if it happened. The worker sends them.
func queueWebhooks(tx *gorm.DB, evs []Event) error {
	var named []int
	for i, ev := range evs {
		if hookName(ev) != "" {
			named = append(named, i)
		}
	}
	if len(named) == 0 {
		return nil
	}
	var hooks []Webhook
	if err := tx.Select("id, events").Find(&hooks).Error; err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if len(hooks) == 0 {
		return nil
	}
	var subIDs []int64
	for _, i := range named {
		if id := evs[i].SubscriberID; id != nil {
			subIDs = append(subIDs, *id)
		}
	}
	emails := map[int64]string{}
	if len(subIDs) > 0 {
		var subs []Subscriber
		if err := tx.Select("id, email").Where("id IN ?", subIDs).Find(&subs).Error; err != nil {
			return fmt.Errorf("webhook subscribers: %w", err)
		}
		for _, s := range subs {
			emails[s.ID] = s.Email
		}
	}
	now := evs[0].CreatedAt
	var rows []WebhookDelivery
	for _, i := range named {
		ev := evs[i]
		name := hookName(ev)
		data := map[string]any{}
		for k, v := range ev.Data {
			data[k] = v
		}
		put := func(k string, v *int64) {
			if v != nil {
				data[k] = *v
			}
		}
		put("subscriber_id", ev.SubscriberID)
		put("list_id", ev.ListID)
		put("campaign_id", ev.CampaignID)
		put("delivery_id", ev.DeliveryID)
		if ev.SubscriberID != nil && emails[*ev.SubscriberID] != "" {
			data["email"] = emails[*ev.SubscriberID]
		}
		if ev.Source != "" {
			data["source"] = ev.Source
		}
		body, err := json.Marshal(HookPayload{ID: ev.ID, Event: name, CreatedAt: ev.CreatedAt, Data: data})
		if err != nil {
			return fmt.Errorf("webhook payload: %w", err)
		}
		for _, h := range hooks {
			if !slices.Contains(h.Events, name) && !slices.Contains(h.Events, HookAll) {
				continue
			}
			id := ev.ID
			rows = append(rows, WebhookDelivery{WebhookID: h.ID, Event: name, EventID: &id, Payload: body,
				Status: HookPending, CreatedAt: now, UpdatedAt: now})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if err := tx.Omit("AttemptLog").CreateInBatches(rows, 100).Error; err != nil {
		return fmt.Errorf("queue webhooks: %w", err)
	}
	return nil
}

// DueWebhookDeliveries returns up to limit pending webhook deliveries that
// were never handed to the queue, or were handed over longer than requeue
// ago (the queue lost them), and marks them handed over now.
func (s *Store) DueWebhookDeliveries(ctx context.Context, limit int, requeue time.Duration) ([]int64, error) {
	now := s.now()
	var ids []int64
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&WebhookDelivery{}).
			Where("status = ? AND (enqueued_at IS NULL OR enqueued_at < ?)", HookPending, now.Add(-requeue)).
			Order("id").Limit(limit).Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		return tx.Model(&WebhookDelivery{}).Where("id IN ?", ids).Update("enqueued_at", now).Error
	})
	if err != nil {
		return nil, fmt.Errorf("due webhook deliveries: %w", err)
	}
	return ids, nil
}

// HookSend is what the worker needs to deliver one webhook delivery.
type HookSend struct {
	Delivery WebhookDelivery
	URL      string
	Secret   string
}

// WebhookDeliveryForSend loads a delivery with its endpoint; a delivery no
// longer pending (or gone with its webhook) is ErrNotFound.
func (s *Store) WebhookDeliveryForSend(ctx context.Context, id int64) (*HookSend, error) {
	var d WebhookDelivery
	if err := s.reader(ctx).Where("id = ? AND status = ?", id, HookPending).Take(&d).Error; err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("pending webhook delivery %d: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("webhook delivery %d: %w", id, err)
	}
	var w Webhook
	if err := s.reader(ctx).Take(&w, d.WebhookID).Error; err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("webhook %d: %w", d.WebhookID, ErrNotFound)
		}
		return nil, fmt.Errorf("webhook %d: %w", d.WebhookID, err)
	}
	return &HookSend{Delivery: d, URL: w.URL, Secret: w.Secret}, nil
}

// RecordWebhookAttempt logs one try and moves the delivery to delivered
// (ok), failed (final), or leaves it pending for the queue's retry.
func (s *Store) RecordWebhookAttempt(ctx context.Context, id int64, a WebhookAttempt, ok, final bool) error {
	now := s.now()
	a.DeliveryID, a.CreatedAt, a.Error = id, now, truncate(a.Error, 1000)
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&a).Error; err != nil {
			return fmt.Errorf("log webhook attempt %d: %w", id, err)
		}
		upd := map[string]any{"attempts": gorm.Expr("attempts + 1"), "last_code": a.StatusCode, "last_error": a.Error, "updated_at": now}
		switch {
		case ok:
			upd["status"], upd["delivered_at"] = HookDelivered, now
		case final:
			upd["status"] = HookFailed
		}
		if err := tx.Model(&WebhookDelivery{}).Where("id = ? AND status = ?", id, HookPending).Updates(upd).Error; err != nil {
			return fmt.Errorf("webhook delivery %d: %w", id, err)
		}
		return nil
	})
}
