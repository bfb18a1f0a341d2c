package worker

import (
	"context"
	"sync"
	"time"

	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker/mailer"
)

// campaignCache keeps each campaign compiled once per process and
// revision, and its status fresh to within statusTTL, so that senders
// notice a pause quickly without asking the database per message.
type campaignCache struct {
	mu sync.Mutex
	m  map[int64]*campaignEntry
}

const statusTTL = 500 * time.Millisecond

type campaignEntry struct {
	*compose.Composed
	camp *store.Campaign
	// bodies is the DKIM body hash state of what every recipient's
	// message shares, learnt from the first messages.
	bodies mailer.BodyCache

	mu       sync.Mutex
	status   string
	statusAt time.Time
}

// compiled returns the campaign ready to render, compiling it on first use.
func (h *Handlers) compiled(ctx context.Context, id int64) (*campaignEntry, error) {
	c, err := h.st.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	h.campaigns.mu.Lock()
	e := h.campaigns.m[id]
	h.campaigns.mu.Unlock()
	if e != nil && e.camp.Revision == c.Revision && e.camp.UpdatedAt.Equal(c.UpdatedAt) {
		e.setStatus(c.Status, h.now())
		return e, nil
	}
	e, err = h.compile(ctx, c)
	if err != nil {
		return nil, err
	}
	h.campaigns.mu.Lock()
	h.campaigns.m[id] = e
	h.campaigns.mu.Unlock()
	return e, nil
}

// compile renders what every recipient of c shares.
func (h *Handlers) compile(ctx context.Context, c *store.Campaign) (*campaignEntry, error) {
	comp, err := h.compose.Compose(ctx, h.st, c)
	if err != nil {
		return nil, err
	}
	return &campaignEntry{Composed: comp, camp: c, status: c.Status, statusAt: h.now()}, nil
}

// statusNow is the cached status, read under the entry's lock.
func (e *campaignEntry) statusNow() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

func (e *campaignEntry) setStatus(s string, now time.Time) {
	e.mu.Lock()
	e.status, e.statusAt = s, now
	e.mu.Unlock()
}

// currentStatus returns the campaign's status, at most statusTTL old.
func (h *Handlers) currentStatus(ctx context.Context, e *campaignEntry) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := h.now()
	if now.Sub(e.statusAt) < statusTTL {
		return e.status, nil
	}
	st, err := h.st.CampaignStatus(ctx, e.camp.ID)
	if err != nil {
		return "", err
	}
	e.status, e.statusAt = st, now
	return st, nil
}

// forget drops a finished campaign from the cache.
func (h *Handlers) forget(id int64) {
	h.campaigns.mu.Lock()
	delete(h.campaigns.m, id)
	h.campaigns.mu.Unlock()
}
