package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// testSend sends the campaign, as it is now, to a few addresses with a
// [TEST] subject. An address that belongs to a subscriber gets that
// subscriber's personalisation; others get the placeholders' defaults.
// Its personal links are inert (StaffRecipient): a test is staff's mail.
// Test sends ignore lists and suppression and are not deliveries.
func (h *Handlers) testSend(ctx context.Context, t *asynq.Task) error {
	var p queue.TestPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	c, err := h.st.Campaign(ctx, p.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("test campaign %d: %w", p.CampaignID, err)
	}
	e, err := h.compile(ctx, c)
	if err != nil {
		return fmt.Errorf("test campaign %d: %v: %w", p.CampaignID, err, asynq.SkipRetry)
	}
	var errs []error
	for i, addr := range p.Emails {
		r := store.Recipient{Email: addr, Language: "sv"}
		if sub, err := h.st.SubscriberByEmail(ctx, addr); err == nil {
			r = store.Recipient{SubscriberID: sub.ID, Email: sub.Email, Name: sub.Name, Language: sub.Language, Attributes: sub.Attributes}
		}
		now := h.now()
		rcpt := h.compose.StaffRecipient(c.ID, e.From, r, now)
		rcpt.MessageID = fmt.Sprintf("test.c%d.%d.%d%s", c.ID, now.UnixNano(), i, h.compose.MessageIDSuffix(e.From))
		var buf, sig bytes.Buffer
		e.Compiled.WriteMessage(&buf, rcpt, mailtemplates.WriteOptions{SubjectPrefix: "[TEST] "})
		msg, err := h.signed(&sig, buf.Bytes())
		if err != nil {
			return fmt.Errorf("test campaign %d: %v: %w", c.ID, err, asynq.SkipRetry)
		}
		if err := h.sendOne(ctx, h.compose.PlainReturnPath(), addr, msg); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// A retry resends to every address; for a test send that is
		// better than silently dropping one.
		return errors.Join(errs...)
	}
	h.log.Info("test sent", "campaign_id", c.ID, "recipients", len(p.Emails), "request_id", p.RequestID)
	return nil
}
