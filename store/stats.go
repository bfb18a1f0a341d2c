package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Event kinds of delivery statistics.
const (
	EventOpened          = "opened"           // the open pixel was fetched
	EventClicked         = "clicked"          // a tracked link was followed
	EventBounced         = "bounced"          // a hard bounce after the SMTP conversation
	EventSoftBounced     = "soft_bounced"     // a transient failure reported by a DSN
	EventPolicyBounced   = "policy_bounced"   // a refusal for the sender's sake (DMARC, block list, content), reported later
	EventComplained      = "complained"       // an ARF abuse report
	EventTrackingConsent = "tracking_consent" // the subscriber changed their tracking answer
)

// Delivery status of a delivery that was accepted by SMTP and bounced
// later (a DSN with a permanent failure).
const DeliveryBounced = "bounced"

// SuppressSoftBounce is the suppression reason of an address that soft
// bounced too often.
const SuppressSoftBounce = "soft_bounce"

// CampaignLink is one tracked link of a campaign.
type CampaignLink struct {
	CampaignID int64  `gorm:"primaryKey;autoIncrement:false" json:"-"`
	Idx        int    `gorm:"primaryKey;autoIncrement:false;column:idx" json:"index"`
	URL        string `gorm:"size:2000;not null" json:"url"`
}

// DeliveryCount is a campaign's number of deliveries in one status. Triggers
// on deliveries keep it (see migrate0002).
type DeliveryCount struct {
	CampaignID   int64      `gorm:"primaryKey;autoIncrement:false"`
	Status       string     `gorm:"primaryKey;size:16"`
	FailureClass string     `gorm:"primaryKey;size:16"`
	N            int64      `gorm:"not null"`
	LastAt       *time.Time // latest sent_at among the rows counted here
}

// ListCount is a list's number of subscriptions in one status, kept by
// triggers on subscriptions.
type ListCount struct {
	ListID int64  `gorm:"primaryKey;autoIncrement:false"`
	Status string `gorm:"primaryKey;size:16"`
	N      int64  `gorm:"not null"`
}

// StatCount is an event count of a campaign ('c') per hour or of a list
// ('l') per day; bucket 0 holds counts that are only ever totalled.
type StatCount struct {
	Scope   string `gorm:"primaryKey;size:1"`
	ScopeID int64  `gorm:"primaryKey;autoIncrement:false"`
	Metric  string `gorm:"primaryKey;size:40"`
	Link    int    `gorm:"primaryKey;autoIncrement:false"`
	Bucket  int64  `gorm:"primaryKey;autoIncrement:false"`
	N       int64  `gorm:"not null"`
}

// Metrics kept in stat_counts. Those in hourly are counted per hour (the
// campaign timeline); the rest in bucket 0.
const (
	mSent           = "sent" // by trigger
	mOpens          = "opens"
	mOpensHuman     = "opens.human"
	mOpensMachine   = "opens.machine"
	mOpensUnique    = "opens.unique"
	mOpensHumanUniq = "opens.human_unique"
	mClicks         = "clicks"
	mClicksHuman    = "clicks.human"
	mClicksMachine  = "clicks.machine"
	mClicksUnique   = "clicks.unique"
	mClicksHumanUnq = "clicks.human_unique"
	mLinkClicks     = "link.clicks"
	mLinkHuman      = "link.human"
	mLinkHumanUniq  = "link.human_unique"
	mUnsubscribes   = "unsubscribes"
	mBouncesHard    = "bounces.hard"
	mBouncesSoft    = "bounces.soft"
	mBouncesPolicy  = "bounces.policy"
	mComplaints     = "complaints"
	// list metrics, per day
	mListBounced = "bounced"
)

var hourly = map[string]bool{mSent: true, mOpens: true, mOpensHuman: true, mClicks: true, mClicksHuman: true,
	mUnsubscribes: true, mBouncesHard: true, mBouncesSoft: true, mComplaints: true}

