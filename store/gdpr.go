package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// EventErased marks an erasure. It carries no personal data: only the
// number the erased subscriber had.
const EventErased = "subscriber.erased"

// PersonalData is everything utskick holds about one person, for a
// GDPR access request (article 15) or portability (article 20).
type PersonalData struct {
	ExportedAt    time.Time              `json:"exported_at"`
	Subscriber    *Subscriber            `json:"subscriber"`
	Subscriptions []PersonalSubscription `json:"subscriptions"`
	Events        []Event                `json:"events"`
	Deliveries    []PersonalDelivery     `json:"deliveries"`
	Suppression   *Suppression           `json:"suppression"`
}

// PersonalSubscription is a subscription with its list's name.
type PersonalSubscription struct {
	Subscription
	ListSlug string `json:"list_slug"`
	ListName string `json:"list_name"`
}

// PersonalDelivery is one campaign sent (or meant) to the person.
type PersonalDelivery struct {
	ID          int64      `json:"id"`
	CampaignID  int64      `json:"campaign_id"`
	Campaign    string     `json:"campaign"`
	Subject     string     `json:"subject"`
	Status      string     `json:"status"`
	SMTPCode    int        `json:"smtp_code"`
	SMTPMessage string     `json:"smtp_message"`
	MessageID   string     `json:"message_id"`
	CreatedAt   time.Time  `json:"created_at"`
	SentAt      *time.Time `json:"sent_at"`
}

// PersonalData collects what is held about subscriber id. It reads in one
// transaction so the parts agree with each other.
func (s *Store) PersonalData(ctx context.Context, id int64) (*PersonalData, error) {
	out := &PersonalData{ExportedAt: s.now()}
	err := s.reader(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.subscriberFor(ctx, tx, id, GrantViewer, nil); err != nil {
			return err
		}
		var sub Subscriber
		if err := tx.First(&sub, id).Error; err != nil {
			if isMissing(err) {
				return notFound("subscriber", id)
			}
			return fmt.Errorf("subscriber %d: %w", id, err)
		}
		if err := loadSubscriptions(tx, &sub); err != nil {
			return err
		}
		out.Subscriber = &sub
		out.Subscriptions = []PersonalSubscription{}
		for _, m := range sub.Subscriptions {
			var l List
			ps := PersonalSubscription{Subscription: m}
			if err := tx.Select("slug", "name").First(&l, m.ListID).Error; err == nil {
				ps.ListSlug, ps.ListName = l.Slug, l.Name
			}
			out.Subscriptions = append(out.Subscriptions, ps)
		}
		out.Events = []Event{}
		if err := tx.Where("subscriber_id = ?", id).Order("id").Find(&out.Events).Error; err != nil {
			return fmt.Errorf("events of %d: %w", id, err)
		}
		out.Deliveries = []PersonalDelivery{}
		err := tx.Table("deliveries d").
			Select("d.id, d.campaign_id, c.name AS campaign, c.subject, d.status, d.smtp_code, d.smtp_message, d.message_id, d.created_at, d.sent_at").
			Joins("JOIN campaigns c ON c.id = d.campaign_id").
			Where("d.subscriber_id = ?", id).Order("d.id").Scan(&out.Deliveries).Error
		if err != nil {
			return fmt.Errorf("deliveries of %d: %w", id, err)
		}
		var sp Suppression
		err = tx.Where("email_hash = ?", sub.EmailHash).Take(&sp).Error
		switch {
		case err == nil:
			out.Suppression = &sp
		case !isMissing(err):
			return fmt.Errorf("suppression of %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EraseSubscriber deletes the personal data of subscriber id (GDPR
// article 17), in one transaction:
//
//   - the subscriber row and their subscriptions go;
//   - their deliveries stay, with status and code for the campaign
//     counts, but lose the link to them and the server's reply text
//     (which often quotes the address);
//   - their events stay, for the counts of subscribes, unsubscribes and
//     sends, but lose the IP, user agent and data, and their subscriber
//     id becomes its negative, which no subscriber row has;
//   - reject rows of imports that quote the address go;
//   - the keyed hash of the address is put on the suppression list as
//     erased (replacing the address of an earlier entry), so an old CSV
//     cannot bring the address back, while nothing readable is kept.
func (s *Store) EraseSubscriber(ctx context.Context, id int64, by Actor) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.subscriberFor(ctx, tx, id, GrantAudience, nil); err != nil {
			return err
		}
		var sub Subscriber
		if err := tx.Select("id", "email", "email_hash").First(&sub, id).Error; err != nil {
			if isMissing(err) {
				return notFound("subscriber", id)
			}
			return fmt.Errorf("subscriber %d: %w", id, err)
		}
		now := s.now()
		var sp Suppression
		err := tx.Where("email_hash = ?", sub.EmailHash).Take(&sp).Error
		switch {
		case isMissing(err):
			err = tx.Create(&Suppression{EmailHash: sub.EmailHash, Reason: SuppressErased, Source: by.Source, CreatedAt: now}).Error
		case err == nil:
			err = tx.Model(&Suppression{}).Where("id = ?", sp.ID).
				Updates(map[string]any{"reason": SuppressErased, "email": "", "note": "", "source": by.Source}).Error
		}
		if err != nil {
			return fmt.Errorf("erase %d: suppress: %w", id, err)
		}
		steps := []struct {
			what string
			q    *gorm.DB
		}{
			// -id, not NULL: campaign stats count distinct subscribers
			// (an unsubscribe from two lists is one person), and a
			// negative id still tells one erased person's events from
			// another's while naming nobody: no row has it, and the IP,
			// user agent and data that could say who are cleared.
			{"events", tx.Model(&Event{}).Where("subscriber_id = ?", id).
				Updates(map[string]any{"subscriber_id": -id, "ip": "", "user_agent": "", "data": "{}"})},
			{"deliveries", tx.Model(&Delivery{}).Where("subscriber_id = ?", id).
				Updates(map[string]any{"subscriber_id": nil, "smtp_message": ""})},
			{"import rejects", tx.Where("email = ?", sub.Email).Delete(&ImportReject{})},
			{"opt-in mails", tx.Where("email_hash = ?", sub.EmailHash).Delete(&OptinMail{})},
			{"subscriptions", tx.Where("subscriber_id = ?", id).Delete(&Subscription{})},
			{"subscriber", tx.Delete(&Subscriber{}, id)},
			// The audit log keeps who erased whom (by id) and when; the
			// person's values in it go.
			{"audit personal data", tx.Where("subscriber_id = ?", id).Delete(&AuditPersonal{})},
		}
		for _, st := range steps {
			if st.q.Error != nil {
				return fmt.Errorf("erase %d: %s: %w", id, st.what, st.q.Error)
			}
		}
		ev := newEvent(EventErased, by, now, nil, nil, nil)
		ev.Data = withData(ev.Data, "subscriber_id", id)
		return insertEvents(tx, []Event{ev})
	})
}
