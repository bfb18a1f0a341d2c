package worker

import (
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

// ReturnPath is the envelope sender of one delivery: the VERP address
// bounces+<signed delivery id>@<bounce domain>, so a bounce that arrives
// long after the SMTP conversation still names its delivery, whatever the
// receiving system did to the message. One HMAC per message.
func (cp *Composer) ReturnPath(deliveryID int64) string {
	if cp.noVERP {
		return cp.returnPath
	}
	return "bounces+" + cp.sign.BounceToken(deliveryID) + "@" + cp.bounceDomain
}

// Track gives one recipient's message its tracked links and open pixel,
// as far as t (the subscriber's consent and the lists' switches) allows.
// Link tokens are signed (delivery, link index); the redirect looks the
// URL up by them and never takes it from the request.
func (cp *Composer) Track(r *mailtemplates.Recipient, deliveryID int64, t store.Tracking) {
	if t.Clicks {
		r.LinkURL = func(i int) string {
			return cp.baseURL + "/l/" + cp.sign.Sign(links.KindClick, uint64(deliveryID), uint64(i))
		}
	}
	if t.Opens {
		r.OpenURL = cp.baseURL + "/o/" + cp.sign.Sign(links.KindOpen, uint64(deliveryID))
	}
}

// outcomeLabel names an outcome for the sends counter.
func outcomeLabel(o store.Outcome) string {
	switch o.Status {
	case store.DeliveryFailed:
		return "failed_" + o.FailureClass
	case store.DeliveryPending:
		return "retry"
	}
	return o.Status
}