const (
	hour = 3600
	day  = 86400
)

type countKey struct {
	scope  string
	id     int64
	metric string
	link   int
	bucket int64
}

func campaignKey(id int64, metric string, link int, at time.Time) countKey {
	k := countKey{scope: "c", id: id, metric: metric, link: link}
	if hourly[metric] && link < 0 {
		k.bucket = at.Unix() / hour * hour
	}
	return k
}

func listKey(id int64, metric string, at time.Time) countKey {
	return countKey{scope: "l", id: id, metric: metric, link: -1, bucket: at.Unix() / day * day}
}

// flag reads a boolean of event data.
func flag(d JSONMap, k string) bool { b, _ := d[k].(bool); return b }

// dataInt reads an integer of event data, which is an int when the event
// was made in this process and a float64 when it was read back.
func dataInt(d JSONMap, k string) (int, bool) {
	switch v := d[k].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case float64:
		return int(v), true
	}
	return 0, false
}

// countEvents adds the counters that evs stand for. It is called for every
// event appended anywhere (insertEvents), so counts cannot drift from the
// events: both are written in one transaction.
func countEvents(tx *gorm.DB, evs []Event) error {
	deltas := map[countKey]int64{}
	unsub := map[[2]int64]bool{}
	for _, ev := range evs {
		if ev.ListID != nil {
			switch ev.Kind {
			case EventSubscribed, EventConfirmed, EventUnsubscribed:
				deltas[listKey(*ev.ListID, ev.Kind, ev.CreatedAt)]++
			}
		}
		if ev.CampaignID == nil {
			continue
		}
		c := *ev.CampaignID
		add := func(metric string, link int) { deltas[campaignKey(c, metric, link, ev.CreatedAt)]++ }
		switch ev.Kind {
		case EventUnsubscribed:
			// One unsubscribe from three lists is one subscriber lost.
			var sub int64
			if ev.SubscriberID != nil {
				sub = *ev.SubscriberID
			}
			if !unsub[[2]int64{c, sub}] {
				unsub[[2]int64{c, sub}] = true
				add(mUnsubscribes, -1)
			}
		case EventBounced:
			add(mBouncesHard, -1)
		case EventSoftBounced:
			add(mBouncesSoft, -1)
		case EventPolicyBounced:
			add(mBouncesPolicy, -1)
		case EventComplained:
			add(mComplaints, -1)
		case EventOpened:
			add(mOpens, -1)
			if flag(ev.Data, "machine") {
				add(mOpensMachine, -1)
			} else {
				add(mOpensHuman, -1)
			}
			if flag(ev.Data, "unique") {
				add(mOpensUnique, -1)
			}
			if flag(ev.Data, "human_unique") {
				add(mOpensHumanUniq, -1)
			}
		case EventClicked:
			add(mClicks, -1)
			if flag(ev.Data, "machine") {
				add(mClicksMachine, -1)
			} else {
				add(mClicksHuman, -1)
			}
			if flag(ev.Data, "unique") {
				add(mClicksUnique, -1)
			}
			if flag(ev.Data, "human_unique") {
				add(mClicksHumanUnq, -1)
			}
			if link, ok := dataInt(ev.Data, "link"); ok {
				add(mLinkClicks, link)
				if !flag(ev.Data, "machine") {
					add(mLinkHuman, link)
				}
				if flag(ev.Data, "link_human_unique") {
					add(mLinkHumanUniq, link)
				}
			}
		}
	}
	return bumpCounts(tx, deltas)
}

