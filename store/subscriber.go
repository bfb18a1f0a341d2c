package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Subscription statuses.
const (
	SubUnconfirmed  = "unconfirmed"
	SubConfirmed    = "confirmed"
	SubUnsubscribed = "unsubscribed"
)

// Subscriber is one person (one address) who is, was or may be on lists.
type Subscriber struct {
	ID    int64  `gorm:"primaryKey" json:"id"`
	Email string `gorm:"size:320;not null;uniqueIndex" json:"email"`
	Name  string `gorm:"size:200;not null;default:''" json:"name"`
	// NameFold is Fold(Name), what the search matches (migration 0019).
	NameFold   string     `gorm:"type:text;not null;default:''" json:"-"`
	Language   string     `gorm:"size:8;not null;default:'sv'" json:"language"`
	Attributes Attributes `gorm:"type:text;not null" json:"attributes"`
	// EmailHash is the keyed hash of Email, matched against suppressions
	// (which keep only the hash for erased addresses).
	EmailHash string    `gorm:"size:64;not null;index" json:"-"`
	CreatedAt time.Time `gorm:"not null" json:"created_at"`
	UpdatedAt time.Time `gorm:"not null" json:"updated_at"`

	Subscriptions []Subscription `gorm:"foreignKey:SubscriberID" json:"lists"`
}

// Subscription is a subscriber's standing on one list.
type Subscription struct {
	SubscriberID   int64      `gorm:"primaryKey;autoIncrement:false;index:idx_subscriptions_list_status,priority:3" json:"-"`
	ListID         int64      `gorm:"primaryKey;autoIncrement:false;index:idx_subscriptions_list_status,priority:1" json:"list_id"`
	Status         string     `gorm:"size:16;not null;index:idx_subscriptions_list_status,priority:2" json:"status"`
	ConsentBasis   string     `gorm:"type:text;not null;default:''" json:"consent_basis,omitempty"`
	CreatedAt      time.Time  `gorm:"not null" json:"created_at"`
	UpdatedAt      time.Time  `gorm:"not null" json:"updated_at"`
	ConfirmedAt    *time.Time `json:"confirmed_at"`
	UnsubscribedAt *time.Time `json:"unsubscribed_at"`
	// TrackingConsent is the subscriber's yes to open and click tracking
	// on this list; without it their mail carries no tracking at all.
	TrackingConsent bool `gorm:"not null;default:false" json:"tracking_consent"`
}

// SubscriptionInput asks for a subscriber to be on a list with a status.
type SubscriptionInput struct {
	ListID       int64
	Status       string // SubConfirmed, SubUnconfirmed or SubUnsubscribed
	ConsentBasis string
	// TrackingConsent, when set, records the subscriber's answer to open
	// and click tracking on this list; nil leaves it as it is.
	TrackingConsent *bool
}

// Actor says who or what made a change; it goes into the events the change
// appends, as proof of consent and for the audit trail.
type Actor struct {
	Source    string // "api", "form", "one-click", "mailto", "import", "worker", ...
	TokenID   int64  // API token that made the change, if any
	UserID    int64  // staff user that made the change in the web workspace, if any
	IP        string // public actions only
	UserAgent string
	Data      map[string]any // extra detail: consent text, import id, ...
}

// CreateSubscriber inserts sub with the given subscriptions in one
// transaction. A taken address is ErrConflict; an unknown list is a
// *NotFoundError naming it, and nothing is written. The subscriptions are
// written as given: staff requests go through StaffCreateSubscriber,
// which applies the opt-in rules first.
func (s *Store) CreateSubscriber(ctx context.Context, sub *Subscriber, subs []SubscriptionInput, by Actor) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		return s.createSubscriber(tx, sub, subs, by)
	})
}

func (s *Store) createSubscriber(tx *gorm.DB, sub *Subscriber, subs []SubscriptionInput, by Actor) error {
	if sub.Attributes == nil {
		sub.Attributes = Attributes{}
	}
	sub.EmailHash = s.AddressHash(sub.Email)
	if err := checkListsExist(tx, listIDsOf(subs)); err != nil {
		return err
	}
	if err := tx.Omit(clause.Associations).Create(sub).Error; err != nil {
		if isDup(err) {
			return fieldConflictf("email", "subscriber %s already exists", sub.Email)
		}
		return fmt.Errorf("create subscriber: %w", err)
	}
	evs := []Event{newEvent(EventCreated, by, s.now(), &sub.ID, nil, nil)}
	for _, in := range subs {
		ev, err := s.setSubscription(tx, sub.ID, in, by)
		if err != nil {
			return err
		}
		evs = append(evs, ev...)
	}
	if err := insertEvents(tx, evs); err != nil {
		return err
	}
	return loadSubscriptions(tx, sub)
}

