package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"
)

// Session is a signed-in browser. The cookie holds a random secret; the
// row keeps only its SHA-256, so reading the database signs nobody in.
// Timestamps are the caller's clock: the HTTP side judges the idle and
// absolute timeouts with the same clock that wrote them.
type Session struct {
	ID         int64     `gorm:"primaryKey" json:"id"`
	Hash       string    `gorm:"size:64;not null;uniqueIndex:idx_sessions_hash" json:"-"`
	UserID     int64     `gorm:"not null;index:idx_sessions_user_id" json:"user_id"`
	CreatedAt  time.Time `gorm:"not null" json:"created_at"`
	LastSeenAt time.Time `gorm:"not null" json:"last_seen_at"`
	ExpiresAt  time.Time `gorm:"not null" json:"expires_at"` // absolute end, whatever the activity
	IP         string    `gorm:"size:64;not null;default:''" json:"ip"`
	UserAgent  string    `gorm:"size:500;not null;default:''" json:"user_agent"`
}

// NewSession describes a session to start.
type NewSession struct {
	UserID    int64
	IP        string
	UserAgent string
	Now       time.Time
	ExpiresAt time.Time
}

// newSecret returns 32 random bytes as base64url, for cookies and links.
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // cannot happen on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateSession starts a session and returns the secret for the cookie.
func (s *Store) CreateSession(ctx context.Context, p NewSession) (string, *Session, error) {
	secret := newSecret()
	now := p.Now.UTC().Truncate(time.Microsecond)
	sess := &Session{Hash: hashToken(secret), UserID: p.UserID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: p.ExpiresAt.UTC().Truncate(time.Microsecond), IP: truncate(p.IP, 64), UserAgent: truncate(p.UserAgent, 500)}
	if err := s.writer(ctx).Create(sess).Error; err != nil {
		return "", nil, fmt.Errorf("create session of user %d: %w", p.UserID, err)
	}
	return secret, sess, nil
}

// SessionBySecret returns the session whose cookie holds secret, and its
// user. Whether it has timed out is the caller's judgement.
func (s *Store) SessionBySecret(ctx context.Context, secret string) (*Session, *User, error) {
	var sess Session
	if err := s.reader(ctx).Where("hash = ?", hashToken(secret)).Take(&sess).Error; err != nil {
		if isMissing(err) {
			return nil, nil, fmt.Errorf("session: %w", ErrNotFound)
		}
		return nil, nil, fmt.Errorf("session: %w", err)
	}
	u, err := s.User(ctx, sess.UserID)
	if err != nil {
		return nil, nil, err
	}
	return &sess, u, nil
}

// TouchSession records activity; callers do it at most once a minute.
func (s *Store) TouchSession(ctx context.Context, id int64, at time.Time) error {
	if err := s.writer(unaudited(ctx)).Model(&Session{}).Where("id = ?", id).
		Update("last_seen_at", at.UTC().Truncate(time.Microsecond)).Error; err != nil {
		return fmt.Errorf("touch session %d: %w", id, err)
	}
	return nil
}

// EndSession deletes session id of user userID; another user's session
// is ErrNotFound, as if it did not exist.
func (s *Store) EndSession(ctx context.Context, userID, id int64) error {
	res := s.writer(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&Session{})
	if res.Error != nil {
		return fmt.Errorf("end session %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("session", id)
	}
	return nil
}

// Sessions lists a user's sessions, the most recently active first.
func (s *Store) Sessions(ctx context.Context, userID int64) ([]Session, error) {
	var ss []Session
	if err := s.reader(ctx).Where("user_id = ?", userID).Order("last_seen_at DESC, id DESC").Find(&ss).Error; err != nil {
		return nil, fmt.Errorf("sessions of user %d: %w", userID, err)
	}
	return ss, nil
}

// DeleteStaleSessions removes sessions past their absolute end or idle
// since before idleBefore; it keeps the table from growing with every
// sign-in that never signs out.
func (s *Store) DeleteStaleSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	// Housekeeping, not the action of the request that runs it.
	res := s.writer(unaudited(ctx)).Where("expires_at <= ? OR last_seen_at < ?", now.UTC(), idleBefore.UTC()).Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete stale sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}
