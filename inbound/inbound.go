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

	"github.com/storsthlm/utskick/inbound/bounce"
	"github.com/storsthlm/utskick/internal/metrics"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

// Processor handles inbound mail.
type Processor struct {
	st   *store.Store
	sign *links.Signer
	log  *slog.Logger
	cfg  Config
}

// Config tunes what bounces and complaints do.
type Config struct {
	Bounces   store.BouncePolicy // when soft bounces suppress
	Guardrail store.Guardrail    // checked after each bounce or complaint
	Metrics   *metrics.Metrics
}

// Configure sets c and returns p.
func (p *Processor) Configure(c Config) *Processor {
	p.cfg = c
	return p
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
	CampaignID   int64       `json:"campaign_id,omitempty"`
	Lists        []int64     `json:"lists,omitempty"`
	Suppressed   bool        `json:"suppressed,omitempty"`
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

// HandleFunc is Handle for a caller that knows nothing of this package
// (the API's POST /inbound): the result as any, and input that is not
// mail reported as an error wrapping notMail, the caller's own sentinel.
func (p *Processor) HandleFunc(notMail error) func(ctx context.Context, envelopeRcpts []string, raw io.Reader) (any, error) {
	return func(ctx context.Context, envelopeRcpts []string, raw io.Reader) (any, error) {
		res, err := p.Handle(ctx, envelopeRcpts, raw)
		if errors.Is(err, ErrNotMail) {
			return nil, fmt.Errorf("%w: %w", notMail, err)
		}
		if err != nil {
			return nil, err
		}
		return res, nil
	}
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
		res, err = p.unsubscribe(ctx, rep, res)
	default:
		res, err = p.delivery(ctx, rep, res)
	}
	if err == nil {
		p.cfg.Metrics.Inbound(string(res.Kind), res.Action)
	}
	return res, err
}

// unsubscribe handles the mailto: of List-Unsubscribe, and a reply to the
// bounce address that asks to unsubscribe: the token's subscriber leaves
// the lists of the token's campaign, as its link would
// (store.UnsubscribeLink: all lists for a token of no campaign, or of one
// deleted since).
func (p *Processor) unsubscribe(ctx context.Context, rep bounce.Report, res Result) (Result, error) {
	u, err := p.sign.OpenUnsubscribe(rep.Token)
	if err != nil || u.SubscriberID == 0 {
		u, err = p.deliveryUnsubscribe(ctx, rep.Token)
	}
	if err != nil || u.SubscriberID == 0 {
		p.log.Warn("inbound unsubscribe with an invalid token ignored")
		return res, nil
	}
	res.SubscriberID = u.SubscriberID
	by := store.Actor{Source: "mailto"}
	if u.CampaignID != 0 {
		by.Data = map[string]any{"campaign_id": u.CampaignID}
	}
	changed, err := p.st.UnsubscribeLink(ctx, u.SubscriberID, u.CampaignID, by)
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

// deliveryUnsubscribe opens the VERP token of a bounces+<token>@ address,
// which names one delivery, into the subscriber and campaign of that
// delivery.
func (p *Processor) deliveryUnsubscribe(ctx context.Context, token string) (links.Unsubscribe, error) {
	id, err := p.sign.OpenBounce(token)
	if err != nil {
		return links.Unsubscribe{}, err
	}
	campaignID, subscriberID, err := p.st.DeliveryRecipient(ctx, id)
	if err != nil {
		return links.Unsubscribe{}, err
	}
	return links.Unsubscribe{SubscriberID: subscriberID, CampaignID: campaignID}, nil
}

// eventOf maps a report's kind to the event it becomes; delays and
// anything unknown become nothing.
var eventOf = map[bounce.Kind]string{
	bounce.KindHardBounce:   store.EventBounced,
	bounce.KindSoftBounce:   store.EventSoftBounced,
	bounce.KindPolicyBounce: store.EventPolicyBounced,
	bounce.KindComplaint:    store.EventComplained,
}

// delivery handles reports about a delivery: bounces and complaints. The
// VERP token names the delivery; a report without a valid token, about a
// delivery that does not exist, or a delay warning changes nothing.
func (p *Processor) delivery(ctx context.Context, rep bounce.Report, res Result) (Result, error) {
	kind, ok := eventOf[rep.Kind]
	if rep.Token == "" || !ok {
		return res, nil
	}
	id, err := p.sign.OpenBounce(rep.Token)
	if err != nil {
		p.log.Warn("inbound report with an invalid token ignored", "kind", rep.Kind)
		return res, nil
	}
	res.DeliveryID = id
	r, err := p.st.RecordDeliveryReport(ctx, store.DeliveryReport{DeliveryID: id, Kind: kind, Status: rep.Status,
		Diagnostic: strings.TrimSpace(rep.Diagnostic), FeedbackType: rep.FeedbackType, Source: "inbound"}, p.cfg.Bounces)
	if errors.Is(err, store.ErrNotFound) {
		p.log.Warn("inbound report about an unknown delivery ignored", "kind", rep.Kind, "delivery_id", id)
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Action, res.SubscriberID, res.CampaignID, res.Lists, res.Suppressed = r.Action, r.SubscriberID, r.CampaignID, r.Lists, r.Suppressed
	p.log.Info("inbound report", "kind", rep.Kind, "action", r.Action, "delivery_id", id, "campaign_id", r.CampaignID,
		"status", rep.Status, "suppressed", r.Suppressed)
	if r.Action != "duplicate" {
		reason, err := p.st.CheckGuardrail(ctx, r.CampaignID, p.cfg.Guardrail)
		if err != nil {
			p.log.Warn("guardrail check", "campaign_id", r.CampaignID, "err", err)
		} else if reason != "" {
			p.cfg.Metrics.GuardrailPause()
			p.log.Warn("campaign paused by guardrail", "campaign_id", r.CampaignID, "reason", reason)
		}
	}
	return res, nil
}
