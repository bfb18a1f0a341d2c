package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// ListChoice is what a staff member asks about one list of a subscriber,
// through the API or the web workspace.
type ListChoice struct {
	ListID int64
	// Status is the status asked for; "" asks for no change: an existing
	// subscription keeps its status, and a new one starts as the opt-in
	// rules say (see staffSubscription).
	Status string
	// TrackingConsent, when set, records the person's answer to open and
	// click tracking on the list; nil leaves it as it is.
	TrackingConsent *bool
}

// StaffResult is what a staff change did.
type StaffResult struct {
	Subscriber *Subscriber
	// NeedConfirm are the lists that now wait for the person to confirm:
	// an opt-in mail is due for them.
	NeedConfirm []int64
}

// StaffCreateSubscriber adds a person on staff's word: each list is
// subscribed as the opt-in rules say (staffSubscription), with
// consentBasis as the record of what the person agreed to. Like
// CreateSubscriber, it writes nothing when it fails.
func (s *Store) StaffCreateSubscriber(ctx context.Context, sub *Subscriber, lists []ListChoice, consentBasis string, by Actor) (*StaffResult, error) {
	res := &StaffResult{Subscriber: sub}
	ids := make([]int64, len(lists))
	for i, c := range lists {
		ids[i] = c.ListID
	}
	if err := checkListsFor(ctx, ids, GrantAudience); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.refuseSelfOnly(tx, "email", sub.Email); err != nil {
			return err
		}
		ins := make([]SubscriptionInput, 0, len(lists))
		for _, c := range lists {
			in, confirm := staffSubscription(nil, c, consentBasis)
			ins = append(ins, in)
			if confirm {
				res.NeedConfirm = append(res.NeedConfirm, c.ListID)
			}
		}
		return s.createSubscriber(tx, sub, ins, by)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// StaffUpdateSubscriber applies a staff member's change to subscriber
// id. Lists not named are left alone; named lists follow
// staffSubscription, so a subscription the person has confirmed stays
// confirmed unless staff ask for another status.
func (s *Store) StaffUpdateSubscriber(ctx context.Context, id int64, p SubscriberPatch, lists []ListChoice, consentBasis string, by Actor) (*StaffResult, error) {
	res := &StaffResult{}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var email []string
		if err := tx.Model(&Subscriber{}).Where("id = ?", id).Pluck("email", &email).Error; err != nil {
			return fmt.Errorf("subscriber %d: %w", id, err)
		}
		if len(email) == 0 {
			return notFound("subscriber", id)
		}
		ids := make([]int64, len(lists))
		for i, c := range lists {
			ids[i] = c.ListID
		}
		if err := s.subscriberFor(ctx, tx, id, GrantAudience, ids); err != nil {
			return err
		}
		if err := checkListsExist(tx, ids); err != nil {
			return err
		}
		var cur []Subscription
		if len(ids) > 0 {
			if err := tx.Where("subscriber_id = ? AND list_id IN ?", id, ids).Find(&cur).Error; err != nil {
				return fmt.Errorf("subscriptions of %d: %w", id, err)
			}
		}
		byList := make(map[int64]*Subscription, len(cur))
		for i := range cur {
			byList[cur[i].ListID] = &cur[i]
		}
		p.Lists, p.Reconsent = nil, false
		turnsOn := false
		for _, c := range lists {
			cur := byList[c.ListID]
			in, confirm := staffSubscription(cur, c, consentBasis)
			p.Lists = append(p.Lists, in)
			if confirm {
				res.NeedConfirm = append(res.NeedConfirm, c.ListID)
			}
			turnsOn = turnsOn || (in.Status != SubUnsubscribed && (cur == nil || cur.Status != in.Status))
		}
		if p.Email != nil && *p.Email != email[0] {
			AuditOf(ctx).ChangePersonal(id, "email", email[0], *p.Email)
			if err := s.refuseSelfOnly(tx, "email", *p.Email); err != nil {
				return err
			}
			email[0] = *p.Email
		}
		if turnsOn {
			if err := s.refuseSelfOnly(tx, "lists", email[0]); err != nil {
				return err
			}
		}
		sub, err := s.updateSubscriber(tx, id, p, by)
		res.Subscriber = sub
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// staffSubscription is the opt-in rule for what staff ask about one list,
// given the subscription as it is (nil: none yet). It returns what to
// write and whether the result waits for the person's confirmation.
//
//   - A subscription that exists keeps its status, its confirmation and
//     its consent record unless a different status is asked for; only its
//     tracking consent changes when that is given. Re-sending the lists a
//     person is on must never undo their confirmation.
//   - A new subscription, or a change of status to confirmed, needs a
//     consent basis (what the person agreed to, where, when); without one
//     it becomes unconfirmed and the person confirms through the opt-in
//     mail.
func staffSubscription(cur *Subscription, c ListChoice, consentBasis string) (SubscriptionInput, bool) {
	in := SubscriptionInput{ListID: c.ListID, Status: c.Status, TrackingConsent: c.TrackingConsent}
	if cur != nil && (c.Status == "" || c.Status == cur.Status) {
		in.Status = cur.Status
		return in, false
	}
	if in.Status == "" {
		in.Status = SubConfirmed
	}
	if in.Status == SubConfirmed {
		if consentBasis == "" {
			in.Status = SubUnconfirmed
		} else {
			in.ConsentBasis = consentBasis
		}
	}
	if cur != nil && cur.Status == in.Status {
		// Asked to confirm without a basis someone who has not
		// confirmed yet: they are still waiting for the first mail.
		return in, false
	}
	return in, in.Status == SubUnconfirmed
}

// refuseSelfOnly is a conflict naming field when email stands on the
// suppression list for the person's own act that only they can undo
// (SelfLiftable): their erasure, or "unsubscribe from everything". Staff
// cannot bring such a person back, whatever consent basis they hold; the
// person can, through a subscribe form and its confirmation link (or
// their own preference link), which lift the suppression. Without this the
// person would be on lists while the suppression silently kept every
// campaign from them.
func (s *Store) refuseSelfOnly(tx *gorm.DB, field, email string) error {
	var sp Suppression
	err := tx.Where("email_hash = ? AND reason IN ?", s.AddressHash(email), []string{SuppressErased, SuppressUnsubscribedAll}).Take(&sp).Error
	if isMissing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("suppression of %s: %w", email, err)
	}
	on := sp.CreatedAt.UTC().Format("2006-01-02")
	if sp.Reason == SuppressErased {
		return fieldConflictf(field, "%s was erased at the person's request (GDPR) on %s; only they can subscribe again, through a subscribe form", email, on)
	}
	return fieldConflictf(field, "%s unsubscribed from every list on %s; only they can subscribe again, through a subscribe form or their preference link", email, on)
}