// setSubscription moves one subscription to in.Status, inserting it if
// needed, and returns the events that describe the change (none if nothing
// changed).
func (s *Store) setSubscription(tx *gorm.DB, subscriberID int64, in SubscriptionInput, by Actor) ([]Event, error) {
	now := s.now()
	var cur Subscription
	err := tx.Where("subscriber_id = ? AND list_id = ?", subscriberID, in.ListID).Take(&cur).Error
	switch {
	case isMissing(err):
		row := Subscription{SubscriberID: subscriberID, ListID: in.ListID, Status: in.Status,
			ConsentBasis: in.ConsentBasis, CreatedAt: now, UpdatedAt: now, TrackingConsent: in.TrackingConsent != nil && *in.TrackingConsent}
		if in.Status == SubConfirmed {
			row.ConfirmedAt = &now
		}
		if in.Status == SubUnsubscribed {
			row.UnsubscribedAt = &now
		}
		if err := tx.Create(&row).Error; err != nil {
			return nil, fmt.Errorf("subscribe %d to list %d: %w", subscriberID, in.ListID, err)
		}
	case err != nil:
		return nil, fmt.Errorf("subscription %d/%d: %w", subscriberID, in.ListID, err)
	case cur.Status == in.Status:
		return s.setTrackingConsent(tx, cur, in, by)
	default:
		upd := map[string]any{"status": in.Status, "updated_at": now}
		switch in.Status {
		case SubConfirmed:
			upd["confirmed_at"] = now
			upd["unsubscribed_at"] = nil
		case SubUnsubscribed:
			upd["unsubscribed_at"] = now
		case SubUnconfirmed:
			upd["unsubscribed_at"] = nil
			upd["confirmed_at"] = nil
		}
		if in.ConsentBasis != "" {
			upd["consent_basis"] = in.ConsentBasis
		}
		if in.TrackingConsent != nil {
			upd["tracking_consent"] = *in.TrackingConsent
		}
		if err := tx.Model(&Subscription{}).Where("subscriber_id = ? AND list_id = ?", subscriberID, in.ListID).
			Updates(upd).Error; err != nil {
			return nil, fmt.Errorf("update subscription %d/%d: %w", subscriberID, in.ListID, err)
		}
	}
	kind := map[string]string{SubConfirmed: EventConfirmed, SubUnconfirmed: EventSubscribed, SubUnsubscribed: EventUnsubscribed}[in.Status]
	listID := in.ListID
	ev := newEvent(kind, by, now, &subscriberID, &listID, nil)
	if in.ConsentBasis != "" {
		ev.Data = withData(ev.Data, "consent_basis", in.ConsentBasis)
	}
	if in.TrackingConsent != nil {
		ev.Data = withData(ev.Data, "tracking_consent", *in.TrackingConsent)
	}
	return []Event{ev}, nil
}

func listIDsOf(subs []SubscriptionInput) []int64 {
	ids := make([]int64, len(subs))
	for i, in := range subs {
		ids[i] = in.ListID
	}
	return ids
}

// checkListsExist returns a *NotFoundError for the first id with no list.
func checkListsExist(tx *gorm.DB, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var found []int64
	if err := tx.Model(&List{}).Where("id IN ?", ids).Pluck("id", &found).Error; err != nil {
		return fmt.Errorf("check lists: %w", err)
	}
	have := make(map[int64]bool, len(found))
	for _, id := range found {
		have[id] = true
	}
	for _, id := range ids {
		if !have[id] {
			return notFound("list", id)
		}
	}
	return nil
}

func loadSubscriptions(tx *gorm.DB, sub *Subscriber) error {
	sub.Subscriptions = nil
	if err := tx.Where("subscriber_id = ?", sub.ID).Order("list_id").Find(&sub.Subscriptions).Error; err != nil {
		return fmt.Errorf("subscriptions of %d: %w", sub.ID, err)
	}
	return nil
}

// Subscriber returns one subscriber with their subscriptions.
func (s *Store) Subscriber(ctx context.Context, id int64) (*Subscriber, error) {
	var sub Subscriber
	db := s.reader(ctx)
	if err := db.First(&sub, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("subscriber", id)
		}
		return nil, fmt.Errorf("subscriber %d: %w", id, err)
	}
	if err := s.subscriberFor(ctx, db, id, GrantViewer, nil); err != nil {
		return nil, fmt.Errorf("subscriber %d: %w", id, err)
	}
	if err := loadSubscriptions(db, &sub); err != nil {
		return nil, err
	}
	return &sub, nil
}

