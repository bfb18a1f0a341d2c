package store

import (
	"context"
	"fmt"
)

// ImportSettings are the choices made for an uploaded file once staff
// have seen its columns and first rows (the web workspace uploads first
// and asks after).
type ImportSettings struct {
	Mode         string
	ListIDs      []int64
	Overwrite    bool
	ConsentBasis string
	// UserID is the staff user who starts the import.
	UserID int64
}

// ConfigureImport sets the choices of an import still uploading (its
// lists must exist: a *NotFoundError names the first that does not);
// QueueImport then hands it to the worker. An import already queued is
// a conflict: its choices are what it runs with.
func (s *Store) ConfigureImport(ctx context.Context, id int64, set ImportSettings) error {
	ids := IDList(set.ListIDs)
	if ids == nil {
		ids = IDList{}
	}
	upd := map[string]any{"mode": set.Mode, "list_ids": ids, "overwrite": set.Overwrite,
		"consent_basis": set.ConsentBasis, "updated_at": s.now()}
	if set.UserID != 0 {
		upd["user_id"] = set.UserID
	}
	db := s.writer(ctx)
	// The import must be one the actor sees, and every list it goes to
	// one the actor may import into (audience).
	if _, err := s.Import(ctx, id); err != nil {
		return err
	}
	if err := checkListsFor(ctx, set.ListIDs, GrantAudience); err != nil {
		return err
	}
	if err := checkListsExist(db, set.ListIDs); err != nil {
		return err
	}
	res := db.Model(&Import{}).Where("id = ? AND status = ?", id, ImportUploading).Updates(upd)
	if res.Error != nil {
		return fmt.Errorf("configure import %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := s.Import(ctx, id); err != nil {
			return err
		}
		return conflictf("import %d has started already", id)
	}
	return nil
}

// SubscriberDeliveries are the newest limit campaigns sent (or meant)
// to subscriber id, newest first, for the person's page.
func (s *Store) SubscriberDeliveries(ctx context.Context, id int64, limit int) ([]PersonalDelivery, error) {
	out := []PersonalDelivery{}
	err := s.reader(ctx).Table("deliveries d").
		Select("d.id, d.campaign_id, c.name AS campaign, c.subject, d.status, d.smtp_code, d.smtp_message, d.message_id, d.created_at, d.sent_at").
		Joins("JOIN campaigns c ON c.id = d.campaign_id").
		Where("d.subscriber_id = ?", id).Order("d.id DESC").Limit(limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("deliveries of %d: %w", id, err)
	}
	return out, nil
}

// ImportUploadSize is the size of the file stored for import id, in
// bytes, summed over its chunks.
func (s *Store) ImportUploadSize(ctx context.Context, id int64) (int64, error) {
	var n int64
	if err := s.reader(ctx).Model(&ImportChunk{}).Where("import_id = ?", id).
		Select("COALESCE(SUM(LENGTH(data)), 0)").Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("import %d size: %w", id, err)
	}
	return n, nil
}

// ListsBrief returns every list, ordered by id, without counts: for
// pages that only name lists (filters, choices), where counting a big
// list's subscriptions on every view would cost more than the page.
func (s *Store) ListsBrief(ctx context.Context) ([]List, error) {
	var ls []List
	if err := s.reader(ctx).Order("id").Find(&ls).Error; err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	return ls, nil
}
