package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// WithActor and ActorFrom (audit.go) carry who asks for a change in the
// context: campaign transitions record it on their event.

// attribute records by on a system-made event.
func attribute(ev *Event, by Actor) {
	ev.Source = by.Source
	if by.TokenID != 0 {
		id := by.TokenID
		ev.TokenID = &id
	}
	if by.UserID != 0 {
		id := by.UserID
		ev.UserID = &id
	}
	ev.IP, ev.UserAgent = by.IP, truncate(by.UserAgent, 500)
}

// emailPrefixEnd is the smallest string above every address starting
// with a prefix, so that a prefix search is an index range on
// subscribers.email rather than a LIKE over every row.
func emailPrefixEnd(prefix string) string { return prefix + "\U0010FFFF" }

// CampaignsStartedBetween returns the campaigns that started sending in
// [from, to), oldest first, with their lists: the campaigns of a monthly
// report. Campaigns are few (one a week, say), so this reads no index.
func (s *Store) CampaignsStartedBetween(ctx context.Context, from, to time.Time) ([]Campaign, error) {
	db := s.reader(ctx)
	var cs []Campaign
	if err := db.Where("started_at >= ? AND started_at < ?", from.UTC(), to.UTC()).Order("started_at, id").
		Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("campaigns between %s and %s: %w", from, to, err)
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
	if err := db.Where("campaign_id IN ?", ids).Order("campaign_id, list_id").Find(&cls).Error; err != nil {
		return nil, fmt.Errorf("lists of campaigns: %w", err)
	}
	for _, cl := range cls {
		cs[idx[cl.CampaignID]].ListIDs = append(cs[idx[cl.CampaignID]].ListIDs, cl.ListID)
	}
	return cs, nil
}

// normalizeSearch lower-cases an address search; addresses are stored
// lower-cased.
func normalizeSearch(q string) string { return Fold(strings.TrimSpace(q)) }