// SubscriberByEmail finds a subscriber by normalised address.
func (s *Store) SubscriberByEmail(ctx context.Context, email string) (*Subscriber, error) {
	var sub Subscriber
	db := s.reader(ctx)
	if err := db.Where("email = ?", email).Take(&sub).Error; err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("subscriber %s: %w", email, ErrNotFound)
		}
		return nil, fmt.Errorf("subscriber %s: %w", email, err)
	}
	if err := loadSubscriptions(db, &sub); err != nil {
		return nil, err
	}
	return &sub, nil
}

// SubscriberQuery filters and pages ListSubscribers.
type SubscriberQuery struct {
	ListID int64  // 0: all subscribers
	Status string // with ListID: only this subscription status
	// Search finds people by the start of a word: of the address, its
	// domain, the name or the name after its first space; case folds
	// (see searchExprs).
	Search string
	After  int64 // keyset: ids greater than this
	Limit  int
}

// ListSubscribers returns one page of subscribers ordered by id, and the
// cursor for the next page (0 when this was the last).
func (s *Store) ListSubscribers(ctx context.Context, q SubscriberQuery) ([]Subscriber, int64, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	db := s.reader(ctx)
	if q.ListID != 0 && !AccessFrom(ctx).Can(q.ListID, GrantViewer) {
		// As for a list that does not exist: nobody is on it.
		return []Subscriber{}, 0, nil
	}
	tx := scopeSubscribers(ctx, db.Model(&Subscriber{}), GrantViewer)
	if q.ListID != 0 {
		// Order by the subscription's own column so the (list_id, status,
		// subscriber_id) index serves both the filter and the keyset.
		tx = tx.Joins("JOIN subscriptions m ON m.subscriber_id = subscribers.id AND m.list_id = ?", q.ListID)
		if q.Status != "" {
			tx = tx.Where("m.status = ?", q.Status)
		}
		tx = tx.Where("m.subscriber_id > ?", q.After).Order("m.subscriber_id")
	} else {
		tx = tx.Where("subscribers.id > ?", q.After).Order("subscribers.id")
	}
	if q.Search != "" {
		ids, dense, err := s.searchIDs(db, q.Search)
		if err != nil {
			return nil, 0, fmt.Errorf("search subscribers: %w", err)
		}
		if dense {
			// Common words: a page of matches is near, in id order.
			cond, args := searchCond(s.dialect, "subscribers", q.Search)
			tx = tx.Where(cond, args...)
		} else {
			tx = tx.Where("subscribers.id IN (?)", ids)
		}
	}
	var subs []Subscriber
	if err := tx.Select("subscribers.*").Limit(q.Limit + 1).Find(&subs).Error; err != nil {
		return nil, 0, fmt.Errorf("list subscribers: %w", err)
	}
	var next int64
	if len(subs) > q.Limit {
		subs = subs[:q.Limit]
		next = subs[len(subs)-1].ID
	}
	if len(subs) > 0 {
		ids := make([]int64, len(subs))
		idx := make(map[int64]int, len(subs))
		for i := range subs {
			ids[i] = subs[i].ID
			idx[subs[i].ID] = i
			subs[i].Subscriptions = []Subscription{}
		}
		var ms []Subscription
		if err := db.Where("subscriber_id IN ?", ids).Order("subscriber_id, list_id").Find(&ms).Error; err != nil {
			return nil, 0, fmt.Errorf("list subscriptions: %w", err)
		}
		for _, m := range ms {
			i := idx[m.SubscriberID]
			subs[i].Subscriptions = append(subs[i].Subscriptions, m)
		}
	}
	return subs, next, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// SubscriberPatch holds the fields of an update; nil means unchanged.
type SubscriberPatch struct {
	Email      *string
	Name       *string
	Language   *string
	Attributes *Attributes
	// Lists, when set, are subscriptions to set; lists not named keep
	// their standing.
	Lists []SubscriptionInput
	// Reconsent says the person themself, through their own link, chose
	// lists again (the preference page): an unsubscribed_all suppression
	// is lifted when any list is turned on.
	Reconsent bool
}

// UpdateSubscriber applies p in one transaction. p.Lists are written as
// given: staff requests go through StaffUpdateSubscriber, which applies
// the opt-in rules first.
func (s *Store) UpdateSubscriber(ctx context.Context, id int64, p SubscriberPatch, by Actor) (*Subscriber, error) {
	var sub *Subscriber
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var err error
		sub, err = s.updateSubscriber(tx, id, p, by)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sub, nil
}

func (s *Store) updateSubscriber(tx *gorm.DB, id int64, p SubscriberPatch, by Actor) (*Subscriber, error) {
	var sub Subscriber
	if err := tx.First(&sub, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("subscriber", id)
		}
		return nil, fmt.Errorf("subscriber %d: %w", id, err)
	}
	if err := checkListsExist(tx, listIDsOf(p.Lists)); err != nil {
		return nil, err
	}
	upd := map[string]any{}
	changed := []string{}
	if p.Email != nil && *p.Email != sub.Email {
		upd["email"] = *p.Email
		upd["email_hash"] = s.AddressHash(*p.Email)
		changed = append(changed, "email")
	}
	// A staff request's audit row gets before and after of each field;
	// the name and attributes are personal, kept where erasure reaches.
	a := AuditOf(tx.Statement.Context)
	if p.Name != nil && *p.Name != sub.Name {
		upd["name"], upd["name_fold"] = *p.Name, Fold(*p.Name)
		changed = append(changed, "name")
		a.ChangePersonal(id, "name", sub.Name, *p.Name)
	}
	if p.Language != nil && *p.Language != sub.Language {
		upd["language"] = *p.Language
		changed = append(changed, "language")
		a.Change("language", sub.Language, *p.Language)
	}
	if p.Attributes != nil {
		upd["attributes"] = *p.Attributes
		changed = append(changed, "attributes")
		was, _ := json.Marshal(sub.Attributes)
		now, _ := json.Marshal(*p.Attributes)
		if string(was) != string(now) {
			a.ChangePersonal(id, "attributes", sub.Attributes, *p.Attributes)
		}
	}
	var evs []Event
	if len(upd) > 0 {
		upd["updated_at"] = s.now()
		if err := tx.Model(&Subscriber{}).Where("id = ?", id).Updates(upd).Error; err != nil {
			if isDup(err) {
				return nil, fieldConflictf("email", "subscriber %s already exists", *p.Email)
			}
			return nil, fmt.Errorf("update subscriber %d: %w", id, err)
		}
		ev := newEvent(EventUpdated, by, s.now(), &id, nil, nil)
		ev.Data = withData(ev.Data, "fields", changed)
		evs = append(evs, ev)
	}
	on := false
	for _, in := range p.Lists {
		ev, err := s.setSubscription(tx, id, in, by)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev...)
		on = on || in.Status != SubUnsubscribed
	}
	if err := insertEvents(tx, evs); err != nil {
		return nil, err
	}
	if p.Reconsent && on {
		if err := s.liftOwn(tx, id, []string{SuppressUnsubscribedAll}, by); err != nil {
			return nil, err
		}
	}
	if err := tx.First(&sub, id).Error; err != nil {
		return nil, fmt.Errorf("reload subscriber %d: %w", id, err)
	}
	if err := loadSubscriptions(tx, &sub); err != nil {
		return nil, err
	}
	return &sub, nil
}

