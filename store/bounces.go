package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// BouncePolicy says when soft bounces suppress an address.
type BouncePolicy struct {
	SoftLimit  int           // soft-bounced deliveries that suppress the address; default 3
	SoftWindow time.Duration // counted over this long; default 30 days
}

func (p BouncePolicy) withDefaults() BouncePolicy {
	if p.SoftLimit <= 0 {
		p.SoftLimit = 3
	}
	if p.SoftWindow <= 0 {
		p.SoftWindow = 30 * 24 * time.Hour
	}
	return p
}

// DeliveryReport is a bounce or complaint about one delivery, found by the
// VERP token of an inbound message.
type DeliveryReport struct {
	DeliveryID   int64
	Kind         string // EventBounced (hard), EventSoftBounced, EventPolicyBounced or EventComplained
	Status       string // RFC 3463 code, e.g. 5.1.1
	Diagnostic   string
	FeedbackType string // of a complaint
	Source       string // how the report arrived: "smtp", "api", "pop3", ...
}

// ReportResult says what RecordDeliveryReport did.
type ReportResult struct {
	Action       string  `json:"action"` // "bounced", "counted", "suppressed", "unsubscribed", "duplicate"; "counted" for a policy bounce too
	CampaignID   int64   `json:"campaign_id,omitempty"`
	SubscriberID int64   `json:"subscriber_id,omitempty"`
	Suppressed   bool    `json:"suppressed"`
	Lists        []int64 `json:"lists,omitempty"` // lists left, for a complaint
}

