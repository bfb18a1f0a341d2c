package worker

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker/mailer"
)

// OptinEvery is the least time between two confirmation mails to one
// address for one list, whatever asks for them (forms, resend buttons,
// imports, staff): a form cannot be used to flood someone's inbox.
const OptinEvery = 10 * time.Minute

// optin sends the double opt-in confirmation mail. Its one link confirms
// every list of the request.
func (h *Handlers) optin(ctx context.Context, t *asynq.Task) error {
	var p queue.OptinPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	sub, err := h.st.Subscriber(ctx, p.SubscriberID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("optin %d: %w", p.SubscriberID, err)
	}
	// Only lists still waiting for confirmation: a retry after the
	// subscriber confirmed, or left, sends nothing.
	waiting := map[int64]bool{}
	for _, m := range sub.Subscriptions {
		if m.Status == store.SubUnconfirmed {
			waiting[m.ListID] = true
		}
	}
	var ids []int64
	var names []string
	listLang := ""
	for _, id := range p.ListIDs {
		if !waiting[id] {
			continue
		}
		l, err := h.st.List(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("optin %d list %d: %w", p.SubscriberID, id, err)
		}
		ids = append(ids, id)
		names = append(names, l.Name)
		if listLang == "" {
			listLang = l.Language
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// A suppressed address gets no confirmation mail unless the
	// suppression stands for the person's own withdrawal or erasure,
	// which their confirmation lifts; bounces, complaints and staff
	// entries are for staff to lift.
	if sp, err := h.st.SuppressionOf(ctx, sub.Email); err == nil && !store.SelfLiftable(sp.Reason) {
		h.log.Info("opt-in mail not sent: address suppressed", "subscriber_id", sub.ID, "reason", sp.Reason)
		return nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("optin %d: %w", sub.ID, err)
	}
	// The limit is claimed in the database before sending, keyed by this
	// task's id: a retry of this task after a failed send may still send,
	// any other request within OptinEvery may not.
	allowed, err := h.st.ClaimOptinMails(ctx, sub.Email, ids, taskID(ctx), OptinEvery)
	if err != nil {
		return fmt.Errorf("optin %d: %w", sub.ID, err)
	}
	if len(allowed) < len(ids) {
		var keptIDs []int64
		var keptNames []string
		for i, id := range ids {
			if slices.Contains(allowed, id) {
				keptIDs, keptNames = append(keptIDs, id), append(keptNames, names[i])
			}
		}
		h.log.Info("opt-in mail limited", "subscriber_id", sub.ID, "lists", len(ids), "allowed", len(keptIDs))
		ids, names = keptIDs, keptNames
	}
	if len(ids) == 0 {
		return nil
	}
	now := h.now()
	tok := h.sign.ConfirmToken(links.Confirm{SubscriberID: sub.ID, Issued: now, ListIDs: ids})
	// The confirmation comes from the first list's sender, with its
	// postal address and contact line, as its campaigns will.
	lead, err := h.st.List(ctx, ids[0])
	if err != nil {
		return fmt.Errorf("optin %d: %w", sub.ID, err)
	}
	from, ident, err := h.compose.Sender(ctx, h.st, lead)
	if err != nil {
		return fmt.Errorf("optin %d: %w", sub.ID, err)
	}
	var buf bytes.Buffer
	err = h.tmpl.WriteOptin(&buf, mailtemplates.OptinInput{
		Language: cmp.Or(sub.Language, listLang), From: from, To: mail.Address{Name: sub.Name, Address: sub.Email},
		Org: h.compose.Org(), PostalAddress: ident.PostalAddress, Contact: ident.Contact,
		ListNames: names, ConfirmURL: h.compose.BaseURL() + "/confirm/" + tok,
		Expires: now.Add(h.cfg.OptinTTL), Date: now,
		MessageID: fmt.Sprintf("optin.%d.%d", sub.ID, now.UnixNano()) + h.compose.MessageIDSuffix(from),
	})
	if err != nil {
		return fmt.Errorf("optin %d: %w", sub.ID, err)
	}
	var sig bytes.Buffer
	msg, err := h.signed(&sig, buf.Bytes())
	if err != nil {
		return fmt.Errorf("optin %d: %v: %w", sub.ID, err, asynq.SkipRetry)
	}
	return h.sendOne(ctx, h.compose.PlainReturnPath(), sub.Email, msg)
}

// sendOne sends a single message outside campaigns (opt-in, test). A
// permanent refusal is final; anything else is retried by asynq.
func (h *Handlers) sendOne(ctx context.Context, returnPath, to string, msg []byte) error {
	ss := session{p: h.pool}
	_, err := ss.send(ctx, returnPath, to, msg)
	ss.release()
	res := mailer.Classify(err)
	switch {
	case err == nil:
		return nil
	case res.Class == mailer.Permanent:
		return fmt.Errorf("send to %s: %d %s: %w", to, res.Code, res.Text, asynq.SkipRetry)
	default:
		return fmt.Errorf("send to %s: %w", to, err)
	}
}