// DeleteSubscriber removes a subscriber and their subscriptions. Their
// deliveries stay, without the link to them, so campaign counts hold.
func (s *Store) DeleteSubscriber(ctx context.Context, id int64, by Actor) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.subscriberFor(ctx, tx, id, GrantAudience, nil); err != nil {
			return err
		}
		res := tx.Delete(&Subscriber{}, id)
		if res.Error != nil {
			return fmt.Errorf("delete subscriber %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("subscriber", id)
		}
		ev := newEvent(EventDeleted, by, s.now(), nil, nil, nil)
		ev.Data = withData(ev.Data, "subscriber_id", id)
		return insertEvents(tx, []Event{ev})
	})
}

// SubscribeParams is a public (or API) request to be on some lists.
type SubscribeParams struct {
	Email    string
	Name     string
	Language string
	Lists    []SubscriptionInput
}

// SubscribeResult says what Subscribe did.
type SubscribeResult struct {
	Subscriber *Subscriber
	Created    bool
	// NeedConfirm are the lists that now wait for the subscriber to
	// confirm (a confirmation mail is due for them).
	NeedConfirm []int64
}

// Subscribe finds or creates the subscriber for p.Email and moves each
// named subscription towards p's status without ever downgrading one that
// is already confirmed. The name and language are only set on a new
// subscriber, so that a stranger cannot rename somebody by subscribing
// their address.
func (s *Store) Subscribe(ctx context.Context, p SubscribeParams, by Actor) (*SubscribeResult, error) {
	res := &SubscribeResult{}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := checkListsExist(tx, listIDsOf(p.Lists)); err != nil {
			return err
		}
		var sub Subscriber
		err := tx.Where("email = ?", p.Email).Take(&sub).Error
		var evs []Event
		switch {
		case isMissing(err):
			sub = Subscriber{Email: p.Email, Name: p.Name, Language: p.Language, Attributes: Attributes{}, EmailHash: s.AddressHash(p.Email)}
			if err := tx.Omit(clause.Associations).Create(&sub).Error; err != nil {
				return fmt.Errorf("create subscriber: %w", err)
			}
			res.Created = true
			evs = append(evs, newEvent(EventCreated, by, s.now(), &sub.ID, nil, nil))
		case err != nil:
			return fmt.Errorf("subscriber %s: %w", p.Email, err)
		}
		if err := loadSubscriptions(tx, &sub); err != nil {
			return err
		}
		cur := map[int64]string{}
		for _, m := range sub.Subscriptions {
			cur[m.ListID] = m.Status
		}
		for _, in := range p.Lists {
			if cur[in.ListID] == SubConfirmed {
				continue
			}
			ev, err := s.setSubscription(tx, sub.ID, in, by)
			if err != nil {
				return err
			}
			evs = append(evs, ev...)
			if in.Status == SubUnconfirmed {
				res.NeedConfirm = append(res.NeedConfirm, in.ListID)
			}
		}
		if err := insertEvents(tx, evs); err != nil {
			return err
		}
		res.Subscriber = &sub
		return loadSubscriptions(tx, &sub)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// ConfirmSubscriptions confirms the subscriber's unconfirmed subscriptions
// to listIDs and returns how many changed. Lists the subscriber has left
// since stay left: an old confirmation link must not undo an unsubscribe.
// A confirmation is the person's own verified consent, so it also lifts a
// suppression that stood for their own earlier withdrawal or erasure
// (SelfLiftable).
func (s *Store) ConfirmSubscriptions(ctx context.Context, subscriberID int64, listIDs []int64, by Actor) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var ms []Subscription
		if err := tx.Where("subscriber_id = ? AND list_id IN ? AND status = ?", subscriberID, listIDs, SubUnconfirmed).
			Find(&ms).Error; err != nil {
			return fmt.Errorf("confirm %d: %w", subscriberID, err)
		}
		var evs []Event
		for _, m := range ms {
			ev, err := s.setSubscription(tx, subscriberID, SubscriptionInput{ListID: m.ListID, Status: SubConfirmed}, by)
			if err != nil {
				return err
			}
			evs = append(evs, ev...)
			n++
		}
		if err := insertEvents(tx, evs); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		return s.liftOwn(tx, subscriberID, []string{SuppressUnsubscribedAll, SuppressErased}, by)
	})
	return n, err
}

