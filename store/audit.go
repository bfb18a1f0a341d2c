package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// AuditRow is one row of the audit log: who did what, from where, to
// which object, with the change. The table is append-only: nothing in
// this package updates or deletes its rows (a test scans the code), and a
// trigger in the database refuses it. Personal data of subscribers is not
// kept here but in audit_personal (see AuditPersonal), which erasure
// deletes with the person.
type AuditRow struct {
	ID         int64     `gorm:"primaryKey" json:"id"`
	CreatedAt  time.Time `gorm:"not null;index" json:"created_at"`
	UserID     *int64    `gorm:"index" json:"user_id"`
	TokenID    *int64    `json:"token_id"`
	Source     string    `gorm:"size:40;not null;default:''" json:"source"`
	IP         string    `gorm:"size:64;not null;default:''" json:"ip"`
	UserAgent  string    `gorm:"size:500;not null;default:''" json:"user_agent"`
	Action     string    `gorm:"size:80;not null;index" json:"action"`
	ObjectType string    `gorm:"size:40;not null;default:'';index:idx_audit_object,priority:1" json:"object_type"`
	ObjectID   string    `gorm:"size:64;not null;default:'';index:idx_audit_object,priority:2" json:"object_id"`
	RequestID  string    `gorm:"size:64;not null;default:'';index" json:"request_id"`
	Changes    JSONMap   `gorm:"type:text;not null" json:"changes"`
}

// TableName is audit_log.
func (AuditRow) TableName() string { return "audit_log" }

// AuditPersonal holds the personal values (address, name, attributes) of a
// subscriber change recorded in the audit log. They live beside the log,
// keyed by the person, so that erasing the person removes them while the
// log itself stays append-only.
type AuditPersonal struct {
	AuditID      int64   `gorm:"primaryKey;autoIncrement:false"`
	SubscriberID int64   `gorm:"not null;index"`
	Changes      JSONMap `gorm:"type:text;not null"`
}

// TableName is audit_personal.
func (AuditPersonal) TableName() string { return "audit_personal" }

// Audit is the audit entry of one staff request, carried in its context
// from the HTTP middleware through the store. The store appends it in the
// transaction of the request's first committed write (inTx), so that a
// change and its audit row commit or fail together; a request that writes
// nothing (a test mail, an export) has it appended when it succeeds
// (FinishAudit). One request, one row.
type Audit struct {
	mu         sync.Mutex
	actor      Actor
	action     string
	objectType string
	objectID   string
	status     int
	changes    JSONMap
	personal   JSONMap // values kept in audit_personal
	subscriber int64   // the person personal belongs to
	ip         string
	userAgent  string
	requestID  string
	dirty      bool  // a write of the request has run
	written    int64 // id of the row, once appended
	onlyWrites bool  // no row for a request that wrote nothing
	deferred   bool  // the row waits for the request's end (FinishAudit)
	// late names what was recorded after the row was appended (and so is
	// not in it): a request whose first transaction is not its whole
	// action. Such a request should Defer, or do its action in one
	// transaction; Late lets the HTTP layer report it.
	late []string
	// txWrites counts the request's writes made inside a transaction,
	// commits the write transactions it committed (a write outside any
	// transaction is one of its own). More than one commit means a
	// failure after the first leaves part of the action behind; such a
	// request should run in one transaction (Store.Atomic).
	txWrites int
	commits  int
	atomic   bool // inside Store.Atomic: the row waits for its end
}

// lateLocked notes what arrives after the row was written; a.mu held.
func (a *Audit) lateLocked(what string) {
	if a.written != 0 {
		a.late = append(a.late, what)
	}
}

// Commits is how many write transactions the request committed.
func (a *Audit) Commits() int {
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.commits
}

// Late is what the request recorded after its row was appended, for a
// log line; nil when the row holds everything.
func (a *Audit) Late() []string {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.late...)
}

type auditKey struct{}
type actorKey struct{}

// StartAudit puts a new audit entry on ctx for a request that does
// action to objectType objectID (either may be refined later).
func StartAudit(ctx context.Context, action, objectType, objectID string) (context.Context, *Audit) {
	a := &Audit{action: action, objectType: objectType, objectID: objectID, changes: JSONMap{}}
	if by, ok := ActorFrom(ctx); ok {
		a.actor = by
	}
	return context.WithValue(ctx, auditKey{}, a), a
}

// AuditOf is the audit entry of ctx, or nil.
func AuditOf(ctx context.Context) *Audit {
	a, _ := ctx.Value(auditKey{}).(*Audit)
	return a
}

// unaudited is ctx without its audit entry: bookkeeping writes (a token's
// or a session's last use) are not the request's action.
func unaudited(ctx context.Context) context.Context {
	return context.WithValue(ctx, auditKey{}, (*Audit)(nil))
}

