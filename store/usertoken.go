package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Purposes of one-time links.
const (
	PurposeInvite = "invite" // a new user sets a first password
	PurposeReset  = "reset"  // a user who forgot sets a new one
	PurposeSetup  = "setup"  // the first admin of an empty installation
)

// How long each kind of link works. A reset link is short-lived: it is
// asked for by someone at the screen now, and mail is a weak channel.
var tokenTTL = map[string]time.Duration{
	PurposeInvite: 7 * 24 * time.Hour,
	PurposeReset:  2 * time.Hour,
	PurposeSetup:  7 * 24 * time.Hour,
}

// UserToken is a one-time link to set a password. Only its SHA-256 is
// kept; it works once, until ExpiresAt. A setup link has no user.
type UserToken struct {
	ID        int64      `gorm:"primaryKey"`
	Hash      string     `gorm:"size:64;not null;uniqueIndex:idx_user_tokens_hash"`
	UserID    *int64     `gorm:"index:idx_user_tokens_user_id"`
	Purpose   string     `gorm:"size:16;not null"`
	CreatedAt time.Time  `gorm:"not null"`
	ExpiresAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time ``
}

// errLinkInvalid is every way a link can fail: unknown, used, expired,
// or for a user who is gone or deactivated. One answer for all.
var errLinkInvalid = fmt.Errorf("link is unknown, used or expired: %w", ErrNotFound)

