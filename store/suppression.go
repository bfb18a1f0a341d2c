package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Suppression reasons.
const (
	SuppressUnsubscribedAll = "unsubscribed_all" // left everything
	SuppressHardBounce      = "hard_bounce"      // the address does not exist
	SuppressComplaint       = "complaint"        // marked a mail as spam
	SuppressManual          = "manual"           // staff
	SuppressErased          = "erased"           // GDPR erasure: only the hash is kept
)

// Suppression keeps an address from every campaign (test sends aside),
// whatever lists it is on or is imported to later. It is matched by the
// keyed hash of the normalised address, so an erased person's entry does
// not hold their address.
type Suppression struct {
	ID        int64     `gorm:"primaryKey" json:"id"`
	EmailHash string    `gorm:"size:64;not null;uniqueIndex" json:"-"`
	Email     string    `gorm:"size:320;not null;default:''" json:"email"` // "" for erased addresses
	Reason    string    `gorm:"size:32;not null" json:"reason"`
	Source    string    `gorm:"size:40;not null;default:''" json:"source"`
	Note      string    `gorm:"size:1000;not null;default:''" json:"note,omitempty"`
	CreatedAt time.Time `gorm:"not null" json:"created_at"`
}

// DeriveAddressKey turns the service secret into the key of AddressHash.
func DeriveAddressKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("utskick address hash v1"))
	return m.Sum(nil)
}

// AddressHash is the keyed hash of a normalised address.
func (s *Store) AddressHash(email string) string {
	m := hmac.New(sha256.New, s.addrKey)
	m.Write([]byte(email))
	return hex.EncodeToString(m.Sum(nil))
}

// Suppress adds email (normalised) to the suppression list. An address
// already suppressed keeps its first reason. It reports whether it added.
func (s *Store) Suppress(ctx context.Context, email, reason, note string, by Actor) (bool, error) {
	if err := requireGlobal(ctx, GrantAudience, "change the suppression list"); err != nil {
		return false, err
	}
	added := false
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var err error
		added, err = s.suppress(tx, email, reason, note, by)
		return err
	})
	return added, err
}

func (s *Store) suppress(tx *gorm.DB, email, reason, note string, by Actor) (bool, error) {
	now := s.now()
	row := Suppression{EmailHash: s.AddressHash(email), Email: email, Reason: reason, Source: by.Source,
		Note: truncate(note, 1000), CreatedAt: now}
	if reason == SuppressErased {
		row.Email = ""
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, fmt.Errorf("suppress: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	var subID []int64
	if err := tx.Model(&Subscriber{}).Where("email_hash = ?", row.EmailHash).Pluck("id", &subID).Error; err != nil {
		return false, fmt.Errorf("suppress: %w", err)
	}
	ev := newEvent(EventSuppressed, by, now, nil, nil, nil)
	if len(subID) == 1 {
		ev.SubscriberID = &subID[0]
	}
	ev.Data = withData(ev.Data, "reason", reason)
	return true, insertEvents(tx, []Event{ev})
}

// Unsuppress removes the entry for email. Unknown is ErrNotFound.
func (s *Store) Unsuppress(ctx context.Context, email string, by Actor) error {
	if err := requireGlobal(ctx, GrantAudience, "change the suppression list"); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("email_hash = ?", s.AddressHash(email)).Delete(&Suppression{})
		if res.Error != nil {
			return fmt.Errorf("unsuppress: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("suppression of %s: %w", email, ErrNotFound)
		}
		ev := newEvent(EventUnsuppressed, by, s.now(), nil, nil, nil)
		var subID []int64
		tx.Model(&Subscriber{}).Where("email_hash = ?", s.AddressHash(email)).Pluck("id", &subID)
		if len(subID) == 1 {
			ev.SubscriberID = &subID[0]
		}
		return insertEvents(tx, []Event{ev})
	})
}

// SuppressionQuery pages Suppressions.
type SuppressionQuery struct {
	Reason string
	After  int64
	Limit  int
}

// Suppressions lists entries in id order.
func (s *Store) Suppressions(ctx context.Context, q SuppressionQuery) ([]Suppression, int64, error) {
	if err := requireGlobal(ctx, GrantViewer, "read the suppression list"); err != nil {
		return nil, 0, err
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	tx := s.reader(ctx).Where("id > ?", q.After)
	if q.Reason != "" {
		tx = tx.Where("reason = ?", q.Reason)
	}
	var out []Suppression
	if err := tx.Order("id").Limit(q.Limit + 1).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("suppressions: %w", err)
	}
	var next int64
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// SuppressionOf returns the entry for email, or ErrNotFound.
func (s *Store) SuppressionOf(ctx context.Context, email string) (*Suppression, error) {
	var sp Suppression
	if err := s.reader(ctx).Where("email_hash = ?", s.AddressHash(email)).Take(&sp).Error; err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("suppression of %s: %w", email, ErrNotFound)
		}
		return nil, fmt.Errorf("suppression of %s: %w", email, err)
	}
	return &sp, nil
}

// SelfLiftable reports whether a suppression with reason may be lifted by
// the person's own verified act (confirming a double opt-in link, or undo
// from their own link): only reasons that stand for that person's own
// earlier choice. Bounces, complaints and staff decisions are lifted by
// staff only.
func SelfLiftable(reason string) bool {
	return reason == SuppressUnsubscribedAll || reason == SuppressErased
}

// liftSuppression removes the entry for hash if its reason is one of
// reasons, appending an unsuppressed event; it reports whether it did.
func (s *Store) liftSuppression(tx *gorm.DB, hash string, subscriberID int64, reasons []string, by Actor) (bool, error) {
	var sp Suppression
	err := tx.Where("email_hash = ? AND reason IN ?", hash, reasons).Take(&sp).Error
	if isMissing(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lift suppression: %w", err)
	}
	res := tx.Where("id = ?", sp.ID).Delete(&Suppression{})
	if res.Error != nil {
		return false, fmt.Errorf("lift suppression: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	ev := newEvent(EventUnsuppressed, by, s.now(), &subscriberID, nil, nil)
	ev.Data = withData(ev.Data, "reason", sp.Reason)
	return true, insertEvents(tx, []Event{ev})
}

// UnsubscribeAll ends every subscription of the subscriber and adds the
// address to the suppression list as unsubscribed_all, in one
// transaction. The suppression is what makes "everything" hold against
// a later import or a staff edit, not just the lists that exist today;
// the person's own undo (Resubscribe) or a new confirmed opt-in lifts it.
func (s *Store) UnsubscribeAll(ctx context.Context, subscriberID, campaignID int64, by Actor) ([]int64, error) {
	done, err := s.publicWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var changed []int64
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		var sub Subscriber
		if err := tx.Select("id", "email").First(&sub, subscriberID).Error; err != nil {
			if isMissing(err) {
				return notFound("subscriber", subscriberID)
			}
			return fmt.Errorf("subscriber %d: %w", subscriberID, err)
		}
		var err error
		if changed, err = s.unsubscribe(tx, subscriberID, nil, campaignID, by); err != nil {
			return err
		}
		_, err = s.suppress(tx, sub.Email, SuppressUnsubscribedAll, "", by)
		return err
	})
	return changed, err
}
