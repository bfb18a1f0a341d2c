package queue

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task types, named noun:verb. This file is the queue's contract: the API
// and the worker enqueue with these constructors, the worker registers
// the types in its mux. Which queue a type goes on is decided once, by
// Queues.For, when Client enqueues it.
const (
	// TypeCampaignWake rings the worker for one revision of a campaign:
	// at its send time for a scheduled one (the worker fans it out into
	// deliveries and sender slots), or at once for one sending again (the
	// worker starts its slots). The API rings; the worker decides.
	TypeCampaignWake = "campaign:wake"
	// TypeCampaignDispatch is the wake's name before it was one doorbell
	// for every status; the worker still serves such tasks left queued
	// by an older version.
	TypeCampaignDispatch = "campaign:dispatch"
	TypeCampaignSend     = "campaign:send"    // one sender slot working through a campaign's deliveries
	TypeCampaignTest     = "campaign:test"    // a test send to a few addresses
	TypeSubscriberOptin  = "subscriber:optin" // the double opt-in confirmation mail
	TypeImportRun        = "import:run"       // process an uploaded CSV import
	TypeWebhookDeliver   = "webhook:deliver"  // POST one event to one webhook
	TypeUserMail         = "user:mail"        // a staff user's invitation or password-reset link
)

// Queue names. Opt-in and test mail are "critical" and served by their own
// workers, so a large campaign never delays a confirmation mail.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueBulk     = "bulk"
)

// Queues names the queues of one deployment; tests give each run its own
// so that they can share one Redis.
type Queues struct {
	Critical, Default, Bulk string
}

// DefaultQueues are the production queue names.
var DefaultQueues = Queues{Critical: QueueCritical, Default: QueueDefault, Bulk: QueueBulk}

// For is the queue of a task type. Opt-in, test and staff mail are
// critical (someone is waiting); the senders of campaigns are bulk.
func (q Queues) For(taskType string) string {
	switch taskType {
	case TypeCampaignTest, TypeSubscriberOptin, TypeUserMail:
		return q.Critical
	case TypeCampaignSend:
		return q.Bulk
	}
	return q.Default
}

// WithPrefix returns queue names with prefix in front.
func (q Queues) WithPrefix(prefix string) Queues {
	return Queues{Critical: prefix + q.Critical, Default: prefix + q.Default, Bulk: prefix + q.Bulk}
}

// WakePayload names one revision of a campaign.
type WakePayload struct {
	CampaignID int64 `json:"campaign_id"`
	Revision   int   `json:"revision"`
}

// SendPayload names one sender slot of a campaign.
type SendPayload struct {
	CampaignID int64 `json:"campaign_id"`
	Slot       int   `json:"slot"`
}

// TestPayload is a test send.
type TestPayload struct {
	CampaignID int64    `json:"campaign_id"`
	Emails     []string `json:"emails"`
	RequestID  string   `json:"request_id"`
}

// OptinPayload asks for a confirmation mail for some lists.
type OptinPayload struct {
	SubscriberID int64   `json:"subscriber_id"`
	ListIDs      []int64 `json:"list_ids"`
}

