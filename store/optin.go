package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// OptinMail records the last confirmation mail for one address and list.
// It is keyed by the address hash, not the subscriber, so that deleting
// and re-adding someone does not reset the limit.
type OptinMail struct {
	EmailHash string    `gorm:"primaryKey;size:64"`
	ListID    int64     `gorm:"primaryKey;autoIncrement:false"`
	TaskID    string    `gorm:"size:100;not null;default:''"`
	SentAt    time.Time `gorm:"not null"`
}

// ClaimOptinMails decides which of listIDs a confirmation mail to email
// may name now: those with no mail in the last window, and those whose
// last mail was claimed by the same task (taskID), which is a retry of a
// send that failed and so must still go out. It records the claim before
// the mail is sent, in one transaction, so that two tasks racing for the
// same address cannot both send.
func (s *Store) ClaimOptinMails(ctx context.Context, email string, listIDs []int64, taskID string, window time.Duration) ([]int64, error) {
	hash := s.AddressHash(email)
	now := s.now()
	var ok []int64
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		ok = ok[:0]
		for _, id := range listIDs {
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&OptinMail{EmailHash: hash, ListID: id, TaskID: taskID, SentAt: now})
			if res.Error != nil {
				return fmt.Errorf("claim opt-in mail: %w", res.Error)
			}
			if res.RowsAffected == 1 {
				ok = append(ok, id)
				continue
			}
			q := tx.Model(&OptinMail{}).Where("email_hash = ? AND list_id = ?", hash, id)
			if taskID != "" {
				q = q.Where("(sent_at <= ? OR task_id = ?)", now.Add(-window), taskID)
			} else {
				q = q.Where("sent_at <= ?", now.Add(-window))
			}
			res = q.Updates(map[string]any{"task_id": taskID, "sent_at": now})
			if res.Error != nil {
				return fmt.Errorf("claim opt-in mail: %w", res.Error)
			}
			if res.RowsAffected == 1 {
				ok = append(ok, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ok, nil
}
