package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Delivery statuses.
//
//	pending → sending (claimed by one sender) → sent | failed | pending (retry later)
//	pending → suppressed (the address must not be mailed) | cancelled
//	sent → bounced (a DSN reported a permanent failure later; stats.go)
const (
	DeliveryPending    = "pending"
	DeliverySending    = "sending"
	DeliverySent       = "sent"
	DeliveryFailed     = "failed"
	DeliveryCancelled  = "cancelled"
	DeliverySuppressed = "suppressed"
)

// Failure classes of a failed delivery.
const (
	FailTemporary = "temporary" // 4xx or network errors until attempts or age ran out
	FailPermanent = "permanent" // 5xx
	// FailPolicy is a 5xx refusal for the sender's sake (DMARC, block
	// lists, content filters): nothing is wrong with the address, so it is
	// not suppressed, and the delivery can be retried once the cause is
	// fixed.
	FailPolicy = "policy"
)

// Delivery is one campaign to one subscriber: the row that says whether
// they got it. UNIQUE(campaign_id, subscriber_id) is the "never twice"
// guarantee.
type Delivery struct {
	// The (campaign_id, status, id) index hands a claim the campaign's
	// next pending deliveries in id order without reading the ones
	// already sent.
	ID           int64  `gorm:"primaryKey;index:idx_deliveries_claim,priority:3" json:"id"`
	CampaignID   int64  `gorm:"not null;uniqueIndex:idx_deliveries_campaign_subscriber,priority:1;index:idx_deliveries_claim,priority:1" json:"campaign_id"`
	SubscriberID *int64 `gorm:"uniqueIndex:idx_deliveries_campaign_subscriber,priority:2;index" json:"subscriber_id"`
	Status       string `gorm:"size:16;not null;index:idx_deliveries_claim,priority:2" json:"status"`
	Attempts     int    `gorm:"not null;default:0" json:"attempts"`
	SMTPCode     int    `gorm:"column:smtp_code;not null;default:0" json:"smtp_code"`
	SMTPMessage  string `gorm:"column:smtp_message;size:1000;not null;default:''" json:"smtp_message"`
	FailureClass string `gorm:"size:16;not null;default:''" json:"failure_class,omitempty"`
	MessageID    string `gorm:"size:255;not null;default:''" json:"message_id"`
	// ClaimToken and ClaimedUntil are the lease of the sender working on a
	// sending row. A row still sending after its lease ran out belongs to
	// a sender that died; reconcile hands it back as pending.
	ClaimToken    string     `gorm:"size:40;not null;default:''" json:"-"`
	ClaimedUntil  *time.Time `json:"-"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time  `gorm:"not null" json:"created_at"`
	UpdatedAt     time.Time  `gorm:"not null" json:"updated_at"`
	SentAt        *time.Time `json:"sent_at"`
}

// Recipient is a claimed delivery with what the sender needs to render
// and address it.
type Recipient struct {
	DeliveryID   int64
	SubscriberID int64
	Email        string
	Name         string
	Language     string
	Attributes   Attributes
	Attempts     int // including this one
	MessageID    string
	CreatedAt    time.Time // of the delivery, for the retry age limit
}

// ClaimParams select the deliveries a sender claims.
type ClaimParams struct {
	CampaignID int64
	Limit      int
	// Spread is how many senders share the campaign. A claim then takes
	// no more than its share of the pending deliveries (at least one, at
	// most Limit), so a small campaign, or the tail of a large one, is
	// worked on by every sender instead of by the first few to claim a
	// whole batch each. 0 takes Limit.
	Spread int
	Token  string        // unique per claim
	Lease  time.Duration // how long the claim holds without renewal
	// MessageIDSuffix completes the Message-ID the claim gives a row the
	// first time: "d<id>.c<campaign><suffix>". It is kept on the row, so a
	// resend after a crash has the same Message-ID even if settings
	// changed meanwhile.
	MessageIDSuffix string
}

// ClaimResult is what ClaimDeliveries took.
type ClaimResult struct {
	Recipients []Recipient
	// Withdrawn are claimed deliveries whose subscriber has left every
	// list of the campaign, or was deleted, since the campaign was
	// dispatched. They were marked suppressed and must not be sent.
	Withdrawn int
}

// ClaimDeliveries moves up to p.Limit due pending deliveries of the
// campaign to sending under p.Token, counts the attempt, and returns them. Two
// claimers never get the same row: the update is conditional on the row
// still being pending.
func (s *Store) ClaimDeliveries(ctx context.Context, p ClaimParams) (*ClaimResult, error) {
	now := s.now()
	until := now.Add(p.Lease)
	res := &ClaimResult{}
	var loadStmt *sql.Stmt
	if s.dialect == DialectSQLite {
		var err error
		if loadStmt, err = s.prepared(ctx, claimLoadSQLite); err != nil {
			return nil, fmt.Errorf("claim deliveries of campaign %d: %w", p.CampaignID, err)
		}
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		pick := `SELECT id FROM deliveries
			WHERE campaign_id = ? AND status = ?
			  AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
			ORDER BY id LIMIT ?`
		limit := p.Limit
		if p.Spread > 1 {
			// The share comes from the counters the deliveries' triggers
			// keep (one primary-key read), not from counting rows: that
			// walked past every delivery already sent, on every claim. It
			// includes rows that wait for a retry, so a share may be a
			// little large then.
			var due int
			err := tx.Raw(`SELECT COALESCE(SUM(n), 0) FROM delivery_counts WHERE campaign_id = ? AND status = ?`,
				p.CampaignID, DeliveryPending).Scan(&due).Error
			if err != nil {
				return fmt.Errorf("count due deliveries of campaign %d: %w", p.CampaignID, err)
			}
			limit = min(p.Limit, max(1, (due+p.Spread-1)/p.Spread))
		}
		// RETURNING hands back the ids claimed, so loading them is a
		// primary-key lookup rather than a search among every delivery
		// other senders hold.
		var claimed []int64
		set := `SET status = ?, claim_token = ?, claimed_until = ?, attempts = attempts + 1, updated_at = ?,
			message_id = CASE WHEN deliveries.message_id = '' THEN 'd' || deliveries.id || '.c' || deliveries.campaign_id || ?
				ELSE deliveries.message_id END`
		setArgs := []any{DeliverySending, p.Token, until, now, p.MessageIDSuffix}
		pickArgs := []any{p.CampaignID, DeliveryPending, now, limit}
		var err error
		if s.dialect == DialectPostgres {
			// Concurrent claimers skip each other's rows instead of
			// queueing behind them. The pick is materialised once: as an
			// IN (…) subquery the planner may rescan it per row, and each
			// rescan skips the rows this very statement already locked,
			// so the LIMIT window slid along and one claim took every
			// pending row of a small campaign.
			err = tx.Raw(`WITH picked AS MATERIALIZED (`+pick+` FOR UPDATE SKIP LOCKED)
				UPDATE deliveries `+set+` FROM picked
				WHERE deliveries.id = picked.id AND deliveries.status = ? RETURNING deliveries.id`,
				append(append(pickArgs, setArgs...), DeliveryPending)...).Scan(&claimed).Error
		} else {
			err = tx.Raw(`UPDATE deliveries `+set+` WHERE id IN (`+pick+`) AND status = ? RETURNING id`,
				append(append(setArgs, pickArgs...), DeliveryPending)...).Scan(&claimed).Error
		}
		if err == nil && len(claimed) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim deliveries of campaign %d: %w", p.CampaignID, err)
		}
		var rows []claimedRow
		// Subscription and suppression are checked again here, not only
		// at dispatch, so an unsubscribe or a bounce that lands while the
		// campaign is sending holds.

		// The ids go as one parameter (a JSON array on SQLite, an array
		// literal on Postgres), so the statement is the same for every
		// claim: prepared once, and on Postgres planned once instead of
		// again for each claim's number of ids. On SQLite the statement is
		// prepared before the transaction, as its writer has one
		// connection, and the rows are read without gorm's reflection:
		// parsing the statement with its hundred placeholders and scanning
		// through gorm took most of a claim's CPU.
		st, isTx := inTxStmt(ctx, tx, loadStmt)
		if isTx {
			var rs *sql.Rows
			rs, err = st.QueryContext(ctx, SubConfirmed, idsJSON(claimed), p.Token)
			if err == nil {
				for rs.Next() {
					var r claimedRow
					if err = rs.Scan(&r.ID, &r.SubscriberID, &r.Attempts, &r.MessageID, &r.CreatedAt,
						&r.Email, &r.Name, &r.Language, &r.Attributes, &r.Subscribed, &r.Suppressed); err != nil {
						break
					}
					rows = append(rows, r)
				}
				if err == nil {
					err = rs.Err()
				}
				rs.Close()
			}
		} else {
			err = tx.Raw(claimLoadPostgres, SubConfirmed, s.idList(claimed), p.Token).Scan(&rows).Error
		}
		if err != nil {
			return fmt.Errorf("load claimed deliveries of campaign %d: %w", p.CampaignID, err)
		}
		gone := map[string][]int64{}
		for _, r := range rows {
			switch {
			case r.SubscriberID == nil || r.Email == nil:
				gone["not sent: subscriber deleted"] = append(gone["not sent: subscriber deleted"], r.ID)
			case r.Suppressed != nil:
				why := "not sent: address suppressed (" + *r.Suppressed + ")"
				gone[why] = append(gone[why], r.ID)
			case !r.Subscribed:
				gone["not sent: unsubscribed before sending"] = append(gone["not sent: unsubscribed before sending"], r.ID)
			default:
				res.Recipients = append(res.Recipients, Recipient{
					DeliveryID: r.ID, SubscriberID: *r.SubscriberID, Email: *r.Email, Name: deref(r.Name),
					Language: deref(r.Language), Attributes: r.Attributes, Attempts: r.Attempts,
					MessageID: r.MessageID, CreatedAt: r.CreatedAt,
				})
			}
		}
		for why, ids := range gone {
			res.Withdrawn += len(ids)
			err := tx.Model(&Delivery{}).Where("id IN ?", ids).Updates(map[string]any{
				"status": DeliverySuppressed, "smtp_message": why,
				"claim_token": "", "claimed_until": nil, "updated_at": now}).Error
			if err != nil {
				return fmt.Errorf("withdraw deliveries: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// claimedRow is a claimed delivery as ClaimDeliveries loads it.
type claimedRow struct {
	ID           int64
	SubscriberID *int64
	Attempts     int
	MessageID    string
	CreatedAt    time.Time
	Email        *string
	Name         *string
	Language     *string
	Attributes   Attributes
	Subscribed   bool
	Suppressed   *string
}

// claimLoad loads claimed deliveries with what the sender needs; %s is
// the list of ids.
const claimLoad = `SELECT d.id, d.subscriber_id, d.attempts, d.message_id, d.created_at,
		s.email, s.name, s.language, s.attributes,
		EXISTS (SELECT 1 FROM subscriptions m
			JOIN campaign_lists cl ON cl.list_id = m.list_id AND cl.campaign_id = d.campaign_id
			WHERE m.subscriber_id = d.subscriber_id AND m.status = ?) AS subscribed,
		sp.reason AS suppressed
	FROM deliveries d
	LEFT JOIN subscribers s ON s.id = d.subscriber_id
	LEFT JOIN suppressions sp ON sp.email_hash = s.email_hash
	WHERE %s AND d.claim_token = ?
	ORDER BY d.id`

// claimLoadSQLite and claimLoadPostgres are claimLoad on each engine.
var (
	claimLoadSQLite   = fmt.Sprintf(claimLoad, idInSQLite("d.id"))
	claimLoadPostgres = fmt.Sprintf(claimLoad, idInPostgres("d.id"))
)

// idIn is a condition that column is one of the ids of the one parameter
// that idList makes of them. A list of ids as one parameter keeps a
// statement's text the same whatever the number of ids: prepared once per
// connection, and planned once on Postgres, where a statement with one
// placeholder per id was parsed and planned again for each new length
// (with the outcome update's VALUES, planning at bind was a fifth of
// Postgres's CPU in a send).
func (s *Store) idIn(column string) string {
	if s.dialect == DialectPostgres {
		return idInPostgres(column)
	}
	return idInSQLite(column)
}

func idInSQLite(column string) string {
	return column + " IN (SELECT value FROM json_each(?))"
}

func idInPostgres(column string) string {
	return column + " = ANY(CAST(CAST(? AS text) AS bigint[]))"
}

// idList is ids as the parameter of idIn: a JSON array on SQLite, an
// array literal on Postgres.
func (s *Store) idList(ids []int64) string {
	if s.dialect == DialectPostgres {
		return idsText(ids, '{', '}')
	}
	return idsJSON(ids)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// StillSubscribed returns which of the subscriber ids are still confirmed
// on at least one list of the campaign and not suppressed. Senders call it
// shortly before sending so a withdrawal during a long batch is honoured.
func (s *Store) StillSubscribed(ctx context.Context, campaignID int64, subscriberIDs []int64) (map[int64]bool, error) {
	out := make(map[int64]bool, len(subscriberIDs))
	if len(subscriberIDs) == 0 {
		return out, nil
	}
	var ids []int64
	// Driven by the subscriber ids, each looked up by key: the planner
	// cannot turn it into a scan of the whole list, which it did on
	// Postgres when the list's statistics were stale (right after a big
	// import, the subscriptions looked like two rows): 70 ms a call at
	// 100,000 subscribers against 0.2 ms.
	err := s.reader(ctx).Raw(`SELECT s.id FROM subscribers s
		WHERE `+s.idIn("s.id")+`
		  AND EXISTS (SELECT 1 FROM campaign_lists cl
			JOIN subscriptions m ON m.subscriber_id = s.id AND m.list_id = cl.list_id
			WHERE cl.campaign_id = ? AND m.status = ?)
		  AND NOT EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email_hash = s.email_hash)`,
		s.idList(subscriberIDs), campaignID, SubConfirmed).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("check subscriptions for campaign %d: %w", campaignID, err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// Outcome is what happened to one claimed delivery.
type Outcome struct {
	DeliveryID    int64
	Status        string // DeliverySent, DeliveryFailed, DeliveryPending (retry), DeliverySuppressed, DeliveryCancelled
	SMTPCode      int
	SMTPMessage   string
	FailureClass  string
	MessageID     string
	NextAttemptAt *time.Time // for DeliveryPending
	At            time.Time
	// Suppress, when set, adds the recipient's address to the suppression
	// list with this reason (a 5.1.x "no such user" is SuppressHardBounce),
	// in the same transaction as the outcome.
	Suppress string
}

// RecordOutcomes writes outcomes in one statement (one transaction). The
// send path calls it as soon as outcomes are known, grouping whatever
// arrived while the previous write ran, so a crash can only lose the
// outcomes of messages in flight.
func (s *Store) RecordOutcomes(ctx context.Context, outs []Outcome) error {
	// A bound on one statement's work, which the JSON form no longer
	// needs for the parameter limit.
	const chunk = 200
	for len(outs) > 0 {
		n := min(chunk, len(outs))
		if err := s.recordOutcomes(ctx, outs[:n]); err != nil {
			return err
		}
		outs = outs[n:]
	}
	return nil
}

// outcomesFromJSON is the outcome update: the group arrives as one JSON
// array of rows, so the statement is the same whatever the group's size,
// prepared once per connection (and on Postgres planned once). A VALUES
// list of nine placeholders a row was parsed again on every write (up to
// 1,800 parameters): on SQLite that took more CPU than the update itself,
// 16 µs a delivery, an eighth of the whole unsigned send; on Postgres
// each group size was a statement of its own, planned at every bind
// (with the claim's id lists, a fifth of the database's CPU in a send).
const outcomesFromJSON = `UPDATE deliveries SET status = v.status, smtp_code = v.code, smtp_message = v.msg,
	failure_class = v.fclass, message_id = CASE WHEN v.mid = '' THEN deliveries.message_id ELSE v.mid END,
	next_attempt_at = v.next_at, sent_at = COALESCE(v.sent_at, deliveries.sent_at),
	claim_token = '', claimed_until = NULL, updated_at = v.at
	FROM (SELECT value ->> 0 AS id, value ->> 1 AS status, value ->> 2 AS code, value ->> 3 AS msg,
		value ->> 4 AS fclass, value ->> 5 AS mid, value ->> 6 AS next_at, value ->> 7 AS sent_at, value ->> 8 AS at
		FROM json_each(?)) AS v
	WHERE deliveries.id = v.id`

// outcomesFromJSONPostgres is outcomesFromJSON in Postgres's words, with
// the ids once more as an array (the second parameter): the plan is made
// once per connection for a group of unknown size, and joined only to the
// JSON rows (estimated at 100) it was a hash join over a scan of every
// delivery whenever the table's statistics were older than the campaign
// (seen on a fresh campaign with autovacuum off: Postgres's CPU per
// message up by half). The primary-key lookup of the ids is the cheapest
// plan whatever the statistics say. The rows are read as jsonb, parsed
// once: each ->> of a json value parses its text again, nine times a row.
const outcomesFromJSONPostgres = `UPDATE deliveries SET status = v.status, smtp_code = v.code, smtp_message = v.msg,
	failure_class = v.fclass, message_id = CASE WHEN v.mid = '' THEN deliveries.message_id ELSE v.mid END,
	next_attempt_at = v.next_at, sent_at = COALESCE(v.sent_at, deliveries.sent_at),
	claim_token = '', claimed_until = NULL, updated_at = v.at
	FROM (SELECT CAST(e ->> 0 AS bigint) AS id, e ->> 1 AS status, CAST(e ->> 2 AS integer) AS code,
		e ->> 3 AS msg, e ->> 4 AS fclass, e ->> 5 AS mid, CAST(e ->> 6 AS timestamptz) AS next_at,
		CAST(e ->> 7 AS timestamptz) AS sent_at, CAST(e ->> 8 AS timestamptz) AS at
		FROM jsonb_array_elements(CAST(CAST(? AS text) AS jsonb)) AS e) AS v
	WHERE deliveries.id = ANY(CAST(CAST(? AS text) AS bigint[])) AND deliveries.id = v.id`

// sqliteTime is how go-sqlite3 writes a time.Time parameter
// (SQLiteTimestampFormats[0]); times inside JSON are written the same way so
// that they read back alike.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// outcomesJSON is outs as the JSON rows of outcomesFromJSON.
func outcomesJSON(outs []Outcome) string {
	b := make([]byte, 0, 64+len(outs)*160)
	b = append(b, '[')
	str := func(v string) {
		// Postgres cannot turn a JSON \u0000 into text, and a NUL in an
		// SMTP reply means nothing; json.Marshal already replaces
		// invalid UTF-8.
		q, _ := json.Marshal(strings.ReplaceAll(v, "\x00", ""))
		b = append(b, q...)
	}
	ts := func(t *time.Time) {
		if t == nil {
			b = append(b, "null"...)
			return
		}
		b = append(b, '"')
		b = t.UTC().Truncate(time.Microsecond).AppendFormat(b, sqliteTime)
		b = append(b, '"')
	}
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, o.DeliveryID, 10)
		b = append(b, ',')
		str(o.Status)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(o.SMTPCode), 10)
		b = append(b, ',')
		str(truncate(o.SMTPMessage, 1000))
		b = append(b, ',')
		str(o.FailureClass)
		b = append(b, ',')
		str(o.MessageID)
		b = append(b, ',')
		ts(o.NextAttemptAt)
		b = append(b, ',')
		if o.Status == DeliverySent {
			ts(&o.At)
		} else {
			ts(nil)
		}
		b = append(b, ',')
		ts(&o.At)
		b = append(b, ']')
	}
	return string(append(b, ']'))
}

// prepared returns query prepared on the writer, preparing it on first
// use. It is for the statements of the SQLite send path, which go-sqlite3
// would otherwise parse again on every call.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	st := s.stmts[query]
	s.stmtMu.Unlock()
	if st != nil {
		return st, nil
	}
	// Not under stmtMu: preparing waits for the writer's connection.
	db, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	if st, err = db.PrepareContext(ctx, query); err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if had := s.stmts[query]; had != nil {
		st.Close()
		return had, nil
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// inTxStmt is st for use inside the gorm transaction tx; ok is false when
// tx is not a database/sql transaction. st must be prepared before the
// transaction begins: the SQLite writer has one connection, which the
// transaction holds.
func inTxStmt(ctx context.Context, tx *gorm.DB, st *sql.Stmt) (_ *sql.Stmt, ok bool) {
	sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
	if !ok || st == nil {
		return nil, false
	}
	return sqlTx.StmtContext(ctx, st), true
}

// idsJSON is ids as a JSON array, for json_each.
func idsJSON(ids []int64) string { return idsText(ids, '[', ']') }

// idsText is ids separated by commas between open and end.
func idsText(ids []int64, open, end byte) string {
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, open)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, end))
}

func (s *Store) recordOutcomes(ctx context.Context, outs []Outcome) error {
	var suppress []Outcome
	for _, o := range outs {
		if o.Suppress != "" {
			suppress = append(suppress, o)
		}
	}
	rows := outcomesJSON(outs)
	if s.dialect == DialectSQLite && len(suppress) == 0 {
		st, err := s.prepared(ctx, outcomesFromJSON)
		if err == nil {
			_, err = st.ExecContext(ctx, rows)
		}
		if err != nil {
			return fmt.Errorf("record %d delivery outcomes: %w", len(outs), err)
		}
		return nil
	}
	update, args := outcomesFromJSON, []any{rows}
	if s.dialect == DialectPostgres {
		ids := make([]int64, len(outs))
		for i, o := range outs {
			ids[i] = o.DeliveryID
		}
		update, args = outcomesFromJSONPostgres, append(args, s.idList(ids))
	}
	write := func(tx *gorm.DB) error {
		if err := tx.Exec(update, args...).Error; err != nil {
			return fmt.Errorf("record %d delivery outcomes: %w", len(outs), err)
		}
		return nil
	}
	if len(suppress) == 0 {
		return write(s.writer(ctx))
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := write(tx); err != nil {
			return err
		}
		for _, o := range suppress {
			var sub Subscriber
			err := tx.Select("subscribers.id, subscribers.email").
				Joins("JOIN deliveries d ON d.subscriber_id = subscribers.id").
				Where("d.id = ?", o.DeliveryID).Take(&sub).Error
			if isMissing(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("suppress after delivery %d: %w", o.DeliveryID, err)
			}
			if _, err := s.suppress(tx, sub.Email, o.Suppress, o.SMTPMessage, Actor{Source: "smtp"}); err != nil {
				return err
			}
		}
		return nil
	})
}

// ExtendClaims renews the lease on the rows still sending under token.
func (s *Store) ExtendClaims(ctx context.Context, token string, lease time.Duration) error {
	now := s.now()
	err := s.writer(ctx).Model(&Delivery{}).Where("claim_token = ? AND status = ?", token, DeliverySending).
		Updates(map[string]any{"claimed_until": now.Add(lease)}).Error
	if err != nil {
		return fmt.Errorf("extend claim: %w", err)
	}
	return nil
}

// ReleaseClaims hands rows still sending under token back as pending,
// without counting the attempt, because they were never tried: a pause, a
// cancel or a shutdown stopped the sender first.
func (s *Store) ReleaseClaims(ctx context.Context, token string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.writer(ctx).Model(&Delivery{}).
		Where("id IN ? AND claim_token = ? AND status = ?", ids, token, DeliverySending).
		Updates(map[string]any{"status": DeliveryPending, "claim_token": "", "claimed_until": nil,
			"attempts": gorm.Expr("CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"), "updated_at": s.now()}).Error
	if err != nil {
		return fmt.Errorf("release claim: %w", err)
	}
	return nil
}

// RequeueExpiredClaims returns rows whose sender died (lease ran out while
// sending) to pending. Such a row may already have been accepted by the
// SMTP server just before the crash; it is sent again with the same
// Message-ID, because losing a recipient is worse than a duplicate the
// receiver can recognise. It returns the campaigns touched.
//
// Claims exist only in campaigns that are sending or paused, so the
// search goes campaign by campaign through the (campaign_id, status)
// index instead of keeping an index of its own that every claim and every
// outcome would have to update.
func (s *Store) RequeueExpiredClaims(ctx context.Context) (map[int64]int64, error) {
	var ids []int64
	if err := s.reader(ctx).Model(&Campaign{}).Where("status IN ?", []string{CampaignSending, CampaignPaused}).
		Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("requeue expired claims: %w", err)
	}
	out := map[int64]int64{}
	now := s.now()
	for _, id := range ids {
		res := s.writer(ctx).Model(&Delivery{}).
			Where("campaign_id = ? AND status = ? AND claimed_until < ?", id, DeliverySending, now).
			Updates(map[string]any{"status": DeliveryPending, "claim_token": "", "claimed_until": nil, "updated_at": now})
		if res.Error != nil {
			return nil, fmt.Errorf("requeue expired claims of campaign %d: %w", id, res.Error)
		}
		if res.RowsAffected > 0 {
			out[id] = res.RowsAffected
		}
	}
	return out, nil
}

// NextAttemptAt returns when the campaign's earliest pending delivery that
// waits for a retry is due, or zero if none waits.
func (s *Store) NextAttemptAt(ctx context.Context, campaignID int64) (time.Time, error) {
	var ts []time.Time
	err := s.reader(ctx).Model(&Delivery{}).
		Where("campaign_id = ? AND status = ? AND next_attempt_at IS NOT NULL", campaignID, DeliveryPending).
		Order("next_attempt_at").Limit(1).Pluck("next_attempt_at", &ts).Error
	if err != nil {
		return time.Time{}, fmt.Errorf("next attempt of campaign %d: %w", campaignID, err)
	}
	if len(ts) == 0 {
		return time.Time{}, nil
	}
	return ts[0], nil
}

// DeliveryRow is a delivery with its address, for the per-recipient
// record of a campaign.
type DeliveryRow struct {
	Delivery
	Email string `json:"email"`
}

// DeliveryQuery filters and pages Deliveries.
type DeliveryQuery struct {
	CampaignID int64
	Status     string
	After      int64
	Limit      int
	// Email keeps deliveries to addresses starting with it (case does not
	// matter): the address search of the delivery log.
	Email string
}

// Deliveries returns one page of a campaign's deliveries in id order.
func (s *Store) Deliveries(ctx context.Context, q DeliveryQuery) ([]DeliveryRow, int64, error) {
	if AccessFrom(ctx) != nil {
		if _, err := s.Campaign(ctx, q.CampaignID); err != nil {
			return nil, 0, err
		}
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	tx := s.reader(ctx).Table("deliveries d").
		Select("d.*, COALESCE(s.email, '') AS email").
		Joins("LEFT JOIN subscribers s ON s.id = d.subscriber_id").
		Where("d.campaign_id = ? AND d.id > ?", q.CampaignID, q.After)
	if q.Status != "" {
		tx = tx.Where("d.status = ?", q.Status)
	}
	if e := normalizeSearch(q.Email); e != "" {
		// The subscribers whose address starts with e, then their
		// deliveries by the (campaign_id, subscriber_id) index. Both
		// conditions read an index of subscribers: on SQLite a range on
		// the email index, on Postgres a range in the byte order of the
		// lower(email) text_pattern_ops index of the subscriber search
		// (0012; see searchCond for why not LIKE).
		sub := "SELECT id FROM subscribers WHERE email >= ? AND email < ?"
		args := []any{e, emailPrefixEnd(e)}
		if s.dialect == DialectPostgres {
			sub = "SELECT id FROM subscribers WHERE lower(email) ~>=~ ? AND lower(email) ~<~ ?"
			args = []any{e, e + "\U0010FFFF"}
		}
		tx = tx.Where("d.subscriber_id IN ("+sub+")", args...)
	}
	var rows []DeliveryRow
	if err := tx.Order("d.id").Limit(q.Limit + 1).Scan(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("deliveries of campaign %d: %w", q.CampaignID, err)
	}
	var next int64
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		next = rows[len(rows)-1].ID
	}
	return rows, next, nil
}
