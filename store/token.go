package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Roles of API tokens.
const (
	RoleAdmin  = "admin"  // everything, including tokens
	RoleEditor = "editor" // lists, subscribers, campaigns
	RoleViewer = "viewer" // read only
)

// APIToken is a bearer token for the staff API. Only its SHA-256 is kept;
// the token itself is shown once, when it is created.
type APIToken struct {
	ID     int64  `gorm:"primaryKey" json:"id"`
	Name   string `gorm:"size:200;not null" json:"name"`
	Role   string `gorm:"size:16;not null" json:"role"`
	Hash   string `gorm:"size:64;not null;uniqueIndex" json:"-"`
	Prefix string `gorm:"size:16;not null" json:"prefix"`
	// UserID is the user the token acts for: it carries at most that
	// user's rights (Role can only narrow them). Nil is an instance
	// token, whose role holds over every list.
	UserID     *int64     `gorm:"index" json:"user_id"`
	CreatedAt  time.Time  `gorm:"not null" json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// TableName keeps the table called api_tokens.
func (APIToken) TableName() string { return "api_tokens" }

// NewTokenSecret returns a fresh random token string.
func NewTokenSecret() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // cannot happen on Linux
	}
	return "utk_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func hashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateToken stores a token for secret (from NewTokenSecret, or given by
// the operator) and returns its row.
func (s *Store) CreateToken(ctx context.Context, name, role, secret string) (*APIToken, error) {
	return s.CreateUserAPIToken(ctx, name, role, secret, nil)
}

// CreateUserAPIToken stores a token acting for user userID (nil: an
// instance token).
func (s *Store) CreateUserAPIToken(ctx context.Context, name, role, secret string, userID *int64) (*APIToken, error) {
	t := &APIToken{Name: name, Role: role, Hash: hashToken(secret), Prefix: tokenPrefix(secret), UserID: userID}
	if err := s.inTx(ctx, func(tx *gorm.DB) error { return tx.Create(t).Error }); err != nil {
		if isDup(err) {
			return nil, conflictf("token already exists")
		}
		return nil, fmt.Errorf("create token %q: %w", name, err)
	}
	return t, nil
}

func tokenPrefix(secret string) string {
	if len(secret) > 8 {
		return secret[:8]
	}
	return secret
}

// TokenBySecret authenticates a bearer token.
func (s *Store) TokenBySecret(ctx context.Context, secret string) (*APIToken, error) {
	var t APIToken
	if err := s.reader(ctx).Where("hash = ?", hashToken(secret)).Take(&t).Error; err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("token: %w", ErrNotFound)
		}
		return nil, fmt.Errorf("token: %w", err)
	}
	return &t, nil
}

// TouchToken records that a token was used; callers throttle it.
func (s *Store) TouchToken(ctx context.Context, id int64) error {
	if err := s.writer(unaudited(ctx)).Model(&APIToken{}).Where("id = ?", id).Update("last_used_at", s.now()).Error; err != nil {
		return fmt.Errorf("touch token %d: %w", id, err)
	}
	return nil
}

// Tokens lists all tokens (without secrets).
func (s *Store) Tokens(ctx context.Context) ([]APIToken, error) {
	var ts []APIToken
	if err := s.reader(ctx).Order("id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return ts, nil
}

// CountTokens says how many tokens exist, for first-start bootstrap.
func (s *Store) CountTokens(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reader(ctx).Model(&APIToken{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count tokens: %w", err)
	}
	return n, nil
}

// DeleteToken revokes a token. The last admin token cannot go: without
// one nobody can make tokens again, and a restart only makes a new one
// for a database with no tokens at all.
func (s *Store) DeleteToken(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&APIToken{}).Where("role = ?", RoleAdmin).Order("id")
		if s.dialect == DialectPostgres {
			// Two deletes of the last two admins must take turns, or
			// each would see the other admin and both would go. SQLite
			// serialises writers at BEGIN already.
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var admins []int64
		if err := q.Pluck("id", &admins).Error; err != nil {
			return fmt.Errorf("delete token %d: %w", id, err)
		}
		if len(admins) == 1 && admins[0] == id {
			return conflictf("token %d is the last admin token; create another admin token before deleting it", id)
		}
		res := tx.Delete(&APIToken{}, id)
		if res.Error != nil {
			return fmt.Errorf("delete token %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("token", id)
		}
		return nil
	})
}

// EnsureToken makes sure secret is a valid admin token (the operator's
// UTSKICK_ADMIN_TOKEN) and reports whether it had to add it.
func (s *Store) EnsureToken(ctx context.Context, name, role, secret string) (bool, error) {
	if _, err := s.TokenBySecret(ctx, secret); err == nil {
		return false, nil
	}
	if _, err := s.CreateToken(ctx, name, role, secret); err != nil {
		return false, err
	}
	return true, nil
}