// bumpCounts adds deltas to stat_counts in one statement. Keys go in
// sorted order so that concurrent writers lock rows in the same order.
func bumpCounts(tx *gorm.DB, deltas map[countKey]int64) error {
	if len(deltas) == 0 {
		return nil
	}
	keys := make([]countKey, 0, len(deltas))
	for k, n := range deltas {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.scope != b.scope {
			return a.scope < b.scope
		}
		if a.id != b.id {
			return a.id < b.id
		}
		if a.metric != b.metric {
			return a.metric < b.metric
		}
		if a.link != b.link {
			return a.link < b.link
		}
		return a.bucket < b.bucket
	})
	for len(keys) > 0 {
		n := min(len(keys), 500) // 6 parameters a row
		var b strings.Builder
		args := make([]any, 0, n*6)
		b.WriteString("INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n) VALUES ")
		for i, k := range keys[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, k.scope, k.id, k.metric, k.link, k.bucket, deltas[k])
		}
		b.WriteString(" ON CONFLICT (scope, scope_id, metric, link, bucket) DO UPDATE SET n = stat_counts.n + excluded.n")
		if err := tx.Exec(b.String(), args...).Error; err != nil {
			return fmt.Errorf("count events: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// SaveCampaignLinks records the campaign's tracked links by index. The
// first record wins: a campaign is frozen once it sends, so a second
// compile yields the same list, and mail already out keeps pointing where
// it pointed.
func (s *Store) SaveCampaignLinks(ctx context.Context, campaignID int64, urls []string) error {
	if len(urls) == 0 {
		return nil
	}
	rows := make([]CampaignLink, len(urls))
	for i, u := range urls {
		rows[i] = CampaignLink{CampaignID: campaignID, Idx: i, URL: u}
	}
	err := s.writer(ctx).Exec(insertLinksSQL(len(rows)), linkArgs(rows)...).Error
	if err != nil {
		return fmt.Errorf("save links of campaign %d: %w", campaignID, err)
	}
	return nil
}

func insertLinksSQL(n int) string {
	return "INSERT INTO campaign_links (campaign_id, idx, url) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?),", n), ",") + " ON CONFLICT (campaign_id, idx) DO NOTHING"
}

func linkArgs(rows []CampaignLink) []any {
	out := make([]any, 0, len(rows)*3)
	for _, r := range rows {
		out = append(out, r.CampaignID, r.Idx, r.URL)
	}
	return out
}

// CampaignLinkURL returns the target of link idx of a campaign.
func (s *Store) CampaignLinkURL(ctx context.Context, campaignID int64, idx int) (string, error) {
	var urls []string
	if err := s.reader(ctx).Model(&CampaignLink{}).Where("campaign_id = ? AND idx = ?", campaignID, idx).
		Limit(1).Pluck("url", &urls).Error; err != nil {
		return "", fmt.Errorf("link %d of campaign %d: %w", idx, campaignID, err)
	}
	if len(urls) == 0 {
		return "", fmt.Errorf("link %d of campaign %d: %w", idx, campaignID, ErrNotFound)
	}
	return urls[0], nil
}

// Engagement counts opens or clicks.
type Engagement struct {
	Total       int64 `json:"total"`
	Unique      int64 `json:"unique"` // deliveries with at least one
	Human       int64 `json:"human"`
	HumanUnique int64 `json:"human_unique"` // deliveries with at least one not judged a machine
	Machine     int64 `json:"machine"`
}

// Bounces counts bounces reported after the SMTP conversation.
type Bounces struct {
	Hard int64 `json:"hard"` // deliveries now "bounced"
	Soft int64 `json:"soft"` // deliveries that soft bounced
	// Policy counts deliveries the receiver refused for the sender's sake
	// (DMARC or SPF, a block list, a content filter); their addresses are
	// not suppressed. Refusals during the SMTP conversation are in
	// DeliveryCounts.FailedPolicy.
	Policy int64 `json:"policy"`
}

// LinkStats are the clicks on one link.
type LinkStats struct {
	Index       int    `json:"index"`
	URL         string `json:"url"`
	Clicks      int64  `json:"clicks"`
	Human       int64  `json:"human"`
	HumanUnique int64  `json:"human_unique"`
}

