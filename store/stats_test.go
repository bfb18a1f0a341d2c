package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// clock is a settable time for the store under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC)

// checkCounts compares the trigger-kept counters with a count of the
// deliveries themselves.
func checkCounts(t *testing.T, s *store.Store, campaignID int64) {
	t.Helper()
	type row struct {
		Status, FailureClass string
		N                    int64
	}
	var want, got []row
	db := store.DBForTest(s)
	if err := db.Raw(`SELECT status, failure_class, COUNT(*) AS n FROM deliveries WHERE campaign_id = ?
		GROUP BY status, failure_class ORDER BY status, failure_class`, campaignID).Scan(&want).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Raw(`SELECT status, failure_class, n FROM delivery_counts WHERE campaign_id = ? AND n <> 0
		ORDER BY status, failure_class`, campaignID).Scan(&got).Error; err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("delivery_counts %v, deliveries say %v", got, want)
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("delivery_counts %v, deliveries say %v", got, want)
		}
	}
}

func eventCount(t *testing.T, s *store.Store, kind string, deliveryID int64) int64 {
	t.Helper()
	var n int64
	if err := store.DBForTest(s).Model(&store.Event{}).Where("kind = ? AND delivery_id = ?", kind, deliveryID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBouncesComplaintsAndCounters(t *testing.T) {
	clk := &clock{t: t0}
	storetest.RunOpts(t, storetest.Options{Now: clk.Now}, func(t *testing.T, s *store.Store) {
		clk.Set(t0)
		ctx := context.Background()
		sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 6, SentAt: t0.Add(10 * time.Second)})
		other := &store.List{Slug: "other", Name: "Other", Language: "sv", Optin: store.OptinSingle, Visibility: store.VisibilityPrivate}
		if err := s.CreateList(ctx, other); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateSubscriber(ctx, sd.Subscribers[2], store.SubscriberPatch{Lists: []store.SubscriptionInput{
			{ListID: other.ID, Status: store.SubConfirmed, ConsentBasis: "test"}}}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		checkCounts(t, s, sd.CampaignID)
		pol := store.BouncePolicy{SoftLimit: 2, SoftWindow: 24 * time.Hour}

		// Hard bounce: delivery bounced, address suppressed, one event;
		// the same DSN again changes nothing.
		clk.Add(time.Hour)
		hard := store.DeliveryReport{DeliveryID: sd.Deliveries[0], Kind: store.EventBounced, Status: "5.1.1", Diagnostic: "no such user", Source: "test"}
		res, err := s.RecordDeliveryReport(ctx, hard, pol)
		if err != nil || res.Action != "bounced" || !res.Suppressed {
			t.Fatalf("hard bounce: %+v %v", res, err)
		}
		if res, _ = s.RecordDeliveryReport(ctx, hard, pol); res.Action != "duplicate" {
			t.Fatalf("second DSN: %+v", res)
		}
		if n := eventCount(t, s, store.EventBounced, sd.Deliveries[0]); n != 1 {
			t.Fatalf("%d bounce events", n)
		}
		if sup := storetest.Suppressed(t, s, sd.Emails[0]); !sup {
			t.Fatal("hard bounce not suppressed")
		}
		rows, _, _ := s.Deliveries(ctx, store.DeliveryQuery{CampaignID: sd.CampaignID, Status: store.DeliveryBounced})
		if len(rows) != 1 || rows[0].ID != sd.Deliveries[0] {
			t.Fatalf("bounced deliveries %+v", rows)
		}
		checkCounts(t, s, sd.CampaignID)

		// Soft bounces: counted; the second one of the same address within
		// the window suppresses it (a second campaign gives the second
		// delivery).
		soft := store.DeliveryReport{DeliveryID: sd.Deliveries[1], Kind: store.EventSoftBounced, Status: "4.2.2", Source: "test"}
		if res, err = s.RecordDeliveryReport(ctx, soft, pol); err != nil || res.Action != "counted" || res.Suppressed {
			t.Fatalf("first soft bounce: %+v %v", res, err)
		}
		if res, _ = s.RecordDeliveryReport(ctx, soft, pol); res.Action != "duplicate" {
			t.Fatalf("same soft bounce again: %+v", res)
		}

		// Complaint: unsubscribed from every list (also one outside the
		// campaign) and suppressed.
		comp := store.DeliveryReport{DeliveryID: sd.Deliveries[2], Kind: store.EventComplained, FeedbackType: "abuse", Source: "test"}
		if res, err = s.RecordDeliveryReport(ctx, comp, pol); err != nil || res.Action != "unsubscribed" || len(res.Lists) != 2 || !res.Suppressed {
			t.Fatalf("complaint: %+v %v", res, err)
		}
		sub, _ := s.Subscriber(ctx, sd.Subscribers[2])
		for _, m := range sub.Subscriptions {
			if m.Status != store.SubUnsubscribed {
				t.Fatalf("complainer still %s on list %d", m.Status, m.ListID)
			}
		}
		if _, err := s.RecordDeliveryReport(ctx, store.DeliveryReport{DeliveryID: 999999, Kind: store.EventBounced}, pol); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown delivery: %v", err)
		}

		st, err := s.CampaignStats(ctx, sd.CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		if st.SendRate != 0.6 {
			t.Errorf("send rate %v, want 6 in 10s", st.SendRate)
		}
		if st.Recipients != 6 || st.Sent != 6 || st.Bounced.Hard != 1 || st.Bounced.Soft != 1 || st.Complaints != 1 || st.Unsubscribed != 1 {
			t.Fatalf("stats %+v", st)
		}
		if len(st.Timeline) != 2 || st.Timeline[0].Sent != 6 || !st.Timeline[0].Hour.Equal(t0.Truncate(time.Hour)) ||
			st.Timeline[1].Bounces != 2 || st.Timeline[1].Complaints != 1 || st.Timeline[1].Unsubscribes != 1 {
			t.Fatalf("timeline %+v", st.Timeline)
		}

		// The second soft bounce of the same address, from another
		// campaign, suppresses it.
		sd2 := storetest.Sent(t, s, storetest.Seed{Subscribers: 1})
		if _, err := s.UpdateSubscriber(ctx, sd.Subscribers[1], store.SubscriberPatch{Lists: []store.SubscriptionInput{
			{ListID: sd2.ListID, Status: store.SubConfirmed, ConsentBasis: "test"}}}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		c3 := &store.Campaign{Name: "c3", Subject: "s", Body: "b", ListIDs: []int64{sd2.ListID}}
		if err := s.CreateCampaign(ctx, c3); err != nil {
			t.Fatal(err)
		}
		c3, _ = s.ScheduleCampaign(ctx, c3.ID, s.Now())
		if _, err := s.MaterializeDeliveries(ctx, c3.ID, c3.Revision); err != nil {
			t.Fatal(err)
		}
		ds, _, _ := s.Deliveries(ctx, store.DeliveryQuery{CampaignID: c3.ID})
		var d2 int64
		for _, d := range ds {
			if d.SubscriberID != nil && *d.SubscriberID == sd.Subscribers[1] {
				d2 = d.ID
			}
		}
		soft.DeliveryID = d2
		if res, err = s.RecordDeliveryReport(ctx, soft, pol); err != nil || res.Action != "suppressed" {
			t.Fatalf("second soft bounce: %+v %v", res, err)
		}
		checkCounts(t, s, c3.ID)

		// Cancel moves the rest; the counters follow.
		if _, err := s.CancelCampaign(ctx, c3.ID); err != nil {
			t.Fatal(err)
		}
		checkCounts(t, s, c3.ID)
	})
}

func TestHitsAreJudgedHumanOrMachine(t *testing.T) {
	clk := &clock{t: t0}
	const browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
	storetest.RunOpts(t, storetest.Options{Now: clk.Now}, func(t *testing.T, s *store.Store) {
		clk.Set(t0)
		ctx := context.Background()
		links := []string{"https://example.se/a", "https://example.se/b?x=1&y=2"}
		sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 3, TrackOpens: true, TrackClicks: true, Consent: true, Links: links, SentAt: t0})
		pol := store.TrackingPolicy{MachineWindow: 5 * time.Second, BurstWindow: 2 * time.Second}
		d := sd.Deliveries[0]
		hit := func(at time.Duration, link int, ua string) *store.HitResult {
			t.Helper()
			clk.Set(t0.Add(at))
			r, err := s.RecordHit(ctx, store.Hit{DeliveryID: d, Link: link, UserAgent: ua}, pol)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		// Within 2 seconds of delivery: a machine (MPP, a scanner).
		if r := hit(1500*time.Millisecond, -1, browser); !r.Machine || r.Reason != "soon_after_delivery" || !r.Recorded {
			t.Fatalf("early open %+v", r)
		}
		if r := hit(1900*time.Millisecond, 0, browser); !r.Machine || r.URL != links[0] {
			t.Fatalf("early click %+v", r)
		}
		// Later, with a browser: human.
		if r := hit(10*time.Minute, -1, browser); r.Machine {
			t.Fatalf("later open %+v", r)
		}
		if r := hit(10*time.Minute, 1, browser); r.Machine || r.URL != links[1] {
			t.Fatalf("later click %+v", r)
		}
		if r := hit(11*time.Minute, 1, browser); r.Machine {
			t.Fatalf("second click %+v", r)
		}
		if r := hit(12*time.Minute, 0, "Mozilla/5.0 (compatible; Barracuda Sentinel)"); !r.Machine || r.Reason != "scanner_user_agent" {
			t.Fatalf("scanner %+v", r)
		}
		if r := hit(13*time.Minute, -1, ""); !r.Machine || r.Reason != "no_user_agent" {
			t.Fatalf("no UA %+v", r)
		}

		// A scanner that follows both links at once, with a browser's
		// user agent, on another delivery: the earlier click of the burst
		// is turned into a machine's too.
		d = sd.Deliveries[1]
		if r := hit(20*time.Minute, 0, browser); r.Machine {
			t.Fatalf("first click of burst %+v", r)
		}
		if r := hit(20*time.Minute+300*time.Millisecond, 1, browser); !r.Machine || r.Reason != "link_burst" {
			t.Fatalf("second click of burst %+v", r)
		}

		// Without consent: redirected, not recorded.
		if _, err := s.UpdateSubscriber(ctx, sd.Subscribers[2], store.SubscriberPatch{Lists: []store.SubscriptionInput{
			{ListID: sd.ListID, Status: store.SubConfirmed, TrackingConsent: new(bool)}}}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		d = sd.Deliveries[2]
		if r := hit(30*time.Minute, 1, browser); r.Recorded || r.URL != links[1] {
			t.Fatalf("click without consent %+v", r)
		}
		if r := hit(30*time.Minute, -1, browser); r.Recorded {
			t.Fatalf("open without consent %+v", r)
		}
		if n := eventCount(t, s, store.EventClicked, d) + eventCount(t, s, store.EventOpened, d); n != 0 {
			t.Fatalf("%d events recorded without consent", n)
		}
		if _, err := s.RecordHit(ctx, store.Hit{DeliveryID: sd.Deliveries[0], Link: 7, UserAgent: browser}, pol); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown link index: %v", err)
		}

		st, err := s.CampaignStats(ctx, sd.CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		wantOpens := store.Engagement{Total: 3, Unique: 1, Human: 1, HumanUnique: 1, Machine: 2}
		wantClicks := store.Engagement{Total: 6, Unique: 2, Human: 2, HumanUnique: 1, Machine: 4}
		if st.Opens != wantOpens {
			t.Errorf("opens %+v, want %+v", st.Opens, wantOpens)
		}
		if st.Clicks != wantClicks {
			t.Errorf("clicks %+v, want %+v", st.Clicks, wantClicks)
		}
		wantLinks := []store.LinkStats{{Index: 0, URL: links[0], Clicks: 3, Human: 0, HumanUnique: 0},
			{Index: 1, URL: links[1], Clicks: 3, Human: 2, HumanUnique: 1}}
		if len(st.Links) != 2 || st.Links[0] != wantLinks[0] || st.Links[1] != wantLinks[1] {
			t.Errorf("links %+v, want %+v", st.Links, wantLinks)
		}
	})
}

func TestListStatsGrowthAndSize(t *testing.T) {
	clk := &clock{t: t0}
	storetest.RunOpts(t, storetest.Options{Now: clk.Now}, func(t *testing.T, s *store.Store) {
		clk.Set(t0.Add(-48 * time.Hour))
		ctx := context.Background()
		sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 4}) // 4 confirmed two days ago
		clk.Set(t0)
		if _, err := s.Unsubscribe(ctx, sd.Subscribers[0], nil, sd.CampaignID, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, store.SubscribeParams{Email: "new@example.se", Language: "sv",
			Lists: []store.SubscriptionInput{{ListID: sd.ListID, Status: store.SubUnconfirmed}}}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordDeliveryReport(ctx, store.DeliveryReport{DeliveryID: sd.Deliveries[1], Kind: store.EventBounced}, store.BouncePolicy{}); err != nil {
			t.Fatal(err)
		}
		st, err := s.ListStats(ctx, sd.ListID, 3)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size != (store.ListCounts{Confirmed: 3, Unconfirmed: 1, Unsubscribed: 1}) {
			t.Fatalf("size %+v", st.Size)
		}
		if len(st.Growth) != 3 || st.Growth[0].Day != "2026-11-21" || st.Growth[0].Confirmed != 4 ||
			st.Growth[2].Unsubscribed != 1 || st.Growth[2].Subscribed != 1 || st.Growth[2].Bounced != 1 || st.Growth[1] != (store.DayStats{Day: "2026-11-22"}) {
			t.Fatalf("growth %+v", st.Growth)
		}
		if _, err := s.ListStats(ctx, 9999, 3); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown list: %v", err)
		}
	})
}