// linkScope narrows subscriptions (a table or alias whose list_id is
// unambiguous) to the lists an unsubscribe link acts on: the lists of its
// campaign, or every list when the link is of no campaign (0) or of a
// campaign deleted since — an unsubscribe must keep working, and it only
// ever takes the person off lists. Both parameters are the campaign id.
// It is for public links, which no staff scope narrows.
const linkScope = `(NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = ?)
	OR list_id IN (SELECT cl.list_id FROM campaign_lists cl WHERE cl.campaign_id = ?))`

// UnsubscribeScope returns the lists an unsubscribe link from campaign
// campaignID acts on for the subscriber (linkScope) that they are still
// on, in list order. It is ErrNotFound when the subscriber is gone.
//
// One statement: a burst of one-click unsubscribes during a send spent
// more CPU loading the subscriber, the campaign's lists and each list
// through gorm than on the unsubscribes themselves, and each of those
// reads began with a page cache that the sender's writes had emptied.
func (s *Store) UnsubscribeScope(ctx context.Context, subscriberID, campaignID int64) ([]int64, error) {
	return linkLists(s.reader(ctx), subscriberID, campaignID)
}

// linkLists is UnsubscribeScope on db (a reader, or the transaction that
// acts on it).
func linkLists(db *gorm.DB, subscriberID, campaignID int64) ([]int64, error) {
	var rows []struct {
		ID     int64
		ListID *int64
	}
	err := db.Raw(`SELECT s.id, m.list_id FROM subscribers s
		LEFT JOIN subscriptions m ON m.subscriber_id = s.id AND m.status <> ? AND `+linkScope+`
		WHERE s.id = ?
		ORDER BY m.list_id`, SubUnsubscribed, campaignID, campaignID, subscriberID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("unsubscribe scope of subscriber %d: %w", subscriberID, err)
	}
	if len(rows) == 0 {
		return nil, notFound("subscriber", subscriberID)
	}
	ids := []int64{}
	for _, r := range rows {
		if r.ListID != nil {
			ids = append(ids, *r.ListID)
		}
	}
	return ids, nil
}