// OnlyIfWritten asks for no row when the request writes nothing: for
// machine routes (a bounce handed over) that mostly change nothing.
func (a *Audit) OnlyIfWritten() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.onlyWrites = true
	a.mu.Unlock()
}

// Defer keeps the row out of the request's transactions: it is appended
// when the request ends well. For requests of several transactions that
// undo their first ones when a later one fails (an upload stored in
// chunks), so that a refused request leaves nothing.
func (a *Audit) Defer() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.deferred = true
	a.mu.Unlock()
}

// SetOrigin records where the request came from (client IP, user agent),
// for the audit row only: the events of subscribers keep these for
// public actions alone.
func (a *Audit) SetOrigin(ip, userAgent, requestID string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.ip, a.userAgent, a.requestID = ip, userAgent, requestID
	a.mu.Unlock()
}

// WithActor records who acts in ctx (and on its audit entry, if any).
func WithActor(ctx context.Context, by Actor) context.Context {
	if a := AuditOf(ctx); a != nil {
		a.mu.Lock()
		a.actor = by
		a.mu.Unlock()
	}
	return context.WithValue(ctx, actorKey{}, by)
}

// ActorFrom is the actor recorded by WithActor.
func ActorFrom(ctx context.Context) (Actor, bool) {
	by, ok := ctx.Value(actorKey{}).(Actor)
	return by, ok
}

// SetAction names what the request did, replacing the one guessed from
// its route.
func (a *Audit) SetAction(action string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	if action != a.action {
		a.lateLocked("action " + action)
	}
	a.action = action
	a.mu.Unlock()
}

// SetObject names the object acted on.
func (a *Audit) SetObject(objectType string, id int64) {
	if a == nil {
		return
	}
	a.mu.Lock()
	if objectType != a.objectType || strconv.FormatInt(id, 10) != a.objectID {
		a.lateLocked("object " + objectType)
	}
	a.objectType, a.objectID = objectType, strconv.FormatInt(id, 10)
	a.mu.Unlock()
}

// Note adds a detail to the change (never a secret).
func (a *Audit) Note(key string, v any) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.lateLocked(key)
	a.changes[key] = v
	a.mu.Unlock()
}

// Change records one field's before and after; a field named like a
// secret is recorded as changed without its values.
func (a *Audit) Change(field string, before, after any) {
	if a == nil {
		return
	}
	if secretField(field) {
		a.Note(field, "changed")
		return
	}
	a.Note(field, map[string]any{"before": before, "after": after})
}

// ChangePersonal records the change of a subscriber's personal field: its
// values go to audit_personal, and erasure removes them.
func (a *Audit) ChangePersonal(subscriberID int64, field string, before, after any) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.personal == nil {
		a.personal = JSONMap{}
	}
	a.subscriber = subscriberID
	a.lateLocked(field)
	a.personal[field] = map[string]any{"before": before, "after": after}
	a.changes[field] = "changed"
}

// Action is the entry's action, for tests and logs.
func (a *Audit) Action() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.action
}

func secretField(f string) bool {
	f = strings.ToLower(f)
	for _, s := range []string{"password", "secret", "hash", "token_value", "totp", "recovery"} {
		if strings.Contains(f, s) {
			return true
		}
	}
	return false
}

// registerAuditCallbacks marks the request's audit entry dirty after every
// successful write of the request, and names the object a create made when
// the entry does not name one yet.
func registerAuditCallbacks(db *gorm.DB) error {
	mark := func(created bool) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			if tx.Error != nil || tx.Statement.Context == nil {
				return
			}
			a := AuditOf(tx.Statement.Context)
			if a == nil || tx.Statement.Table == "audit_log" || tx.Statement.Table == "audit_personal" {
				return
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			a.dirty = true
			if _, inTx := tx.Statement.ConnPool.(gorm.TxCommitter); inTx {
				a.txWrites++
			} else {
				a.commits++ // a write that commits by itself
			}
			if created && a.objectID == "" && tx.Statement.Schema != nil && tx.Statement.Schema.PrioritizedPrimaryField != nil &&
				tx.Statement.Table == a.objectType+"s" && tx.Statement.ReflectValue.IsValid() {
				if v, zero := tx.Statement.Schema.PrioritizedPrimaryField.ValueOf(tx.Statement.Context, tx.Statement.ReflectValue); !zero {
					a.objectID = fmt.Sprint(v)
				}
			}
		}
	}
	cb := db.Callback()
	return errors.Join(
		cb.Create().After("gorm:create").Register("utskick:audit_create", mark(true)),
		cb.Update().After("gorm:update").Register("utskick:audit_update", mark(false)),
		cb.Delete().After("gorm:delete").Register("utskick:audit_delete", mark(false)),
		cb.Raw().After("gorm:raw").Register("utskick:audit_raw", mark(false)),
	)
}

