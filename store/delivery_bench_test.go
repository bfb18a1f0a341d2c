package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// BenchmarkRecordOutcomes measures the cost per delivery of writing
// outcomes in groups of different sizes, which is what the committer's
// gather window trades latency for.
func BenchmarkRecordOutcomes(b *testing.B) {
	for _, group := range []int{1, 5, 20, 100} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			st := storetest.Open(b)
			ctx := context.Background()
			l := &store.List{Slug: "l", Name: "l"}
			st.CreateList(ctx, l)
			const n = 20000
			subs := make([]store.Subscriber, n)
			for i := range subs {
				subs[i] = store.Subscriber{Email: fmt.Sprintf("r%d@example.org", i), Language: "sv"}
			}
			if err := st.InsertSubscribersBulk(ctx, subs, l.ID, "bench"); err != nil {
				b.Fatal(err)
			}
			c := &store.Campaign{Name: "c", Subject: "s", Body: "b", ListIDs: []int64{l.ID}}
			st.CreateCampaign(ctx, c)
			st.ScheduleCampaign(ctx, c.ID, time.Time{})
			st.MaterializeDeliveries(ctx, c.ID, 1)
			var ids []int64
			for k := 0; ; k++ {
				res, err := st.ClaimDeliveries(ctx, store.ClaimParams{CampaignID: c.ID, Limit: 1000,
					Token: fmt.Sprint("t", k), Lease: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Recipients) == 0 {
					break
				}
				for _, r := range res.Recipients {
					ids = append(ids, r.DeliveryID)
				}
			}
			b.ResetTimer()
			i := 0
			for b.Loop() {
				outs := make([]store.Outcome, group)
				for j := range outs {
					outs[j] = store.Outcome{DeliveryID: ids[i%len(ids)], Status: store.DeliverySent, SMTPCode: 250,
						SMTPMessage: "2.0.0 Ok: queued as 4Fbx3", MessageID: "m", At: time.Now()}
					i++
				}
				if err := st.RecordOutcomes(ctx, outs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(i), "µs/delivery")
		})
	}
}
