package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// CountRecipients is how many people a campaign to listIDs would reach
// now: distinct confirmed subscribers of the lists, less the suppressed.
// It is the same selection MaterializeDeliveries makes, so the number a
// confirmation page shows is the number of deliveries a send creates
// (unless the audience changes in between).
func (s *Store) CountRecipients(ctx context.Context, listIDs []int64) (int64, error) {
	if len(listIDs) == 0 {
		return 0, nil
	}
	var n int64
	err := s.reader(ctx).Raw(`SELECT COUNT(DISTINCT m.subscriber_id)
		FROM subscriptions m JOIN subscribers s ON s.id = m.subscriber_id
		WHERE m.list_id IN ? AND m.status = ?
		  AND NOT EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email_hash = s.email_hash)`,
		listIDs, SubConfirmed).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count recipients: %w", err)
	}
	return n, nil
}

// CalendarCampaigns returns the campaigns that are planned or went out in
// [from, to): scheduled, sending, paused or sent, by the time they start
// (send_at) or started (started_at). Drafts and cancelled ones have no
// place on a calendar.
func (s *Store) CalendarCampaigns(ctx context.Context, from, to time.Time) ([]Campaign, error) {
	var cs []Campaign
	err := s.reader(ctx).
		Where("status IN ?", []string{CampaignScheduled, CampaignSending, CampaignPaused, CampaignSent}).
		Where("COALESCE(started_at, send_at) >= ? AND COALESCE(started_at, send_at) < ?", from.UTC(), to.UTC()).
		Order("id").Limit(2000).Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("calendar campaigns: %w", err)
	}
	if len(cs) == 0 {
		return cs, nil
	}
	ids := make([]int64, len(cs))
	idx := map[int64]int{}
	for i := range cs {
		ids[i], idx[cs[i].ID] = cs[i].ID, i
		cs[i].ListIDs = []int64{}
	}
	var cls []CampaignList
	if err := s.reader(ctx).Where("campaign_id IN ?", ids).Order("campaign_id, list_id").Find(&cls).Error; err != nil {
		return nil, fmt.Errorf("campaign lists: %w", err)
	}
	for _, cl := range cls {
		i := idx[cl.CampaignID]
		cs[i].ListIDs = append(cs[i].ListIDs, cl.ListID)
	}
	return cs, nil
}

// CampaignCounts is the number of campaigns in each status.
func (s *Store) CampaignCounts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	if err := s.reader(ctx).Model(&Campaign{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("campaign counts: %w", err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// AttributeKeys returns the attribute names subscribers of listIDs (of
// every list when empty) have, sorted, from a sample of at most 1000 of
// them: what an editor can offer as {{ attr.name }} placeholders.
func (s *Store) AttributeKeys(ctx context.Context, listIDs []int64) ([]string, error) {
	tx := s.reader(ctx).Model(&Subscriber{}).Select("subscribers.attributes").Where("subscribers.attributes <> '{}'").Limit(1000)
	if len(listIDs) > 0 {
		tx = tx.Where("subscribers.id IN (SELECT subscriber_id FROM subscriptions WHERE list_id IN ?)", listIDs)
	}
	var rows []Attributes
	if err := tx.Pluck("subscribers.attributes", &rows).Error; err != nil {
		return nil, fmt.Errorf("attribute keys: %w", err)
	}
	seen := map[string]bool{}
	var keys []string
	for _, a := range rows {
		for k := range a {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}
