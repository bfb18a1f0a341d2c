package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SenderIdentity is who the mail comes from: the instance's defaults,
// kept in the database so that an admin can change them in the
// workspace. Empty From fields fall back to UTSKICK_FROM. The postal
// address and contact line are shown in every mail's footer: Swedish
// marketing law (and most providers) want a sender that can be reached.
// A list may override each field (List.FromName, …); "" there is the
// instance's value.
type SenderIdentity struct {
	ID               int64      `gorm:"primaryKey;autoIncrement:false" json:"-"`
	FromName         string     `gorm:"size:200;not null;default:''" json:"from_name"`
	FromAddress      string     `gorm:"size:320;not null;default:''" json:"from_address"`
	ReplyTo          string     `gorm:"size:400;not null;default:''" json:"reply_to"`
	PostalAddress    string     `gorm:"size:300;not null;default:''" json:"postal_address"`
	Contact          string     `gorm:"size:300;not null;default:''" json:"contact"`
	UpdatedAt        *time.Time `gorm:"autoUpdateTime:false" json:"updated_at"`
	UpdatedByUserID  *int64     `json:"updated_by_user_id,omitempty"`
	UpdatedByTokenID *int64     `json:"updated_by_token_id,omitempty"`
}

// TableName keeps the one-row table called sender_identity.
func (SenderIdentity) TableName() string { return "sender_identity" }

// SenderIdentity returns the instance's sender identity; a database where
// nobody has set one yet gives the zero value (every field "").
func (s *Store) SenderIdentity(ctx context.Context) (SenderIdentity, error) {
	var rows []SenderIdentity
	if err := s.reader(ctx).Where("id = 1").Limit(1).Find(&rows).Error; err != nil {
		return SenderIdentity{}, fmt.Errorf("sender identity: %w", err)
	}
	if len(rows) == 0 {
		return SenderIdentity{ID: 1}, nil
	}
	return rows[0], nil
}

// SetSenderIdentity replaces the instance's sender identity (every field:
// the form and the API send them all) and records who changed it.
func (s *Store) SetSenderIdentity(ctx context.Context, id SenderIdentity, by Actor) (SenderIdentity, error) {
	now := s.now()
	id.ID, id.UpdatedAt = 1, &now
	id.UpdatedByUserID, id.UpdatedByTokenID = nil, nil
	if by.UserID != 0 {
		id.UpdatedByUserID = &by.UserID
	}
	if by.TokenID != 0 {
		id.UpdatedByTokenID = &by.TokenID
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, UpdateAll: true}).Create(&id).Error
	})
	if err != nil {
		return SenderIdentity{}, fmt.Errorf("set sender identity: %w", err)
	}
	return id, nil
}

// ForList is the identity list l's mail is sent with: each of l's
// overrides that is set, else the instance's value. A nil l is the
// instance's identity.
func (id SenderIdentity) ForList(l *List) SenderIdentity {
	if l == nil {
		return id
	}
	pick := func(own, def string) string {
		if own != "" {
			return own
		}
		return def
	}
	id.FromName = pick(l.FromName, id.FromName)
	id.FromAddress = pick(l.FromAddress, id.FromAddress)
	id.ReplyTo = pick(l.ReplyTo, id.ReplyTo)
	id.PostalAddress = pick(l.PostalAddress, id.PostalAddress)
	id.Contact = pick(l.Contact, id.Contact)
	return id
}