// ImportPayload names an import.
type ImportPayload struct {
	ImportID int64 `json:"import_id"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode task payload: %v", err)) // plain structs of ints and strings
	}
	return b
}

// NewWakeTask rings the worker for revision rev of campaign id at time
// at (its send_at; now for one that is sending again). The TaskID makes a
// second ring of the same revision a no-op while the first waits; once it
// has run, a later ring (a resume) is a new task.
func NewWakeTask(id int64, rev int, at time.Time) *asynq.Task {
	return asynq.NewTask(TypeCampaignWake, mustJSON(WakePayload{id, rev}),
		asynq.TaskID(fmt.Sprintf("wake:%d:r%d", id, rev)), asynq.ProcessAt(at),
		asynq.MaxRetry(20), asynq.Timeout(30*time.Minute))
}

// NewSendTask returns the task of sender slot slot of a campaign. No
// retention: once a slot task finishes its id is free again, so reconcile
// can start the slot anew if rows are still pending.
func NewSendTask(id int64, slot int) *asynq.Task {
	return asynq.NewTask(TypeCampaignSend, mustJSON(SendPayload{id, slot}),
		asynq.TaskID(fmt.Sprintf("send:%d:%d", id, slot)),
		asynq.MaxRetry(1000), asynq.Timeout(0), asynq.Deadline(time.Now().Add(30*24*time.Hour)))
}

// NewTestTask returns a test send.
func NewTestTask(p TestPayload) *asynq.Task {
	return asynq.NewTask(TypeCampaignTest, mustJSON(p), asynq.MaxRetry(5), asynq.Timeout(2*time.Minute))
}

// NewOptinTask returns the confirmation mail task.
func NewOptinTask(p OptinPayload) *asynq.Task {
	return asynq.NewTask(TypeSubscriberOptin, mustJSON(p),
		asynq.MaxRetry(10), asynq.Timeout(2*time.Minute))
}

// NewImportTask returns the task that processes import id. The TaskID
// makes enqueueing it again (reconcile does) a no-op while it is queued,
// running or kept; the task resumes from the import's checkpoint.
func NewImportTask(id int64) *asynq.Task {
	return asynq.NewTask(TypeImportRun, mustJSON(ImportPayload{id}), asynq.TaskID(fmt.Sprintf("import:%d", id)),
		asynq.MaxRetry(25), asynq.Timeout(6*time.Hour), asynq.Retention(24*time.Hour))

}

// WebhookPayload names one webhook delivery (the outbox row holds the
// body).
type WebhookPayload struct {
	DeliveryID int64 `json:"delivery_id"`
}

// NewWebhookTask returns the task that delivers one webhook delivery.
// asynq retries it with backoff; the TaskID makes the outbox pump's
// re-enqueue of a delivery it already handed over a no-op.
func NewWebhookTask(id int64, maxRetry int) *asynq.Task {
	return asynq.NewTask(TypeWebhookDeliver, mustJSON(WebhookPayload{id}),
		asynq.TaskID(fmt.Sprintf("webhook:%d", id)),
		asynq.MaxRetry(maxRetry), asynq.Timeout(time.Minute), asynq.Retention(time.Hour))
}

// UserMailPayload asks for a one-time link mailed to a staff user. It
// carries no link: the worker makes the link when it sends, so the secret
// is never kept in the queue.
//
// A reset asked for on the sign-in page names the address, not the user:
// the page does the same work whether or not the address has an account,
// and the worker looks it up.
type UserMailPayload struct {
	UserID   int64  `json:"user_id,omitempty"`
	Email    string `json:"email,omitempty"`
	Purpose  string `json:"purpose"`              // store.PurposeInvite or store.PurposeReset, or an approval mail's kind
	ByUserID int64  `json:"by_user_id,omitempty"` // who invited (asked, decided), for the mail's words
	// CampaignID is the campaign of an approval mail (Purpose one of
	// mailtemplates.ApprovalRequested, ApprovalApproved, ApprovalRejected):
	// four eyes tells the publishers a send waits, and the one who asked
	// what was decided, through this same staff-mail path.
	CampaignID int64 `json:"campaign_id,omitempty"`
	// Revision is the campaign's revision the approval mail is about (the
	// one its event made): with CampaignID, Purpose and UserID it names
	// the task, so one event mails each person once.
	Revision int `json:"revision,omitempty"`
}

// NewUserMailTask returns the task that mails a staff user a one-time
// link. It goes on the critical queue: someone is waiting at a screen.
//
// An approval mail (CampaignID set) is about one event: the campaign's
// revision after the request, approval or rejection. Its TaskID names the
// campaign, that revision, the kind and the recipient, so a second
// enqueue of the same event (a retried request, a second ring) adds
// nothing while the first is queued or kept (a day after it ran).
func NewUserMailTask(p UserMailPayload) *asynq.Task {
	opts := []asynq.Option{asynq.MaxRetry(5), asynq.Timeout(2 * time.Minute)}
	if p.CampaignID != 0 {
		opts = append(opts, asynq.TaskID(fmt.Sprintf("usermail:%s:c%d:r%d:u%d", p.Purpose, p.CampaignID, p.Revision, p.UserID)),
			asynq.Retention(24*time.Hour))
	}
	return asynq.NewTask(TypeUserMail, mustJSON(p), opts...)
}

// NewImportOptinTask is the confirmation mail of a subscriber that import
// importID added. The TaskID makes the import's replay after a crash send
// it once.
func NewImportOptinTask(importID int64, p OptinPayload) *asynq.Task {
	return asynq.NewTask(TypeSubscriberOptin, mustJSON(p),
		asynq.TaskID(fmt.Sprintf("optin:import:%d:%d", importID, p.SubscriberID)), asynq.Retention(24*time.Hour),
		asynq.MaxRetry(10), asynq.Timeout(2*time.Minute))
}