// UnsubscribeLink does what an unsubscribe link of campaign campaignID
// (0: of no campaign) asks without a page in between — a one-click POST
// (RFC 8058) or a mail to the List-Unsubscribe address: it ends the
// subscriptions in the link's scope (UnsubscribeScope) and returns the
// lists it changed. It is ErrNotFound when the subscriber is gone.
//
// On SQLite the scope is found inside the write rather than read first:
// under the burst of one-click unsubscribes that follows a send, the
// separate read was a third of what an unsubscribe cost, most of it
// refilling a reader's page cache that the sender's commits had emptied;
// the one writer's cache is never emptied by another writer. Postgres has
// no such cost, and there the read, beside the shared write instead of in
// it, keeps that write short: with the scope inside it, the unsubscribes'
// p99 under the burst rose from 224–244 ms to 305–315 ms (two runs each,
// side by side).
func (s *Store) UnsubscribeLink(ctx context.Context, subscriberID, campaignID int64, by Actor) ([]int64, error) {
	r := &unsubReq{subscriberID: subscriberID, campaignID: campaignID, link: true, by: by}
	if s.dialect == DialectPostgres {
		ids, err := s.UnsubscribeScope(ctx, subscriberID, campaignID)
		if err != nil || len(ids) == 0 {
			// Nothing in scope; an empty list would mean every list.
			return nil, err
		}
		r.listIDs, r.link = ids, false
	}
	return s.unsubscribeReq(ctx, r)
}

// Unsubscribe ends the subscriber's subscriptions to listIDs (all lists
// when listIDs is empty) and returns the lists it changed. campaignID, if
// not zero, is the campaign whose link was used: the events carry it, so
// unsubscribes are counted against the campaign that caused them. It takes
// effect for campaigns already sending: the send path checks the
// subscription again shortly before each message.
func (s *Store) Unsubscribe(ctx context.Context, subscriberID int64, listIDs []int64, campaignID int64, by Actor) ([]int64, error) {
	return s.unsubscribeReq(ctx, &unsubReq{subscriberID: subscriberID, listIDs: listIDs, campaignID: campaignID, by: by})
}

// unsubscribeReq writes r and returns the lists it changed. r.changed is
// read after the write: in "return r.changed, write()" the order of the
// two is not specified by the language.
func (s *Store) unsubscribeReq(ctx context.Context, r *unsubReq) ([]int64, error) {
	var err error
	if AuditOf(ctx) != nil {
		// A staff request's audit entry belongs to its own transaction.
		err = s.unsubscribeBatch(ctx, []*unsubReq{r})[0]
	} else {
		// Concurrent unsubscribes share a transaction (and the counter
		// rows it updates once); each returns after the commit.
		err = s.unsubs.do(r, func(rs []*unsubReq) []error { return s.unsubscribeBatch(context.WithoutCancel(ctx), rs) })
	}
	return r.changed, err
}

// unsubReq is one Unsubscribe waiting for its transaction.
type unsubReq struct {
	subscriberID, campaignID int64
	listIDs                  []int64
	link                     bool // the lists are the link's scope (UnsubscribeLink); listIDs is unused
	by                       Actor
	changed                  []int64
	gone                     bool // a link's subscriber does not exist
}

// errLinkBeside makes a batch go one request at a time: a link's
// unsubscribe shares it with another request for the same person, and the
// rows one UPDATE returns could not be told apart between the two.
var errLinkBeside = errors.New("a link's unsubscribe shares its batch with another for the same subscriber")

// unsubscribeBatch writes rs in one transaction. If that fails, each is
// tried in a transaction of its own, so one bad request fails alone.
func (s *Store) unsubscribeBatch(ctx context.Context, rs []*unsubReq) []error {
	done, err := s.publicWrite(ctx)
	if err != nil {
		return repeatErr(len(rs), err)
	}
	defer done()
	one := func(tx *gorm.DB, r *unsubReq) ([]Event, error) {
		ids := r.listIDs
		if r.link {
			var err error
			if ids, err = linkLists(tx, r.subscriberID, r.campaignID); err != nil {
				return nil, err
			}
			if len(ids) == 0 {
				// Nothing in scope; an empty list would mean every list.
				r.changed = nil
				return nil, nil
			}
		}
		changed, evs, err := s.unsubscribeEvents(tx, r.subscriberID, ids, r.campaignID, r.by)
		r.changed = changed
		return evs, err
	}
	if len(rs) == 1 {
		err = s.inTx(ctx, func(tx *gorm.DB) error {
			evs, err := one(tx, rs[0])
			if err != nil {
				return err
			}
			return insertEvents(tx, evs)
		})
	} else {
		err = s.inTx(ctx, func(tx *gorm.DB) error { return s.unsubscribeSet(tx, rs) })
	}
	if err == nil {
		errs := make([]error, len(rs))
		for i, r := range rs {
			if r.gone {
				errs[i] = notFound("subscriber", r.subscriberID)
			}
		}
		return errs
	}
	if len(rs) == 1 {
		return repeatErr(1, err)
	}
	errs := make([]error, len(rs))
	for i, r := range rs {
		errs[i] = s.inTx(ctx, func(tx *gorm.DB) error {
			evs, err := one(tx, r)
			if err != nil {
				return err
			}
			return insertEvents(tx, evs)
		})
	}
	return errs
}