// inTx runs fn in a write transaction and, when ctx carries an audit
// entry that is not yet written and fn wrote something, appends it in
// the same transaction before the commit.
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	a := AuditOf(ctx)
	var wasDirty bool
	var txWrites int
	if a != nil {
		a.mu.Lock()
		wasDirty, txWrites = a.dirty, a.txWrites
		a.mu.Unlock()
	}
	wrote := false
	err := s.writer(ctx).Transaction(func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		if a == nil {
			return nil
		}
		a.mu.Lock()
		due := a.dirty && a.written == 0 && !a.deferred && !a.atomic
		a.mu.Unlock()
		if !due {
			return nil
		}
		wrote = true
		return s.appendAudit(tx, a)
	})
	if err != nil && a != nil {
		// The transaction rolled back: neither its writes nor its audit
		// row happened.
		a.mu.Lock()
		a.dirty = wasDirty
		if wrote {
			a.written = 0
		}
		a.mu.Unlock()
	}
	if err == nil && a != nil && txOf(ctx) == nil {
		a.mu.Lock()
		if a.txWrites > txWrites {
			a.commits++
		}
		a.mu.Unlock()
	}
	return err
}

type txKey struct{}

// txOf is the transaction of an Atomic block running in ctx, or nil.
func txOf(ctx context.Context) *gorm.DB {
	tx, _ := ctx.Value(txKey{}).(*gorm.DB)
	return tx
}

// Atomic runs fn in one transaction: every store write fn makes with the
// ctx it is given joins it (a transaction of a store method becomes a
// savepoint), and so does the request's audit row, appended at the end
// when fn wrote anything. fn returning an error undoes all of it. For a
// request whose action takes several store calls (create a user, then
// give them grants): a failure of a later call leaves nothing of the
// earlier ones. fn must not hand ctx to anything that outlives it (a
// goroutine, a queue) and must not enqueue work: ring bells after
// Atomic returns.
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	if txOf(ctx) != nil {
		return fn(ctx)
	}
	a := AuditOf(ctx)
	var wasAtomic, wasDirty bool
	var txWrites int
	if a != nil {
		a.mu.Lock()
		wasAtomic, wasDirty, txWrites = a.atomic, a.dirty, a.txWrites
		a.atomic = true
		a.mu.Unlock()
	}
	wrote := false
	err := s.writer(ctx).Transaction(func(tx *gorm.DB) error {
		if err := fn(context.WithValue(ctx, txKey{}, tx)); err != nil {
			return err
		}
		if a == nil {
			return nil
		}
		a.mu.Lock()
		a.atomic = wasAtomic
		due := a.dirty && a.written == 0 && !a.deferred
		a.mu.Unlock()
		if !due {
			return nil
		}
		wrote = true
		return s.appendAudit(tx.Session(&gorm.Session{NewDB: true}).WithContext(ctx), a)
	})
	if a != nil {
		a.mu.Lock()
		a.atomic = wasAtomic
		if err != nil {
			a.dirty = wasDirty
			a.txWrites = txWrites
			if wrote {
				a.written = 0
			}
		} else if a.txWrites > txWrites {
			a.commits++
		}
		a.mu.Unlock()
	}
	return err
}

// appendAudit inserts a's row (and its personal part) with tx.
func (s *Store) appendAudit(tx *gorm.DB, a *Audit) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip, ua := a.actor.IP, a.actor.UserAgent
	if a.ip != "" || a.userAgent != "" {
		ip, ua = a.ip, a.userAgent
	}
	row := AuditRow{CreatedAt: s.now(), Source: a.actor.Source, IP: truncate(ip, 64),
		UserAgent: truncate(ua, 500), Action: truncate(a.action, 80), ObjectType: a.objectType,
		ObjectID: truncate(a.objectID, 64), RequestID: truncate(a.requestID, 64), Changes: JSONMap{}}
	if a.actor.UserID != 0 {
		id := a.actor.UserID
		row.UserID = &id
	}
	if a.actor.TokenID != 0 {
		id := a.actor.TokenID
		row.TokenID = &id
	}
	for k, v := range a.changes {
		row.Changes[k] = v
	}
	if err := tx.Session(&gorm.Session{NewDB: true}).Create(&row).Error; err != nil {
		return fmt.Errorf("append audit row: %w", err)
	}
	if len(a.personal) > 0 && a.subscriber != 0 {
		p := AuditPersonal{AuditID: row.ID, SubscriberID: a.subscriber, Changes: a.personal}
		if err := tx.Session(&gorm.Session{NewDB: true}).Create(&p).Error; err != nil {
			return fmt.Errorf("append audit row: %w", err)
		}
	}
	a.written = row.ID
	return nil
}

