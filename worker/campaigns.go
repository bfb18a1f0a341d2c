package worker

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
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
	camp     *store.Campaign
	lists    []store.List
	compiled *mailtemplates.Compiled
	from     mail.Address

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
	e := &campaignEntry{camp: c, status: c.Status, statusAt: h.now()}
	for _, id := range c.ListIDs {
		l, err := h.st.List(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("campaign %d list %d: %w", c.ID, id, err)
		}
		e.lists = append(e.lists, *l)
	}
	e.from = h.cfg.From
	if c.FromAddr != "" {
		a, err := mail.ParseAddress(c.FromAddr)
		if err != nil {
			return nil, fmt.Errorf("campaign %d from %q: %w", c.ID, c.FromAddr, err)
		}
		e.from = *a
	}
	names := make([]string, len(e.lists))
	for i, l := range e.lists {
		names[i] = l.Name
	}
	listName := strings.Join(names, ", ")
	var listID string
	headers := []mailtemplates.Header{{Name: "Precedence", Value: "bulk"}}
	if len(e.lists) > 0 {
		// List-Id names the campaign's first list; RFC 2919 wants one.
		listID = e.lists[0].Slug + "." + h.cfg.MailtoDomain
		headers = append(headers, mailtemplates.Header{Name: "Feedback-ID",
			Value: fmt.Sprintf("c%d:l%d:%s:utskick", c.ID, e.lists[0].ID, h.tag)})
	}
	comp, err := h.tmpl.CompileCampaign(mailtemplates.CampaignInput{
		Subject: c.Subject, Preheader: c.Preheader, Body: c.Body, From: e.from,
		ListName: listName, ListID: listID, Org: h.cfg.Org, Headers: headers,
	})
	if err != nil {
		return nil, fmt.Errorf("compile campaign %d: %w", c.ID, err)
	}
	e.compiled = comp
	return e, nil
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

// recipient builds the per-recipient values of a campaign message.
func (h *Handlers) recipient(campaignID int64, r store.Recipient, now time.Time) *mailtemplates.Recipient {
	unsub := h.sign.UnsubscribeToken(linksUnsub(r.SubscriberID, campaignID))
	mid := r.MessageID
	if mid == "" {
		mid = h.messageID(r.DeliveryID, campaignID, domainOf(h.cfg.From.Address))
	}
	return &mailtemplates.Recipient{
		Email: r.Email, Name: r.Name, Language: r.Language, Attributes: r.Attributes,
		UnsubscribeURL:    h.cfg.BaseURL + "/unsubscribe/" + unsub,
		UnsubscribeMailto: "mailto:unsubscribe+" + unsub + "@" + h.cfg.MailtoDomain + "?subject=unsubscribe",
		PreferencesURL:    h.cfg.BaseURL + "/preferences/" + h.sign.PreferencesToken(r.SubscriberID),
		MessageID:         mid,
		Date:              now,
	}
}

// messageID is stable per delivery: a resend after a crash carries the
// same Message-ID, so receivers can drop the duplicate.
func (h *Handlers) messageID(deliveryID, campaignID int64, domain string) string {
	return fmt.Sprintf("d%d.c%d.%s@%s", deliveryID, campaignID, h.tag, domain)
}
