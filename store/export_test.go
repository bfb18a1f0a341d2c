package store

import (
	"context"

	"gorm.io/gorm"
)

// Models exposes the live models to the external test package.
var Models = models

// DBForTest exposes the writer handle to schema tests.
func DBForTest(s *Store) *gorm.DB { return s.db }

// SetFanout makes MaterializeDeliveries cover chunk subscriber ids per
// transaction and call after (if not nil) once each has committed.
func SetFanout(s *Store, chunk int64, after func(from int64)) {
	s.fanout.chunk, s.fanout.after = chunk, after
}

// UnsubRequest is one request of UnsubscribeSet and UnsubscribeBatch.
type UnsubRequest struct {
	SubscriberID, CampaignID int64
	ListIDs                  []int64
	Link                     bool // the link's scope (UnsubscribeLink)
}

func unsubReqs(rs []UnsubRequest) []*unsubReq {
	out := make([]*unsubReq, len(rs))
	for i, r := range rs {
		out[i] = &unsubReq{subscriberID: r.SubscriberID, campaignID: r.CampaignID, listIDs: r.ListIDs, link: r.Link,
			by: Actor{Source: "test"}}
	}
	return out
}

// UnsubscribeSet writes rs with the one-statement path alone, in one
// transaction: the lists each changed, and which named nobody.
func UnsubscribeSet(s *Store, rs []UnsubRequest) ([][]int64, []bool, error) {
	reqs := unsubReqs(rs)
	err := s.inTx(context.Background(), func(tx *gorm.DB) error { return s.unsubscribeSet(tx, reqs) })
	changed, gone := make([][]int64, len(rs)), make([]bool, len(rs))
	for i, r := range reqs {
		changed[i], gone[i] = r.changed, r.gone
	}
	return changed, gone, err
}

// UnsubscribeBatch writes rs as concurrent unsubscribes are written.
func UnsubscribeBatch(s *Store, rs []UnsubRequest) ([][]int64, []error) {
	reqs := unsubReqs(rs)
	errs := s.unsubscribeBatch(context.Background(), reqs)
	changed := make([][]int64, len(rs))
	for i, r := range reqs {
		changed[i] = r.changed
	}
	return changed, errs
}
