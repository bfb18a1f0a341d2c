package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// TrackingPolicy decides which opens and clicks were a machine's. Apple
// Mail Privacy Protection fetches every image when the message arrives,
// and link scanners of mail filters follow every link within seconds,
// all of them at once; the proxies' address ranges are not known offline,
// so timing and the user agent are what is left to judge by.
type TrackingPolicy struct {
	// MachineWindow: a hit this soon after the receiving server accepted
	// the message is a machine's. Default 10s.
	MachineWindow time.Duration
	// BurstWindow: clicks on two different links of one message this
	// close together are a scanner's, the earlier one included. Default 2s.
	BurstWindow time.Duration
}

func (p TrackingPolicy) withDefaults() TrackingPolicy {
	if p.MachineWindow <= 0 {
		p.MachineWindow = 10 * time.Second
	}
	if p.BurstWindow <= 0 {
		p.BurstWindow = 2 * time.Second
	}
	return p
}

// scannerAgents are lower-case fragments of the user agents of link
// scanners, security gateways, link previewers and HTTP libraries. Image
// proxies that fetch on a real open (Gmail's GoogleImageProxy, Outlook)
// are deliberately not here.
var scannerAgents = []string{
	"bot/", "bot;", "bot ", "crawler", "spider", "scanner", "headlesschrome", "phantomjs",
	"python-requests", "python-urllib", "go-http-client", "curl/", "wget/", "libwww", "okhttp", "java/", "httpclient",
	"barracuda", "mimecast", "proofpoint", "safelinks", "trendmicro", "symantec", "forcepoint", "fortiguard",
	"sophos", "zscaler", "cisco", "ironport", "paloalto", "checkpoint", "messagelabs", "appriver",
	"bingpreview", "facebookexternalhit", "slackbot", "linkexpanding", "skypeuripreview", "whatsapp", "discordbot",
}