// RecordDeliveryReport acts on a bounce or complaint in one transaction:
//
//   - hard bounce: the delivery becomes "bounced" and the address is
//     suppressed;
//   - soft bounce: counted; the address is suppressed once SoftLimit of
//     its deliveries soft bounced within SoftWindow;
//   - policy bounce (DMARC, block list, content filter): counted, and
//     never suppresses, as nothing is wrong with the address;
//   - complaint: the subscriber leaves every list and is suppressed.
//
// Each appends an event. A second report of the same kind about the same
// delivery (a retransmitted DSN) changes nothing.
func (s *Store) RecordDeliveryReport(ctx context.Context, r DeliveryReport, p BouncePolicy) (*ReportResult, error) {
	p = p.withDefaults()
	switch r.Kind {
	case EventBounced, EventSoftBounced, EventPolicyBounced, EventComplained:
	default:
		return nil, fmt.Errorf("delivery report of kind %q", r.Kind)
	}
	res := &ReportResult{}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var d struct {
			CampaignID   int64
			SubscriberID *int64
			Status       string
			Email        *string
		}
		err := tx.Table("deliveries d").Select("d.campaign_id, d.subscriber_id, d.status, s.email").
			Joins("LEFT JOIN subscribers s ON s.id = d.subscriber_id").Where("d.id = ?", r.DeliveryID).Take(&d).Error
		if isMissing(err) {
			return notFound("delivery", r.DeliveryID)
		}
		if err != nil {
			return fmt.Errorf("delivery %d: %w", r.DeliveryID, err)
		}
		res.CampaignID = d.CampaignID
		if d.SubscriberID != nil {
			res.SubscriberID = *d.SubscriberID
		}
		var seen int64
		if err := tx.Model(&Event{}).Where("delivery_id = ? AND kind = ?", r.DeliveryID, r.Kind).Count(&seen).Error; err != nil {
			return fmt.Errorf("earlier reports of delivery %d: %w", r.DeliveryID, err)
		}
		if seen > 0 {
			res.Action = "duplicate"
			return nil
		}
		now := s.now()
		by := Actor{Source: r.Source}
		campaignID := d.CampaignID
		ev := newEvent(r.Kind, by, now, d.SubscriberID, nil, &campaignID)
		ev.DeliveryID = &r.DeliveryID
		for k, v := range map[string]string{"status": r.Status, "diagnostic": truncate(r.Diagnostic, 500), "feedback_type": r.FeedbackType} {
			if v != "" {
				ev.Data[k] = v
			}
		}
		evs := []Event{ev}
		suppress := ""
		switch r.Kind {
		case EventBounced:
			res.Action = "bounced"
			// Only a delivery the server accepted can bounce later; one
			// that failed during the SMTP conversation keeps that record.
			if err := tx.Model(&Delivery{}).Where("id = ? AND status = ?", r.DeliveryID, DeliverySent).
				Updates(map[string]any{"status": DeliveryBounced, "smtp_message": truncate(r.Status+" "+r.Diagnostic, 1000),
					"updated_at": now}).Error; err != nil {
				return fmt.Errorf("bounce delivery %d: %w", r.DeliveryID, err)
			}
			suppress = SuppressHardBounce
			if d.SubscriberID != nil {
				if err := countListBounce(tx, *d.SubscriberID, d.CampaignID, now); err != nil {
					return err
				}
			}
		case EventSoftBounced:
			res.Action = "counted"
			if d.SubscriberID != nil {
				var n int64
				if err := tx.Model(&Event{}).Where("subscriber_id = ? AND kind = ? AND created_at > ?",
					*d.SubscriberID, EventSoftBounced, now.Add(-p.SoftWindow)).Count(&n).Error; err != nil {
					return fmt.Errorf("soft bounces of subscriber %d: %w", *d.SubscriberID, err)
				}
				if n+1 >= int64(p.SoftLimit) {
					suppress = SuppressSoftBounce
				}
			}
		case EventPolicyBounced:
			res.Action = "counted"
		case EventComplained:
			res.Action = "unsubscribed"
			suppress = SuppressComplaint
			if d.SubscriberID != nil {
				var ms []Subscription
				if err := tx.Where("subscriber_id = ? AND status <> ?", *d.SubscriberID, SubUnsubscribed).
					Order("list_id").Find(&ms).Error; err != nil {
					return fmt.Errorf("complaint of subscriber %d: %w", *d.SubscriberID, err)
				}
				for _, m := range ms {
					lev, err := s.setSubscription(tx, *d.SubscriberID, SubscriptionInput{ListID: m.ListID, Status: SubUnsubscribed}, by)
					if err != nil {
						return err
					}
					for i := range lev {
						lev[i].CampaignID = &campaignID
						lev[i].Data = withData(lev[i].Data, "reason", "complaint")
					}
					evs = append(evs, lev...)
					res.Lists = append(res.Lists, m.ListID)
				}
			}
		}
		if err := insertEvents(tx, evs); err != nil {
			return err
		}
		if suppress != "" && d.Email != nil {
			if _, err := s.suppress(tx, *d.Email, suppress, truncate(r.Status+" "+r.Diagnostic, 1000), by); err != nil {
				return err
			}
			res.Suppressed = true
			if r.Kind == EventSoftBounced {
				res.Action = "suppressed"
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// countListBounce counts a hard bounce on the day's growth of each list of
// the campaign the subscriber is on.
func countListBounce(tx *gorm.DB, subscriberID, campaignID int64, at time.Time) error {
	var lists []int64
	if err := tx.Raw(`SELECT m.list_id FROM subscriptions m
		JOIN campaign_lists cl ON cl.list_id = m.list_id AND cl.campaign_id = ?
		WHERE m.subscriber_id = ? ORDER BY m.list_id`, campaignID, subscriberID).Scan(&lists).Error; err != nil {
		return fmt.Errorf("lists of subscriber %d: %w", subscriberID, err)
	}
	deltas := map[countKey]int64{}
	for _, l := range lists {
		deltas[listKey(l, mListBounced, at)]++
	}
	return bumpCounts(tx, deltas)
}

// DeliveryRecipient returns the campaign and subscriber of delivery id:
// ErrNotFound when there is no such delivery or its subscriber was erased.
func (s *Store) DeliveryRecipient(ctx context.Context, id int64) (campaignID, subscriberID int64, err error) {
	var d struct {
		CampaignID   int64
		SubscriberID *int64
	}
	err = s.reader(ctx).Model(&Delivery{}).Select("campaign_id, subscriber_id").Where("id = ?", id).Take(&d).Error
	switch {
	case isMissing(err) || err == nil && d.SubscriberID == nil:
		return 0, 0, notFound("delivery", id)
	case err != nil:
		return 0, 0, fmt.Errorf("delivery %d: %w", id, err)
	}
	return d.CampaignID, *d.SubscriberID, nil
}
