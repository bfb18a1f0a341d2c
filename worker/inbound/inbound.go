// Package inbound acts on mail sent to utskick itself: the mailto
// unsubscribe of List-Unsubscribe (unsubscribe+<token>@), and bounces and
// complaints returned to the VERP envelope sender (bounces+<token>@). The
// mail arrives over the embedded SMTP listener or POST /api/v1/inbound;
// package bounce classifies it, this package changes the store.
package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker/bounce"
	"github.com/storsthlm/utskick/worker/links"
)

// Processor handles inbound mail.
type Processor struct {
	st   *store.Store
	sign *links.Signer
	log  *slog.Logger
}

// New returns a Processor.
func New(st *store.Store, sign *links.Signer, log *slog.Logger) *Processor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Processor{st: st, sign: sign, log: log}
}

// Result says what Handle did with a message.
type Result struct {
	Kind         bounce.Kind `json:"kind"`
	Action       string      `json:"action"` // "unsubscribed", "ignored", ...
	SubscriberID int64       `json:"subscriber_id,omitempty"`
	DeliveryID   int64       `json:"delivery_id,omitempty"`
	Lists        []int64     `json:"lists,omitempty"`
}

// ErrNotMail is returned for input that is not a mail message at all.
var ErrNotMail = bounce.ErrNotMail

// ForUs reports whether any envelope recipient is one of utskick's own
// token addresses, so an SMTP listener can tell inbound mail from mail to
// capture or relay.
func ForUs(rcpts []string) bool {
	for _, r := range rcpts {
		if _, _, ok := bounce.TokenFromAddress(r); ok {
			return true
		}
	}
	return false
}

// Handle classifies one raw message and acts on it. A message that names
// no valid token, or one whose token was forged or altered, changes
// nothing and is reported as ignored.
func (p *Processor) Handle(ctx context.Context, envelopeRcpts []string, raw io.Reader) (Result, error) {
	rep, err := bounce.Parse(raw, envelopeRcpts)
	if err != nil {
		return Result{}, fmt.Errorf("inbound: %w", err)
	}
	res := Result{Kind: rep.Kind, Action: "ignored"}
	switch rep.Kind {
	case bounce.KindUnsubscribe:
		return p.unsubscribe(ctx, rep, res)
	default:
		return p.delivery(ctx, rep, res)
	}
}

// unsubscribe handles the mailto: of List-Unsubscribe: the token's
// subscriber leaves the lists of the token's campaign (all lists for a
// token from no campaign).
func (p *Processor) unsubscribe(ctx context.Context, rep bounce.Report, res Result) (Result, error) {
	u, err := p.sign.OpenUnsubscribe(rep.Token)
	if err != nil || u.SubscriberID == 0 {
		p.log.Warn("inbound unsubscribe with an invalid token ignored")
		return res, nil
	}
	res.SubscriberID = u.SubscriberID
	var lists []int64
	if u.CampaignID != 0 {
		c, err := p.st.Campaign(ctx, u.CampaignID)
		switch {
		case err == nil:
			lists = c.ListIDs
		case !errors.Is(err, store.ErrNotFound):
			return res, err
		}
	}
	by := store.Actor{Source: "mailto"}
	if u.CampaignID != 0 {
		by.Data = map[string]any{"campaign_id": u.CampaignID}
	}
	changed, err := p.st.Unsubscribe(ctx, u.SubscriberID, lists, u.CampaignID, by)
	if errors.Is(err, store.ErrNotFound) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Action, res.Lists = "unsubscribed", changed
	p.log.Info("unsubscribed by mail", "subscriber_id", u.SubscriberID, "campaign_id", u.CampaignID, "lists", len(changed))
	return res, nil
}

// delivery handles reports about a delivery: bounces, delays, complaints.
// The VERP token names the delivery.
func (p *Processor) delivery(ctx context.Context, rep bounce.Report, res Result) (Result, error) {
	if rep.Token == "" || rep.Kind == bounce.KindUnknown {
		return res, nil
	}
	id, err := p.sign.OpenBounce(rep.Token)
	if err != nil {
		p.log.Warn("inbound report with an invalid token ignored", "kind", rep.Kind)
		return res, nil
	}
	res.DeliveryID = id
	p.log.Info("inbound report", "kind", rep.Kind, "delivery_id", id, "status", rep.Status,
		"diagnostic", strings.TrimSpace(rep.Diagnostic))
	return res, nil
}