// CreateUserToken makes a one-time link of purpose for user userID (0 for
// a setup link) and returns its secret and end. A new invite or reset
// link voids the user's earlier unused ones of the same purpose: the
// newest mail is the one that works.
func (s *Store) CreateUserToken(ctx context.Context, userID int64, purpose string) (string, time.Time, error) {
	ttl, ok := tokenTTL[purpose]
	if !ok {
		return "", time.Time{}, fmt.Errorf("link purpose %q: %w", purpose, ErrConflict)
	}
	if (purpose == PurposeSetup) != (userID == 0) {
		return "", time.Time{}, fmt.Errorf("a %s link with user %d: %w", purpose, userID, ErrConflict)
	}
	secret := newSecret()
	now := s.now()
	t := &UserToken{Hash: hashToken(secret), Purpose: purpose, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if userID != 0 {
		t.UserID = &userID
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if userID != 0 {
			if err := tx.Where("user_id = ? AND purpose = ? AND used_at IS NULL", userID, purpose).Delete(&UserToken{}).Error; err != nil {
				return fmt.Errorf("void earlier links: %w", err)
			}
		}
		if err := tx.Create(t).Error; err != nil {
			return fmt.Errorf("create %s link: %w", purpose, err)
		}
		return nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return secret, t.ExpiresAt, nil
}

// LiveSetupLink reports whether an unused setup link still works.
func (s *Store) LiveSetupLink(ctx context.Context) (bool, error) {
	var n int64
	err := s.reader(ctx).Model(&UserToken{}).Where("purpose = ? AND used_at IS NULL AND expires_at > ?", PurposeSetup, s.now()).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("setup links: %w", err)
	}
	return n > 0, nil
}

// UserTokenBySecret returns a link that still works, and its user (nil
// for a setup link). Anything else is ErrNotFound.
func (s *Store) UserTokenBySecret(ctx context.Context, secret string) (*UserToken, *User, error) {
	return s.liveToken(s.reader(ctx), secret)
}

func (s *Store) liveToken(db *gorm.DB, secret string) (*UserToken, *User, error) {
	var t UserToken
	err := db.Where("hash = ? AND used_at IS NULL AND expires_at > ?", hashToken(secret), s.now()).Take(&t).Error
	if isMissing(err) {
		return nil, nil, errLinkInvalid
	}
	if err != nil {
		return nil, nil, fmt.Errorf("link: %w", err)
	}
	if t.UserID == nil {
		// A setup link works only while there is nobody.
		var n int64
		if err := db.Model(&User{}).Count(&n).Error; err != nil {
			return nil, nil, fmt.Errorf("count users: %w", err)
		}
		if n > 0 {
			return nil, nil, errLinkInvalid
		}
		return &t, nil, nil
	}
	var u User
	if err := db.Take(&u, *t.UserID).Error; err != nil {
		if isMissing(err) {
			return nil, nil, errLinkInvalid
		}
		return nil, nil, fmt.Errorf("user of link: %w", err)
	}
	if u.Status == UserDeactivated {
		return nil, nil, errLinkInvalid
	}
	return &t, &u, nil
}

// SetPassword is what a one-time link's form sends. Email, Name and Lang
// are read for a setup link only, which makes the first admin.
type SetPassword struct {
	Password string
	Email    string
	Name     string
	Lang     string
}

// UseUserToken spends a one-time link: it sets the password (making an
// invited user active, or the first admin from a setup link), voids the
// user's other unused links and ends all the user's sessions. A link
// that does not work is ErrNotFound; nothing is written then.
func (s *Store) UseUserToken(ctx context.Context, secret string, p SetPassword, by Actor) (*User, error) {
	if len(p.Password) < PasswordMinLen || len(p.Password) > PasswordMaxLen {
		return nil, fmt.Errorf("password length: %w", ErrConflict)
	}
	// Check before the slow hash, so a dead link costs no argon2 run.
	if _, _, err := s.UserTokenBySecret(ctx, secret); err != nil {
		return nil, err
	}
	var setupEmail string
	if p.Email != "" {
		e, err := NormalizeEmail(p.Email)
		if err != nil {
			return nil, err
		}
		setupEmail = e
	}
	hash, err := s.pw.hash(p.Password)
	if err != nil {
		return nil, err
	}
	var out *User
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.lockUsers(tx); err != nil {
			return err
		}
		t, u, err := s.liveToken(tx, secret)
		if err != nil {
			return err
		}
		now := s.now()
		// Spend it first, conditionally: of two uses at once one wins.
		res := tx.Model(&UserToken{}).Where("id = ? AND used_at IS NULL", t.ID).Update("used_at", now)
		if res.Error != nil {
			return fmt.Errorf("spend link: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return errLinkInvalid
		}
		if u == nil {
			if setupEmail == "" {
				return badAddr("empty")
			}
			lang := p.Lang
			if !ValidUserLang(lang) {
				lang = "sv"
			}
			u = &User{Email: setupEmail, Name: truncate(strings.TrimSpace(p.Name), 200), Lang: lang, Role: RoleAdmin,
				Status: UserActive, PasswordHash: hash}
			if err := tx.Create(u).Error; err != nil {
				return fmt.Errorf("create first admin: %w", err)
			}
			by.UserID = u.ID
			out = u
			return insertEvents(tx, []Event{userEvent(EventUserPassword, by, now, u.ID, map[string]any{"how": PurposeSetup})})
		}
		if err := tx.Model(&User{}).Where("id = ?", u.ID).
			Updates(map[string]any{"password_hash": hash, "status": UserActive, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("set password of user %d: %w", u.ID, err)
		}
		if err := tx.Where("user_id = ? AND used_at IS NULL", u.ID).Delete(&UserToken{}).Error; err != nil {
			return fmt.Errorf("void links of user %d: %w", u.ID, err)
		}
		if err := tx.Where("user_id = ?", u.ID).Delete(&Session{}).Error; err != nil {
			return fmt.Errorf("end sessions of user %d: %w", u.ID, err)
		}
		u.PasswordHash, u.Status = hash, UserActive
		out = u
		by.UserID = u.ID
		return insertEvents(tx, []Event{userEvent(EventUserPassword, by, now, u.ID, map[string]any{"how": t.Purpose})})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// IsLinkInvalid reports whether err says a one-time link does not work.
func IsLinkInvalid(err error) bool { return errors.Is(err, errLinkInvalid) }
