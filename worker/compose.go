package worker

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker/links"
)

// Composer turns a campaign into messages: the part that the sender, test
// sends and the API's preview share, so a preview is exactly what a
// subscriber gets.
type Composer struct {
	baseURL      string
	from         mail.Address
	org          string
	mailtoDomain string
	tmpl         *mailtemplates.Templates
	sign         *links.Signer
	tag          string
	bounceDomain string
	returnPath   string
	noVERP       bool
}

// NewComposer returns a Composer for cfg (defaults applied as in
// NewHandlers).
func NewComposer(cfg Config, tmpl *mailtemplates.Templates, sign *links.Signer) *Composer {
	cfg.setDefaults()
	return &Composer{baseURL: cfg.BaseURL, from: cfg.From, org: cfg.Org, mailtoDomain: cfg.MailtoDomain,
		tmpl: tmpl, sign: sign, tag: sign.InstanceTag(),
		bounceDomain: cfg.BounceDomain, returnPath: cfg.ReturnPath, noVERP: cfg.NoVERP}
}

// Composed is a campaign ready to be written for any recipient.
type Composed struct {
	Lists    []store.List
	From     mail.Address
	Compiled *mailtemplates.Compiled
}

// Compose compiles c with its lists.
func (cp *Composer) Compose(ctx context.Context, st *store.Store, c *store.Campaign) (*Composed, error) {
	e := &Composed{From: cp.from}
	for _, id := range c.ListIDs {
		l, err := st.List(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("campaign %d list %d: %w", c.ID, id, err)
		}
		e.Lists = append(e.Lists, *l)
	}
	if c.FromAddr != "" {
		a, err := mail.ParseAddress(c.FromAddr)
		if err != nil {
			return nil, fmt.Errorf("campaign %d from %q: %w", c.ID, c.FromAddr, err)
		}
		e.From = *a
	}
	names := make([]string, len(e.Lists))
	var track mailtemplates.Tracking
	for i, l := range e.Lists {
		names[i] = l.Name
		track.Clicks = track.Clicks || l.TrackClicks
		track.Opens = track.Opens || l.TrackOpens
	}
	var listID string
	headers := []mailtemplates.Header{{Name: "Precedence", Value: "bulk"}}
	if len(e.Lists) > 0 {
		// List-Id names the campaign's first list; RFC 2919 wants one.
		listID = e.Lists[0].Slug + "." + cp.mailtoDomain
		headers = append(headers, mailtemplates.Header{Name: "Feedback-ID",
			Value: fmt.Sprintf("c%d:l%d:%s:utskick", c.ID, e.Lists[0].ID, cp.tag)})
	}
	comp, err := cp.tmpl.CompileCampaign(mailtemplates.CampaignInput{
		Subject: c.Subject, Preheader: c.Preheader, Body: c.Body, From: e.From,
		ListName: strings.Join(names, ", "), ListID: listID, Org: cp.org, Headers: headers, Tracking: track,
	})
	if err != nil {
		return nil, fmt.Errorf("compile campaign %d: %w", c.ID, err)
	}
	e.Compiled = comp
	return e, nil
}

// Recipient builds the per-recipient values of a campaign message.
func (cp *Composer) Recipient(campaignID int64, from mail.Address, r store.Recipient, now time.Time) *mailtemplates.Recipient {
	unsub := cp.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: r.SubscriberID, CampaignID: campaignID})
	mid := r.MessageID
	if mid == "" {
		mid = cp.MessageID(r.DeliveryID, campaignID, from)
	}
	return &mailtemplates.Recipient{
		Email: r.Email, Name: r.Name, Language: r.Language, Attributes: r.Attributes,
		UnsubscribeURL:    cp.baseURL + "/unsubscribe/" + unsub,
		UnsubscribeMailto: "mailto:unsubscribe+" + unsub + "@" + cp.mailtoDomain + "?subject=unsubscribe",
		PreferencesURL:    cp.baseURL + "/preferences/" + cp.sign.PreferencesToken(r.SubscriberID),
		MessageID:         mid,
		Date:              now,
	}
}

// MessageIDSuffix completes "d<delivery>.c<campaign>" into a Message-ID.
func (cp *Composer) MessageIDSuffix(from mail.Address) string {
	return "." + cp.tag + "@" + domainOf(from.Address)
}

// MessageID is stable per delivery: a resend after a crash carries the
// same Message-ID, so receivers can drop the duplicate. The claim stores
// the same value on the row.
func (cp *Composer) MessageID(deliveryID, campaignID int64, from mail.Address) string {
	return fmt.Sprintf("d%d.c%d%s", deliveryID, campaignID, cp.MessageIDSuffix(from))
}