func TestGuardrailPausesWithReason(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 10})
		g := store.Guardrail{MinSample: 5, MaxFailureRate: 0.15, MaxComplaintRate: 0.5}
		if r, err := s.CheckGuardrail(ctx, sd.CampaignID, g); err != nil || r != "" {
			t.Fatalf("clean campaign paused: %q %v", r, err)
		}
		for _, d := range sd.Deliveries[:2] {
			if _, err := s.RecordDeliveryReport(ctx, store.DeliveryReport{DeliveryID: d, Kind: store.EventBounced}, store.BouncePolicy{}); err != nil {
				t.Fatal(err)
			}
		}
		r, err := s.CheckGuardrail(ctx, sd.CampaignID, g)
		if err != nil || !strings.Contains(r, "permanent failure rate 20.0% (2 of 10) passed 15.0%") {
			t.Fatalf("reason %q %v", r, err)
		}
		c, _ := s.Campaign(ctx, sd.CampaignID)
		if c.Status != store.CampaignPaused || c.StatusReason != r {
			t.Fatalf("campaign %s %q", c.Status, c.StatusReason)
		}
		// Paused already: nothing more to do.
		if r, err := s.CheckGuardrail(ctx, sd.CampaignID, g); err != nil || r != "" {
			t.Fatalf("second check %q %v", r, err)
		}
	})
}