// unsubscribeSet ends the subscriptions of several unsubscribes with one
// UPDATE … RETURNING and appends their events with one insert, instead of
// three statements for each: a batch of fifty then holds SQLite's writer
// (or a Postgres connection) for a few statements. It does what
// unsubscribeEvents does for each request, in order: a subscription two
// requests name is changed (and counted) for the first.
func (s *Store) unsubscribeSet(tx *gorm.DB, rs []*unsubReq) error {
	now := s.now()
	people := map[int64]int{}
	for _, r := range rs {
		people[r.subscriberID]++
	}
	var where []string
	args := []any{SubUnsubscribed, now, now, SubUnsubscribed}
	for _, r := range rs {
		r.gone = false
		switch {
		case r.link && people[r.subscriberID] > 1:
			return errLinkBeside
		case r.link:
			where = append(where, "(subscriber_id = ? AND "+linkScope+")")
			args = append(args, r.subscriberID, r.campaignID, r.campaignID)
		case len(r.listIDs) > 0:
			where = append(where, "(subscriber_id = ? AND list_id IN ?)")
			args = append(args, r.subscriberID, r.listIDs)
		default:
			where = append(where, "subscriber_id = ?")
			args = append(args, r.subscriberID)
		}
	}
	var rows []struct{ SubscriberID, ListID int64 }
	if err := tx.Raw(`UPDATE subscriptions SET status = ?, unsubscribed_at = ?, updated_at = ?
		WHERE status <> ? AND (`+strings.Join(where, " OR ")+`) RETURNING subscriber_id, list_id`, args...).
		Scan(&rows).Error; err != nil {
		return fmt.Errorf("unsubscribe %d people: %w", len(rs), err)
	}
	slices.SortFunc(rows, func(a, b struct{ SubscriberID, ListID int64 }) int {
		return cmp.Or(cmp.Compare(a.SubscriberID, b.SubscriberID), cmp.Compare(a.ListID, b.ListID))
	})
	taken := map[[2]int64]bool{}
	var evs []Event
	for _, r := range rs {
		r.changed = nil
		for _, row := range rows {
			k := [2]int64{row.SubscriberID, row.ListID}
			if row.SubscriberID != r.subscriberID || taken[k] || (!r.link && len(r.listIDs) > 0 && !slices.Contains(r.listIDs, row.ListID)) {
				continue
			}
			taken[k] = true
			sub, list := row.SubscriberID, row.ListID
			ev := newEvent(EventUnsubscribed, r.by, now, &sub, &list, nil)
			if r.campaignID != 0 {
				id := r.campaignID
				ev.CampaignID = &id
			}
			evs = append(evs, ev)
			r.changed = append(r.changed, row.ListID)
		}
	}
	// A link that changed nothing may name someone who is gone: that is
	// a 404, as the link's page says, where a person already off the
	// lists gets the same answer as the first time.
	var unchanged []int64
	for _, r := range rs {
		if r.link && len(r.changed) == 0 {
			unchanged = append(unchanged, r.subscriberID)
		}
	}
	if len(unchanged) > 0 {
		var there []int64
		if err := tx.Raw(`SELECT id FROM subscribers WHERE id IN ?`, unchanged).Scan(&there).Error; err != nil {
			return fmt.Errorf("unsubscribe: subscribers: %w", err)
		}
		for _, r := range rs {
			r.gone = r.link && len(r.changed) == 0 && !slices.Contains(there, r.subscriberID)
		}
	}
	return insertEvents(tx, evs)
}

func (s *Store) unsubscribe(tx *gorm.DB, subscriberID int64, listIDs []int64, campaignID int64, by Actor) ([]int64, error) {
	changed, evs, err := s.unsubscribeEvents(tx, subscriberID, listIDs, campaignID, by)
	if err != nil {
		return nil, err
	}
	return changed, insertEvents(tx, evs)
}