// ScannerAgent reports whether ua looks like a machine's user agent.
func ScannerAgent(ua string) bool {
	ua = strings.ToLower(ua)
	for _, s := range scannerAgents {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

// Hit is one fetch of the open pixel (Link < 0) or of a click redirect.
type Hit struct {
	DeliveryID int64
	Link       int
	UserAgent  string
}

// HitResult says what RecordHit did.
type HitResult struct {
	URL      string // the click's target, from the campaign's links
	Recorded bool   // false when the subscriber's consent or the list's tracking is gone
	Machine  bool
	Reason   string // why it was judged a machine's
}

// priorHit is an earlier open or click of the same delivery.
type priorHit struct {
	ID        int64
	Kind      string
	Data      JSONMap
	CreatedAt time.Time
}

// RecordHit records an open or a click of a delivery, judged human or
// machine, and returns a click's target. The target comes from the
// campaign's stored links only. Nothing is recorded unless the subscriber
// is still confirmed on a list of the campaign that tracks this kind of
// hit and agreed to tracking there; the click is still redirected. The IP
// address is not kept.
//
// Concurrent hits share a transaction (see group): a burst of clicks
// after a send is one writer, not fifty, beside the sender. Each call
// still returns after its hit is committed.
func (s *Store) RecordHit(ctx context.Context, h Hit, p TrackingPolicy) (*HitResult, error) {
	r := &hitReq{hit: h, policy: p.withDefaults()}
	// Each caller reads its own facts, beside the others, before it
	// queues for the shared transaction.
	r.facts, r.factsErr = s.hitFacts(s.reader(ctx), h)
	if AuditOf(ctx) != nil {
		return r.res, s.recordHits(ctx, []*hitReq{r})[0]
	}
	err := s.hits.do(r, func(rs []*hitReq) []error { return s.recordHits(context.WithoutCancel(ctx), rs) })
	if err != nil {
		return nil, err
	}
	return r.res, nil
}

// hitReq is one RecordHit waiting for its transaction.
type hitReq struct {
	hit      Hit
	policy   TrackingPolicy
	res      *HitResult
	facts    hitFacts
	factsErr error
}

// recordHits writes rs in one transaction, in order, so a hit sees the
// earlier hits of its delivery. A hit whose delivery or link does not
// exist fails alone (it wrote nothing); any other failure sends each hit
// to a transaction of its own.
func (s *Store) recordHits(ctx context.Context, rs []*hitReq) []error {
	done, err := s.publicWrite(ctx)
	if err != nil {
		return repeatErr(len(rs), err)
	}
	defer done()
	errs := make([]error, len(rs))
	batch := func(rs []*hitReq, errs []error) error {
		return s.inTx(ctx, func(tx *gorm.DB) error {
			deltas := map[countKey]int64{}
			var evs []Event
			for i, r := range rs {
				r.res = &HitResult{}
				errs[i] = r.factsErr
				if errs[i] == nil {
					errs[i] = s.recordHit(tx, r.hit, r.facts, r.policy, r.res, deltas, &evs)
				}
				if errs[i] != nil && !errors.Is(errs[i], ErrNotFound) {
					return errs[i]
				}
			}
			// Counters and webhooks of the batch's events, in the same
			// transaction (see insertEvents).
			if err := countEvents(tx, evs); err != nil {
				return err
			}
			if err := queueWebhooks(tx, evs); err != nil {
				return err
			}
			return bumpCounts(tx, deltas)
		})
	}
	err = batch(rs, errs)
	if err == nil {
		return errs
	}
	if len(rs) == 1 {
		errs[0] = err
		return errs
	}
	for i, r := range rs {
		if err := batch([]*hitReq{r}, errs[i:i+1]); err != nil {
			errs[i] = err
		}
	}
	return errs
}

// hitFacts is what a hit needs to know before it is written: its
// delivery, the click's target and whether the subscriber agreed to this
// kind of tracking. It is read outside the writing transaction (on SQLite
// beside the one writer, not holding it); none of it is what hits of the
// same delivery must take turns over.
type hitFacts struct {
	CampaignID   int64
	SubscriberID *int64
	SentAt       *time.Time
	url          string
	consent      bool
}

func (s *Store) hitFacts(db *gorm.DB, h Hit) (hitFacts, error) {
	column := "track_opens"
	if h.Link >= 0 {
		column = "track_clicks"
	}
	// One statement, not one each for the delivery, the link and the
	// consent: under the clicks that follow a send those three reads were
	// four fifths of what recording a click cost, each beginning with a
	// page cache the sender's commits had emptied.
	var row struct {
		CampaignID   int64
		SubscriberID *int64
		SentAt       *time.Time
		URL          *string
		Consent      int64
	}
	res := db.Raw(`SELECT d.campaign_id, d.subscriber_id, d.sent_at,
		(SELECT k.url FROM campaign_links k WHERE k.campaign_id = d.campaign_id AND k.idx = ? LIMIT 1) AS url,
		(SELECT COUNT(*) FROM subscriptions m
			JOIN campaign_lists cl ON cl.list_id = m.list_id AND cl.campaign_id = d.campaign_id
			JOIN lists l ON l.id = m.list_id
			WHERE m.subscriber_id = d.subscriber_id AND m.status = ? AND m.tracking_consent = TRUE
				AND l.`+column+` = TRUE) AS consent
		FROM deliveries d WHERE d.id = ?`, h.Link, SubConfirmed, h.DeliveryID).Scan(&row)
	if res.Error != nil {
		return hitFacts{}, fmt.Errorf("delivery %d: %w", h.DeliveryID, res.Error)
	}
	if res.RowsAffected == 0 {
		return hitFacts{}, notFound("delivery", h.DeliveryID)
	}
	d := hitFacts{CampaignID: row.CampaignID, SubscriberID: row.SubscriberID, SentAt: row.SentAt,
		consent: row.SubscriberID != nil && row.Consent > 0}
	if h.Link >= 0 {
		if row.URL == nil {
			return d, fmt.Errorf("link %d of campaign %d: %w", h.Link, d.CampaignID, ErrNotFound)
		}
		d.url = *row.URL
	}
	return d, nil
}

// recordHit writes one hit's event in tx and adds to deltas what its
// counts need beyond the event's own (countEvents counts evs later).
func (s *Store) recordHit(tx *gorm.DB, h Hit, d hitFacts, p TrackingPolicy, res *HitResult, deltas map[countKey]int64, evs *[]Event) error {
	click := h.Link >= 0
	kind := EventOpened
	if click {
		kind = EventClicked
	}
	res.URL = d.url
	if d.SubscriberID == nil || !d.consent {
		return nil
	}
	if s.dialect == DialectPostgres {
		// Hits of one delivery take turns, so "first" and "burst"
		// are judged on everything before them. An advisory lock
		// keyed by the delivery, not a lock on its row: the sender
		// updates that row, and must not wait for a click.
		if err := tx.Exec("SELECT pg_advisory_xact_lock(7452021, CAST(? % 2147483647 AS INTEGER))", h.DeliveryID).Error; err != nil {
			return fmt.Errorf("delivery %d: %w", h.DeliveryID, err)
		}
	}
	var prior []priorHit
	if err := tx.Model(&Event{}).Select("id, kind, data, created_at").
		Where("delivery_id = ? AND kind = ?", h.DeliveryID, kind).Order("id").Scan(&prior).Error; err != nil {
		return fmt.Errorf("earlier hits of delivery %d: %w", h.DeliveryID, err)
	}
	now := s.now()
	res.Recorded = true
	switch {
	case strings.TrimSpace(h.UserAgent) == "":
		res.Machine, res.Reason = true, "no_user_agent"
	case ScannerAgent(h.UserAgent):
		res.Machine, res.Reason = true, "scanner_user_agent"
	case d.SentAt != nil && now.Sub(*d.SentAt) < p.MachineWindow:
		res.Machine, res.Reason = true, "soon_after_delivery"
	}
	if click {
		burst := false
		for _, e := range prior {
			l, _ := dataInt(e.Data, "link")
			if l != h.Link && now.Sub(e.CreatedAt) < p.BurstWindow {
				burst = true
			}
		}
		if burst {
			if !res.Machine {
				res.Machine, res.Reason = true, "link_burst"
			}
			// The earlier clicks of the burst were the scanner's too.
			for i := range prior {
				e := &prior[i]
				if now.Sub(e.CreatedAt) >= p.BurstWindow || flag(e.Data, "machine") {
					continue
				}
				if err := reclassify(tx, d.CampaignID, e, deltas); err != nil {
					return err
				}
			}
		}
	}
	data := JSONMap{"machine": res.Machine}
	if res.Machine {
		data["reason"] = res.Reason
	}
	data["unique"] = len(prior) == 0
	if !res.Machine {
		humanBefore, linkHumanBefore := false, false
		for _, e := range prior {
			if !flag(e.Data, "machine") {
				humanBefore = true
				if l, _ := dataInt(e.Data, "link"); l == h.Link {
					linkHumanBefore = true
				}
			}
		}
		data["human_unique"] = !humanBefore
		if click {
			data["link_human_unique"] = !linkHumanBefore
		}
	}
	if click {
		data["link"] = h.Link
	}
	campaignID := d.CampaignID
	ev := newEvent(kind, Actor{Source: "tracking", UserAgent: h.UserAgent}, now, d.SubscriberID, nil, &campaignID)
	ev.DeliveryID = &h.DeliveryID
	ev.Data = data
	if err := tx.Create(&ev).Error; err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	*evs = append(*evs, ev)
	return nil
}

// reclassify turns an earlier human click into a machine's and moves its
// counts accordingly.
func reclassify(tx *gorm.DB, campaignID int64, e *priorHit, deltas map[countKey]int64) error {
	link, _ := dataInt(e.Data, "link")
	deltas[campaignKey(campaignID, mClicksHuman, -1, e.CreatedAt)]--
	deltas[campaignKey(campaignID, mClicksMachine, -1, e.CreatedAt)]++
	deltas[campaignKey(campaignID, mLinkHuman, link, e.CreatedAt)]--
	if flag(e.Data, "human_unique") {
		deltas[campaignKey(campaignID, mClicksHumanUnq, -1, e.CreatedAt)]--
	}
	if flag(e.Data, "link_human_unique") {
		deltas[campaignKey(campaignID, mLinkHumanUniq, link, e.CreatedAt)]--
	}
	e.Data["machine"], e.Data["reason"] = true, "link_burst"
	delete(e.Data, "human_unique")
	delete(e.Data, "link_human_unique")
	if err := tx.Model(&Event{}).Where("id = ?", e.ID).Update("data", e.Data).Error; err != nil {
		return fmt.Errorf("reclassify click %d: %w", e.ID, err)
	}
	return nil
}

// setTrackingConsent records a changed answer to tracking on a
// subscription whose status stays the same.
func (s *Store) setTrackingConsent(tx *gorm.DB, cur Subscription, in SubscriptionInput, by Actor) ([]Event, error) {
	if in.TrackingConsent == nil || *in.TrackingConsent == cur.TrackingConsent {
		return nil, nil
	}
	now := s.now()
	if err := tx.Model(&Subscription{}).Where("subscriber_id = ? AND list_id = ?", cur.SubscriberID, cur.ListID).
		Updates(map[string]any{"tracking_consent": *in.TrackingConsent, "updated_at": now}).Error; err != nil {
		return nil, fmt.Errorf("tracking consent %d/%d: %w", cur.SubscriberID, cur.ListID, err)
	}
	sub, list := cur.SubscriberID, cur.ListID
	ev := newEvent(EventTrackingConsent, by, now, &sub, &list, nil)
	ev.Data = withData(ev.Data, "tracking_consent", *in.TrackingConsent)
	return []Event{ev}, nil
}

// Tracking says whether a claimed delivery's mail may carry a click
// redirect and an open pixel.
type Tracking struct {
	Clicks, Opens bool
}

// DeliveryTracking returns, for each subscriber, what tracking their mail
// of the campaign may carry: a kind is on when the subscriber is
// confirmed, with consent, on a list of the campaign that tracks it. It is
// one query for a claimed batch, and costs nothing when no list of the
// campaign tracks anything.
func (s *Store) DeliveryTracking(ctx context.Context, campaignID int64, subscriberIDs []int64) (map[int64]Tracking, error) {
	out := map[int64]Tracking{}
	if len(subscriberIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		SubscriberID int64
		Clicks       bool
		Opens        bool
	}
	err := s.reader(ctx).Raw(`SELECT m.subscriber_id,
			MAX(CASE WHEN l.track_clicks = TRUE THEN 1 ELSE 0 END) = 1 AS clicks,
			MAX(CASE WHEN l.track_opens = TRUE THEN 1 ELSE 0 END) = 1 AS opens
		FROM subscriptions m
		JOIN campaign_lists cl ON cl.list_id = m.list_id AND cl.campaign_id = ?
		JOIN lists l ON l.id = m.list_id AND (l.track_clicks = TRUE OR l.track_opens = TRUE)
		WHERE m.subscriber_id IN ? AND m.status = ? AND m.tracking_consent = TRUE
		GROUP BY m.subscriber_id`, campaignID, subscriberIDs, SubConfirmed).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("tracking of campaign %d: %w", campaignID, err)
	}
	for _, r := range rows {
		out[r.SubscriberID] = Tracking{Clicks: r.Clicks, Opens: r.Opens}
	}
	return out, nil
}

// DeliveryCampaign returns the campaign of a delivery.
func (s *Store) DeliveryCampaign(ctx context.Context, id int64) (int64, error) {
	var ids []int64
	if err := s.reader(ctx).Model(&Delivery{}).Where("id = ?", id).Limit(1).Pluck("campaign_id", &ids).Error; err != nil {
		return 0, fmt.Errorf("delivery %d: %w", id, err)
	}
	if len(ids) == 0 {
		return 0, notFound("delivery", id)
	}
	return ids[0], nil
}
