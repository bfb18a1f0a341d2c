package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// migrate0005 gives the database an identity of its own: a random id made
// once. Queue names carry it, so that tasks and task ids left in a Redis
// by another database (one restored from a backup, made anew for a test,
// or another installation sharing the server) are never mistaken for this
// one's: a dispatch task id "campaign:1:r1" retained from an earlier
// database would otherwise block campaign 1 of a new one.
func migrate0005(tx *gorm.DB, dialect string) error {
	if err := sqlStep(`CREATE TABLE instance (
	id VARCHAR(32) PRIMARY KEY,
	created_at {{ts}} NOT NULL
)`)(tx, dialect); err != nil {
		return err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("instance id: %w", err)
	}
	return tx.Exec("INSERT INTO instance (id, created_at) VALUES (?, ?)",
		hex.EncodeToString(b[:]), time.Now().UTC().Truncate(time.Microsecond)).Error
}

// InstanceID is the database's identity (16 hex digits).
func (s *Store) InstanceID(ctx context.Context) (string, error) {
	var ids []string
	if err := s.reader(ctx).Table("instance").Limit(1).Pluck("id", &ids).Error; err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("instance id: %w", ErrNotFound)
	}
	return ids[0], nil
}