// HourStats is one hour of a campaign's timeline.
type HourStats struct {
	Hour         time.Time `json:"hour"`
	Sent         int64     `json:"sent"`
	Opens        int64     `json:"opens"`
	OpensHuman   int64     `json:"opens_human"`
	Clicks       int64     `json:"clicks"`
	ClicksHuman  int64     `json:"clicks_human"`
	Bounces      int64     `json:"bounces"` // hard and soft
	Complaints   int64     `json:"complaints"`
	Unsubscribes int64     `json:"unsubscribes"`
}

// DeliveryCounts are a campaign's deliveries by status.
type DeliveryCounts struct {
	Recipients      int64 `json:"recipients"`
	Pending         int64 `json:"pending"`
	Sending         int64 `json:"sending"`
	Sent            int64 `json:"sent"` // accepted by the receiving server, bounced ones included
	Failed          int64 `json:"failed"`
	FailedTemporary int64 `json:"failed_temporary"`
	FailedPermanent int64 `json:"failed_permanent"`
	FailedPolicy    int64 `json:"failed_policy"` // refused by the receiver's policy during SMTP; not suppressed
	Suppressed      int64 `json:"suppressed"`
	Cancelled       int64 `json:"cancelled"`
}

// CampaignStats are the numbers of GET /campaigns/{id}/stats.
type CampaignStats struct {
	CampaignID   int64      `json:"campaign_id"`
	Status       string     `json:"status"`
	StatusReason string     `json:"status_reason,omitempty"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	DeliveryCounts
	Bounced      Bounces     `json:"bounced"`
	Complaints   int64       `json:"complaints"`
	Unsubscribed int64       `json:"unsubscribed"` // subscribers who left through this campaign
	Opens        Engagement  `json:"opens"`
	Clicks       Engagement  `json:"clicks"`
	Links        []LinkStats `json:"links"`
	Timeline     []HourStats `json:"timeline"`  // hours with activity, oldest first
	SendRate     float64     `json:"send_rate"` // messages per second between start and last send
}

// CampaignStats reads a campaign's report: the campaign row, then one
// statement over the trigger-kept counters, the event counters, the
// campaign's unsubscribes and its links. None of it grows with the number
// of deliveries.
func (s *Store) CampaignStats(ctx context.Context, id int64) (*CampaignStats, error) {
	if AccessFrom(ctx) != nil {
		if _, err := s.Campaign(ctx, id); err != nil {
			return nil, err
		}
	}
	db := s.reader(ctx)
	var c Campaign
	if err := db.Select("id, status, status_reason, started_at, finished_at").First(&c, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("campaign", id)
		}
		return nil, fmt.Errorf("campaign %d: %w", id, err)
	}
	st := &CampaignStats{CampaignID: id, Status: c.Status, StatusReason: c.StatusReason, StartedAt: c.StartedAt,
		FinishedAt: c.FinishedAt, Links: []LinkStats{}, Timeline: []HourStats{}}
	// One statement, four kinds of row: delivery counters ('d'), event
	// totals by metric and link ('t'), the hourly timeline pivoted to one
	// row per hour ('h'), the campaign's unsubscribers ('u') and its links
	// ('l'). Totals and the pivot are summed in SQL and the rows read with
	// database/sql directly: a month of hours is thousands of counter rows,
	// and per-row driver and reflection costs would dominate otherwise.
	rs, err := db.Raw(`SELECT 'd' AS src, status AS name, failure_class AS cls, -1 AS link, 0 AS bucket, last_at AS at,
			n AS v0, 0 AS v1, 0 AS v2, 0 AS v3, 0 AS v4, 0 AS v5, 0 AS v6, 0 AS v7
			FROM delivery_counts WHERE campaign_id = ?
		UNION ALL SELECT 't', metric, '', link, 0, NULL, CAST(SUM(n) AS BIGINT), 0, 0, 0, 0, 0, 0, 0
			FROM stat_counts WHERE scope = 'c' AND scope_id = ? GROUP BY metric, link
		UNION ALL SELECT 'h', '', '', -1, bucket, NULL,
			CAST(SUM(CASE WHEN metric = 'sent' THEN n ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN metric = 'opens' THEN n ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN metric = 'opens.human' THEN n ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN metric = 'clicks' THEN n ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN metric = 'clicks.human' THEN n ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN metric IN ('bounces.hard', 'bounces.soft') THEN n ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN metric = 'complaints' THEN n ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN metric = 'unsubscribes' THEN n ELSE 0 END) AS BIGINT)
			FROM stat_counts WHERE scope = 'c' AND scope_id = ? AND bucket <> 0 GROUP BY bucket
		UNION ALL SELECT 'u', '', '', -1, 0, NULL, COUNT(DISTINCT subscriber_id), 0, 0, 0, 0, 0, 0, 0
			FROM events WHERE campaign_id = ? AND kind = ?
		UNION ALL SELECT 'l', url, '', idx, 0, NULL, 0, 0, 0, 0, 0, 0, 0, 0 FROM campaign_links WHERE campaign_id = ?
		ORDER BY 1, 5`,
		id, id, id, id, EventUnsubscribed, id).Rows()
	if err != nil {
		return nil, fmt.Errorf("campaign %d stats: %w", id, err)
	}
	defer rs.Close()
	var last time.Time
	links := map[int]*LinkStats{}
	link := func(i int) *LinkStats {
		if links[i] == nil {
			links[i] = &LinkStats{Index: i}
		}
		return links[i]
	}
	for rs.Next() {
		var src, name, cls string
		var lk int
		var bucket int64
		var at *string // text on SQLite; Postgres' timestamptz converts to RFC 3339
		var v [8]int64
		if err := rs.Scan(&src, &name, &cls, &lk, &bucket, &at, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]); err != nil {
			return nil, fmt.Errorf("campaign %d stats: %w", id, err)
		}
		n := v[0]
		switch src {
		case "d":
			st.Recipients += n
			switch name {
			case DeliveryPending:
				st.Pending += n
			case DeliverySending:
				st.Sending += n
			case DeliverySent, DeliveryBounced:
				st.Sent += n
				if name == DeliveryBounced {
					st.Bounced.Hard += n
				}
				if at != nil {
					if t := parseDBTime(*at); t.After(last) {
						last = t
					}
				}
			case DeliveryFailed:
				st.Failed += n
				switch cls {
				case FailPermanent:
					st.FailedPermanent += n
				case FailPolicy:
					st.FailedPolicy += n
				default:
					st.FailedTemporary += n
				}
			case DeliverySuppressed:
				st.Suppressed += n
			case DeliveryCancelled:
				st.Cancelled += n
			}
		case "u":
			st.Unsubscribed = n
		case "l":
			link(lk).URL = name
		case "h":
			st.Timeline = append(st.Timeline, HourStats{Hour: time.Unix(bucket, 0).UTC(), Sent: v[0], Opens: v[1],
				OpensHuman: v[2], Clicks: v[3], ClicksHuman: v[4], Bounces: v[5], Complaints: v[6], Unsubscribes: v[7]})
		case "t":
			switch name {
			case mOpens:
				st.Opens.Total += n
			case mOpensHuman:
				st.Opens.Human += n
			case mOpensMachine:
				st.Opens.Machine += n
			case mOpensUnique:
				st.Opens.Unique += n
			case mOpensHumanUniq:
				st.Opens.HumanUnique += n
			case mClicks:
				st.Clicks.Total += n
			case mClicksHuman:
				st.Clicks.Human += n
			case mClicksMachine:
				st.Clicks.Machine += n
			case mClicksUnique:
				st.Clicks.Unique += n
			case mClicksHumanUnq:
				st.Clicks.HumanUnique += n
			case mBouncesSoft:
				st.Bounced.Soft += n
			case mBouncesPolicy:
				st.Bounced.Policy += n
			case mComplaints:
				st.Complaints += n
			case mLinkClicks:
				link(lk).Clicks += n
			case mLinkHuman:
				link(lk).Human += n
			case mLinkHumanUniq:
				link(lk).HumanUnique += n
			}
		}
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("campaign %d stats: %w", id, err)
	}
	for _, l := range links {
		st.Links = append(st.Links, *l)
	}
	sort.Slice(st.Links, func(i, j int) bool { return st.Links[i].Index < st.Links[j].Index })
	if c.StartedAt != nil && !last.IsZero() {
		if secs := last.Sub(*c.StartedAt).Seconds(); secs > 0 {
			st.SendRate = float64(st.Sent) / secs
		}
	}
	return st, nil
}

// parseDBTime reads a timestamp that an aggregate returned as text.
func parseDBTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// DayStats is one day of a list's growth.
type DayStats struct {
	Day          string `json:"day,omitempty"` // 2006-01-02, UTC; empty in totals
	Subscribed   int64  `json:"subscribed"`
	Confirmed    int64  `json:"confirmed"`
	Unsubscribed int64  `json:"unsubscribed"`
	Bounced      int64  `json:"bounced"`
}

// ListStats are the numbers of GET /lists/{id}/stats.
type ListStats struct {
	ListID int64 `json:"list_id"`
	// Size is the list's subscriptions by status now.
	Size   ListCounts `json:"size"`
	From   string     `json:"from"`
	To     string     `json:"to"`
	Growth []DayStats `json:"growth"` // every day from From to To
	Totals DayStats   `json:"totals"` // the sums over the days
}

// ListStats reads a list's report for the days days up to today (UTC), in
// one statement over list_counts and the daily event counters.
func (s *Store) ListStats(ctx context.Context, id int64, days int) (*ListStats, error) {
	if !AccessFrom(ctx).Can(id, GrantViewer) {
		return nil, notFound("list", id)
	}
	db := s.reader(ctx)
	var n int64
	if err := db.Model(&List{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("list %d: %w", id, err)
	}
	if n == 0 {
		return nil, notFound("list", id)
	}
	today := s.now().Unix() / day * day
	return s.listStats(ctx, id, today-int64(days-1)*day, days)
}

// ListStatsBetween reads a list's report for the UTC days from the day
// of from up to the day before to: a month of a monthly report.
func (s *Store) ListStatsBetween(ctx context.Context, id int64, from, to time.Time) (*ListStats, error) {
	start := from.Unix() / day * day
	days := int((to.Unix() - start + day - 1) / day)
	if days < 1 || days > 3660 {
		return nil, fmt.Errorf("list %d stats: %d days is out of range", id, days)
	}
	var n int64
	if err := s.reader(ctx).Model(&List{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("list %d: %w", id, err)
	}
	if n == 0 {
		return nil, notFound("list", id)
	}
	return s.listStats(ctx, id, start, days)
}

func (s *Store) listStats(ctx context.Context, id, from int64, days int) (*ListStats, error) {
	db := s.reader(ctx)
	today := from + int64(days-1)*day
	var rows []struct {
		Src    string
		Metric string
		Bucket int64
		N      int64
	}
	err := db.Raw(`SELECT 'm' AS src, status AS metric, 0 AS bucket, n FROM list_counts WHERE list_id = ?
		UNION ALL SELECT 's', metric, bucket, n FROM stat_counts WHERE scope = 'l' AND scope_id = ? AND link = -1 AND bucket >= ? AND bucket <= ?`,
		id, id, from, today).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list %d stats: %w", id, err)
	}
	st := &ListStats{ListID: id, From: time.Unix(from, 0).UTC().Format(time.DateOnly), To: time.Unix(today, 0).UTC().Format(time.DateOnly)}
	st.Growth = make([]DayStats, days)
	for i := range st.Growth {
		st.Growth[i].Day = time.Unix(from+int64(i)*day, 0).UTC().Format(time.DateOnly)
	}
	for _, r := range rows {
		if r.Src == "m" {
			switch r.Metric {
			case SubConfirmed:
				st.Size.Confirmed = r.N
			case SubUnconfirmed:
				st.Size.Unconfirmed = r.N
			case SubUnsubscribed:
				st.Size.Unsubscribed = r.N
			}
			continue
		}
		i := (r.Bucket - from) / day
		if i < 0 || i >= int64(days) {
			continue
		}
		d := &st.Growth[i]
		switch r.Metric {
		case EventSubscribed:
			d.Subscribed += r.N
			st.Totals.Subscribed += r.N
		case EventConfirmed:
			d.Confirmed += r.N
			st.Totals.Confirmed += r.N
		case EventUnsubscribed:
			d.Unsubscribed += r.N
			st.Totals.Unsubscribed += r.N
		case mListBounced:
			d.Bounced += r.N
			st.Totals.Bounced += r.N
		}
	}
	st.Totals.Day = ""
	return st, nil
}

// CampaignProgress is one campaign's deliveries by status, for metrics.
type CampaignProgress struct {
	CampaignID int64
	Status     string // of the delivery
	N          int64
}

// ActiveCampaignProgress returns delivery counts of campaigns that are
// scheduled, sending or paused: the gauges /metrics shows at scrape time.
func (s *Store) ActiveCampaignProgress(ctx context.Context) ([]CampaignProgress, error) {
	var out []CampaignProgress
	err := s.reader(ctx).Raw(`SELECT dc.campaign_id, dc.status, CAST(SUM(dc.n) AS BIGINT) AS n FROM delivery_counts dc
		JOIN campaigns c ON c.id = dc.campaign_id
		WHERE c.status IN ? GROUP BY dc.campaign_id, dc.status ORDER BY dc.campaign_id, dc.status`,
		[]string{CampaignScheduled, CampaignSending, CampaignPaused}).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("campaign progress: %w", err)
	}
	return out, nil
}

// Guardrail pauses a campaign whose permanent failures, policy
// rejections or complaints pass a rate; zero rates switch a check off.
type Guardrail struct {
	MinSample        int64   // messages attempted before the rates are judged
	MaxFailureRate   float64 // permanent failures and hard bounces per message attempted
	MaxComplaintRate float64 // complaints per message delivered
	// MaxPolicyRate bounds refusals for the sender's sake (DMARC, block
	// lists, content filters), during SMTP or reported later, per message
	// attempted. A burst of them means something is wrong on our side,
	// e.g. the DMARC record or the sending IP's reputation, and every
	// further message would be refused the same way.
	MaxPolicyRate float64
}

// CheckGuardrail pauses campaign id, with the reason in its status, if it
// is sending and one of g's rates is passed. It reports the reason it
// paused for, or "".
func (s *Store) CheckGuardrail(ctx context.Context, id int64, g Guardrail) (string, error) {
	if g.MaxFailureRate <= 0 && g.MaxComplaintRate <= 0 && g.MaxPolicyRate <= 0 {
		return "", nil
	}
	var rows []struct {
		Src    string
		Status string
		Cls    string
		N      int64
	}
	err := s.reader(ctx).Raw(`SELECT 'd' AS src, status, failure_class AS cls, n FROM delivery_counts WHERE campaign_id = ?
		UNION ALL SELECT 's', metric, '', CAST(SUM(n) AS BIGINT) FROM stat_counts WHERE scope = 'c' AND scope_id = ? AND metric IN ? GROUP BY metric`,
		id, id, []string{mComplaints, mBouncesPolicy}).Scan(&rows).Error
	if err != nil {
		return "", fmt.Errorf("guardrail of campaign %d: %w", id, err)
	}
	// refused counts policy rejections both during SMTP (failed deliveries
	// of class policy, which are attempts of their own) and reported later
	// (about deliveries already counted as delivered).
	var delivered, failed, refused, syncRefused, complaints int64
	for _, r := range rows {
		switch {
		case r.Src == "s" && r.Status == mComplaints:
			complaints += r.N
		case r.Src == "s" && r.Status == mBouncesPolicy:
			refused += r.N
		case r.Status == DeliverySent:
			delivered += r.N
		case r.Status == DeliveryBounced:
			failed += r.N
		case r.Status == DeliveryFailed && r.Cls == FailPermanent:
			failed += r.N
		case r.Status == DeliveryFailed && r.Cls == FailPolicy:
			refused += r.N
			syncRefused += r.N
		}
	}
	attempted := delivered + failed + syncRefused
	if attempted < max(g.MinSample, 1) {
		return "", nil
	}
	var reason string
	if rate := float64(refused) / float64(attempted); g.MaxPolicyRate > 0 && rate > g.MaxPolicyRate {
		reason = fmt.Sprintf("guardrail: policy rejection rate %s (%d of %d) passed %s", pct(rate), refused, attempted, pct(g.MaxPolicyRate))
		if last, err := s.lastPolicyRejection(ctx, id); err == nil && last != "" {
			reason += "; latest: " + last
		}
		reason = truncate(reason, 400)
	} else if rate := float64(failed) / float64(attempted); g.MaxFailureRate > 0 && rate > g.MaxFailureRate {
		reason = fmt.Sprintf("guardrail: permanent failure rate %s (%d of %d) passed %s",
			pct(rate), failed, attempted, pct(g.MaxFailureRate))
	} else if rate := float64(complaints) / float64(max(delivered, 1)); g.MaxComplaintRate > 0 && rate > g.MaxComplaintRate {
		reason = fmt.Sprintf("guardrail: complaint rate %s (%d of %d) passed %s",
			pct(rate), complaints, delivered, pct(g.MaxComplaintRate))
	}
	if reason == "" {
		return "", nil
	}
	if _, err := s.PauseCampaign(ctx, id, reason); err != nil {
		if isConflict(err) {
			return "", nil // not sending (any more): nothing to stop
		}
		return "", err
	}
	return reason, nil
}

// lastPolicyRejection returns what the receiving server said in the
// campaign's latest policy rejection, during SMTP or reported later, so
// that the pause names the cause (a DMARC failure, a block list).
func (s *Store) lastPolicyRejection(ctx context.Context, id int64) (string, error) {
	db := s.reader(ctx)
	var d struct {
		SMTPMessage string
		UpdatedAt   time.Time
	}
	err := db.Model(&Delivery{}).Select("smtp_message, updated_at").
		Where("campaign_id = ? AND status = ? AND failure_class = ?", id, DeliveryFailed, FailPolicy).
		Order("updated_at DESC").Limit(1).Take(&d).Error
	if err != nil && !isMissing(err) {
		return "", fmt.Errorf("last policy rejection of campaign %d: %w", id, err)
	}
	var ev Event
	err = db.Where("campaign_id = ? AND kind = ?", id, EventPolicyBounced).Order("id DESC").Limit(1).Take(&ev).Error
	if err != nil && !isMissing(err) {
		return "", fmt.Errorf("last policy bounce of campaign %d: %w", id, err)
	}
	if err == nil && (d.SMTPMessage == "" || ev.CreatedAt.After(d.UpdatedAt)) {
		status, _ := ev.Data["status"].(string)
		diag, _ := ev.Data["diagnostic"].(string)
		return strings.TrimSpace(status + " " + diag), nil
	}
	return d.SMTPMessage, nil
}

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

func isConflict(err error) bool { return errors.Is(err, ErrConflict) }