// unsubscribeEvents ends the subscriptions and returns the events to
// append for them.
func (s *Store) unsubscribeEvents(tx *gorm.DB, subscriberID int64, listIDs []int64, campaignID int64, by Actor) ([]int64, []Event, error) {
	q := tx.Where("subscriber_id = ? AND status <> ?", subscriberID, SubUnsubscribed)
	if len(listIDs) > 0 {
		q = q.Where("list_id IN ?", listIDs)
	}
	var ms []Subscription
	if err := q.Order("list_id").Find(&ms).Error; err != nil {
		return nil, nil, fmt.Errorf("unsubscribe %d: %w", subscriberID, err)
	}
	var evs []Event
	var changed []int64
	for _, m := range ms {
		ev, err := s.setSubscription(tx, subscriberID, SubscriptionInput{ListID: m.ListID, Status: SubUnsubscribed}, by)
		if err != nil {
			return nil, nil, err
		}
		for i := range ev {
			if campaignID != 0 {
				id := campaignID
				ev[i].CampaignID = &id
			}
		}
		evs = append(evs, ev...)
		changed = append(changed, m.ListID)
	}
	return changed, evs, nil
}

// Resubscribe undoes an unsubscribe: the subscriber's unsubscribed
// subscriptions to listIDs are confirmed again (they had confirmed before,
// and the undo comes from their own link), and an unsubscribed_all
// suppression from "unsubscribe from everything" is lifted with them. It
// returns the lists restored. Only subscriptions that ended at or before
// leftBy (the time the undo was offered; zero: any time) come back, so an
// old undo cannot reverse a later unsubscribe.
func (s *Store) Resubscribe(ctx context.Context, subscriberID int64, listIDs []int64, leftBy time.Time, by Actor) ([]List, error) {
	var out []List
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if len(listIDs) == 0 {
			return nil
		}
		q := tx.Where("subscriber_id = ? AND list_id IN ? AND status = ?", subscriberID, listIDs, SubUnsubscribed)
		if !leftBy.IsZero() {
			q = q.Where("unsubscribed_at <= ?", leftBy.UTC())
		}
		var ms []Subscription
		if err := q.Order("list_id").Find(&ms).Error; err != nil {
			return fmt.Errorf("resubscribe %d: %w", subscriberID, err)
		}
		var evs []Event
		var ids []int64
		for _, m := range ms {
			ev, err := s.setSubscription(tx, subscriberID, SubscriptionInput{ListID: m.ListID, Status: SubConfirmed, ConsentBasis: "undo of unsubscribe"}, by)
			if err != nil {
				return err
			}
			evs = append(evs, ev...)
			ids = append(ids, m.ListID)
		}
		if err := insertEvents(tx, evs); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if err := s.liftOwn(tx, subscriberID, []string{SuppressUnsubscribedAll}, by); err != nil {
			return err
		}
		return tx.Where("id IN ?", ids).Order("id").Find(&out).Error
	})
	return out, err
}

// InsertSubscribersBulk adds new subscribers, each confirmed on listID with
// consentBasis, in one transaction of multi-row inserts. It is the fast
// path for seeding benchmarks and demo data; it appends no per-row events
// and fails on an address that exists.
func (s *Store) InsertSubscribersBulk(ctx context.Context, subs []Subscriber, listID int64, consentBasis string) error {
	now := s.now()
	for i := range subs {
		subs[i].EmailHash = s.AddressHash(subs[i].Email)
		if subs[i].Attributes == nil {
			subs[i].Attributes = Attributes{}
		}
		subs[i].CreatedAt, subs[i].UpdatedAt = now, now
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Omit(clause.Associations).CreateInBatches(subs, 500).Error; err != nil {
			return fmt.Errorf("bulk insert subscribers: %w", err)
		}
		ms := make([]Subscription, len(subs))
		for i, sub := range subs {
			ms[i] = Subscription{SubscriberID: sub.ID, ListID: listID, Status: SubConfirmed,
				ConsentBasis: consentBasis, CreatedAt: now, UpdatedAt: now, ConfirmedAt: &now}
		}
		if err := tx.CreateInBatches(ms, 500).Error; err != nil {
			return fmt.Errorf("bulk insert subscriptions: %w", err)
		}
		return nil
	})
}

// liftOwn lifts the subscriber's suppression if its reason is one of
// reasons (see SelfLiftable).
func (s *Store) liftOwn(tx *gorm.DB, subscriberID int64, reasons []string, by Actor) error {
	var hash []string
	if err := tx.Model(&Subscriber{}).Where("id = ?", subscriberID).Pluck("email_hash", &hash).Error; err != nil {
		return fmt.Errorf("subscriber %d: %w", subscriberID, err)
	}
	if len(hash) == 0 {
		return nil
	}
	_, err := s.liftSuppression(tx, hash[0], subscriberID, reasons, by)
	return err
}