// FinishAudit ends the request's entry: status is the response's. The row
// is appended now if the request succeeded (status below 400) and no row
// was appended yet (a request that wrote outside a transaction, or wrote
// nothing, such as a test send). A refused request leaves no row unless
// it committed a write on the way (which inTx appended). It returns the
// row's id (0: none).
func (s *Store) FinishAudit(ctx context.Context, status int) (int64, error) {
	a := AuditOf(ctx)
	if a == nil {
		return 0, nil
	}
	a.mu.Lock()
	a.status = status
	written, dirty := a.written, a.dirty
	a.mu.Unlock()
	if written != 0 || status >= 400 || (a.onlyWrites && !dirty) {
		return written, nil
	}
	err := s.writer(context.WithoutCancel(ctx)).Transaction(func(tx *gorm.DB) error { return s.appendAudit(tx, a) })
	if err != nil {
		return 0, err
	}
	return a.written, nil
}

// AppendAudit appends an entry on its own, for what happens outside a
// staff request's usual path (a failed sign-in). When ctx carries the
// request's entry, that entry is taken as written.
func (s *Store) AppendAudit(ctx context.Context, by Actor, action, objectType, objectID string, changes map[string]any) error {
	a := &Audit{actor: by, action: action, objectType: objectType, objectID: objectID, changes: JSONMap{}}
	for k, v := range changes {
		a.changes[k] = v
	}
	if cur := AuditOf(ctx); cur != nil {
		cur.mu.Lock()
		a.status, a.ip, a.userAgent, a.requestID = cur.status, cur.ip, cur.userAgent, cur.requestID
		cur.mu.Unlock()
	}
	err := s.writer(ctx).Transaction(func(tx *gorm.DB) error { return s.appendAudit(tx, a) })
	if err != nil {
		return err
	}
	if cur := AuditOf(ctx); cur != nil {
		cur.mu.Lock()
		cur.written = a.written
		cur.mu.Unlock()
	}
	return nil
}

// AuditQuery filters the audit log. Pages run newest first: Before is the
// id of the last row of the previous page.
type AuditQuery struct {
	UserID     int64
	TokenID    int64
	ObjectType string
	ObjectID   string
	Action     string // exact, or a prefix ending in "." ("campaign.")
	RequestID  string
	Since      time.Time
	Until      time.Time
	Before     int64
	Limit      int
}

// AuditLog returns a page of the log, newest first, and the cursor of the
// next page (0: none). Personal values of subscriber changes still kept
// are merged into their rows.
func (s *Store) AuditLog(ctx context.Context, q AuditQuery) ([]AuditRow, int64, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	tx := s.reader(ctx).Model(&AuditRow{})
	if q.UserID != 0 {
		tx = tx.Where("user_id = ?", q.UserID)
	}
	if q.TokenID != 0 {
		tx = tx.Where("token_id = ?", q.TokenID)
	}
	if q.ObjectType != "" {
		tx = tx.Where("object_type = ?", q.ObjectType)
	}
	if q.ObjectID != "" {
		tx = tx.Where("object_id = ?", q.ObjectID)
	}
	if q.RequestID != "" {
		tx = tx.Where("request_id = ?", q.RequestID)
	}
	if q.Action != "" {
		if strings.HasSuffix(q.Action, ".") {
			tx = tx.Where("action LIKE ?", strings.NewReplacer("%", `\%`, "_", `\_`).Replace(q.Action)+"%")
		} else {
			tx = tx.Where("action = ?", q.Action)
		}
	}
	if !q.Since.IsZero() {
		tx = tx.Where("created_at >= ?", q.Since.UTC())
	}
	if !q.Until.IsZero() {
		tx = tx.Where("created_at < ?", q.Until.UTC())
	}
	if q.Before > 0 {
		tx = tx.Where("id < ?", q.Before)
	}
	var rows []AuditRow
	if err := tx.Order("id DESC").Limit(q.Limit + 1).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("audit log: %w", err)
	}
	var next int64
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		next = rows[len(rows)-1].ID
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		if r.ObjectType == "subscriber" {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) > 0 {
		var ps []AuditPersonal
		if err := s.reader(ctx).Where("audit_id IN ?", ids).Find(&ps).Error; err != nil {
			return nil, 0, fmt.Errorf("audit log: %w", err)
		}
		byID := map[int64]JSONMap{}
		for _, p := range ps {
			byID[p.AuditID] = p.Changes
		}
		for i := range rows {
			for k, v := range byID[rows[i].ID] {
				rows[i].Changes[k] = v
			}
		}
	}
	return rows, next, nil
}
