package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
)

// TestScheduledCampaignGoesOutWhenTheWorkersClockReachesItsTime: a
// campaign scheduled an hour ahead, its wake task waiting for the queue's
// clock, stays scheduled until the clock of the store and the worker
// reaches send_at; then reconcile sends it, not before that instant.
func TestScheduledCampaignGoesOutWhenTheWorkersClockReachesItsTime(t *testing.T) {
	clock := &storetest.Clock{}
	st := storetest.OpenDSN(t, storetest.SQLiteDSN(t), storetest.Options{Now: clock.Now})
	e := newEnv(t, st, nil, func(d *worker.Deps) { d.Now = clock.Now })
	f := seed(t, st, 3)
	ctx := context.Background()
	at := clock.Now().Add(time.Hour).Truncate(time.Second)
	c, err := st.ScheduleCampaign(ctx, f.camp.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	// As the API does: the wake task at send_at, by the queue's clock.
	if err := e.q.Enqueue(ctx, queue.NewWakeTask(c.ID, c.Revision, at)); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	time.Sleep(1500 * time.Millisecond) // three reconciles
	if c, _ := st.Campaign(ctx, f.camp.ID); c.Status != store.CampaignScheduled {
		t.Fatalf("campaign is %s an hour before its time", c.Status)
	}
	clock.Advance(time.Hour)
	e.waitSent(t, f.camp.ID, 20*time.Second)
	c, err = st.Campaign(ctx, f.camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.StartedAt == nil || c.StartedAt.Before(at) {
		t.Errorf("started at %v, before its time %v", c.StartedAt, at)
	}
}