func TestPolicyRejectionsAreCountedNotSuppressedAndPause(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 10})
		// One refused during SMTP, one reported later by a DSN.
		if err := s.RecordOutcomes(ctx, []store.Outcome{{DeliveryID: sd.Deliveries[0], Status: store.DeliveryFailed,
			FailureClass: store.FailPolicy, SMTPCode: 554, SMTPMessage: "5.7.1 Service unavailable; client host blocked using a block list", At: s.Now()}}); err != nil {
			t.Fatal(err)
		}
		res, err := s.RecordDeliveryReport(ctx, store.DeliveryReport{DeliveryID: sd.Deliveries[1], Kind: store.EventPolicyBounced,
			Status: "5.7.26", Diagnostic: "550 5.7.26 not accepted due to domain's DMARC policy", Source: "test"}, store.BouncePolicy{SoftLimit: 1})
		if err != nil || res.Action != "counted" || res.Suppressed {
			t.Fatalf("policy bounce: %+v %v", res, err)
		}
		if res, _ := s.RecordDeliveryReport(ctx, store.DeliveryReport{DeliveryID: sd.Deliveries[1], Kind: store.EventPolicyBounced}, store.BouncePolicy{}); res.Action != "duplicate" {
			t.Fatalf("same policy bounce again: %+v", res)
		}
		for _, e := range sd.Emails[:2] {
			if sup := storetest.Suppressed(t, s, e); sup {
				t.Fatalf("%s suppressed after a policy rejection", e)
			}
		}
		checkCounts(t, s, sd.CampaignID)
		st, err := s.CampaignStats(ctx, sd.CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Bounced.Policy != 1 || st.FailedPolicy != 1 || st.FailedPermanent != 0 || st.FailedTemporary != 0 || st.Failed != 1 || st.Bounced.Hard != 0 {
			t.Fatalf("stats %+v", st)
		}

		// Two of ten is under a 25% policy rate; the failure rate ignores
		// policy rejections.
		g := store.Guardrail{MinSample: 5, MaxFailureRate: 0.1, MaxPolicyRate: 0.25}
		if r, err := s.CheckGuardrail(ctx, sd.CampaignID, g); err != nil || r != "" {
			t.Fatalf("paused at 2 of 10: %q %v", r, err)
		}
		g.MaxPolicyRate = 0.15
		r, err := s.CheckGuardrail(ctx, sd.CampaignID, g)
		if err != nil || !strings.Contains(r, "policy rejection rate 20.0% (2 of 10) passed 15.0%; latest: 5.7.26 550 5.7.26 not accepted due to domain's DMARC policy") {
			t.Fatalf("reason %q %v", r, err)
		}
		c, _ := s.Campaign(ctx, sd.CampaignID)
		if c.Status != store.CampaignPaused || c.StatusReason != r {
			t.Fatalf("campaign %s %q", c.Status, c.StatusReason)
		}

		// Once the cause is fixed, the refused delivery can be sent again.
		if _, n, err := s.RetryFailed(ctx, sd.CampaignID); err != nil || n != 1 {
			t.Fatalf("retry failed: %d %v", n, err)
		}
		checkCounts(t, s, sd.CampaignID)
	})
}
