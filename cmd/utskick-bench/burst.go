package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

// The burst that follows a send: while a second campaign of the same size
// goes out, burstClients clients post one-click unsubscribes and as many
// follow tracked links, as fast as they are answered. It is bounded: it
// stops when the campaign is sent, and after burstMaxUnsubs unsubscribes.
const (
	burstClients   = 50
	burstMaxUnsubs = 5000
)

// burstSeed is the second campaign: a list of n more subscribers, with
// click tracking like the first.
type burstSeed struct {
	campID, listID   int64
	firstSub, firstD int64 // ids of its first subscriber and delivery
	n                int
}

// seedBurst adds the burst campaign's list and campaign. Subscriber ids
// in a fresh database follow insertion order; the first is checked.
func seedBurst(ctx context.Context, st *store.Store, o options, body string, firstSub int64) (*burstSeed, error) {
	l := &store.List{Slug: "efter-utskicket", Name: "Senaste nytt", Language: "sv", Optin: store.OptinDouble,
		Visibility: store.VisibilityPublic, TrackClicks: true}
	if err := st.CreateList(ctx, l); err != nil {
		return nil, err
	}
	const chunk = 5000
	for i := 0; i < o.n; i += chunk {
		subs := make([]store.Subscriber, 0, chunk)
		for j := i; j < min(i+chunk, o.n); j++ {
			subs = append(subs, store.Subscriber{Email: fmt.Sprintf("burst%07d@example.org", j),
				Name: fmt.Sprintf("Läsare %d", j), Language: "sv", Attributes: store.Attributes{"kommun": "Järfälla"}})
		}
		if err := st.InsertSubscribersBulk(ctx, subs, l.ID, "benchmark data"); err != nil {
			return nil, err
		}
	}
	if s, err := st.Subscriber(ctx, firstSub); err != nil || s.Email != "burst0000000@example.org" {
		return nil, fmt.Errorf("burst list: subscriber %d is not its first (%v)", firstSub, err)
	}
	c := &store.Campaign{Name: "Burst issue", Subject: "Senaste nytt – {{ first_name }}, nyheter från förbundet",
		Preheader: "Månadens nyheter", Body: body, ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, c); err != nil {
		return nil, err
	}
	return &burstSeed{campID: c.ID, listID: l.ID, firstSub: firstSub, n: o.n}, nil
}

// answer is one unsubscribe as the client saw it.
type answer struct {
	sub  int64
	at   time.Time // when the answer arrived
	took time.Duration
	code int
}

// burstLoad runs the clients against base until stop is closed.
type burstLoad struct {
	unsubs   []answer
	clicks   atomic.Int64 // answered with a redirect
	clickLat []time.Duration
	clickWhy map[string]int // the failed clicks by cause: "404", "no answer", …
	mu       sync.Mutex
}

func startBurst(ctx context.Context, st *store.Store, b *burstSeed, base string) (*burstLoad, func()) {
	sign, _ := links.NewSigner([]byte(benchSecret))
	load := &burstLoad{clickWhy: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sent := &sentDeliveries{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sent.follow(ctx, st, b.campID, stop)
	}()
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * burstClients}}
	// Each subscriber unsubscribes once: a shuffled order over the list.
	order := rand.Perm(b.n)
	var next atomic.Int64
	for range burstClients {
		wg.Add(2)
		go func() { // one-click unsubscribes
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := next.Add(1) - 1
				if i >= int64(min(b.n, burstMaxUnsubs)) {
					return
				}
				sub := b.firstSub + int64(order[i])
				tok := sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub, CampaignID: b.campID})
				t0 := time.Now()
				resp, err := client.PostForm(base+"/unsubscribe/"+tok, url.Values{"List-Unsubscribe": {"One-Click"}})
				a := answer{sub: sub, took: time.Since(t0), at: time.Now()}
				if err == nil {
					a.code = resp.StatusCode
					resp.Body.Close()
				}
				load.mu.Lock()
				load.unsubs = append(load.unsubs, a)
				load.mu.Unlock()
			}
		}()
		go func() { // tracked links
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, ok := sent.pick()
				if !ok { // nothing has gone out yet
					time.Sleep(10 * time.Millisecond)
					continue
				}
				t0 := time.Now()
				resp, err := client.Get(base + "/l/" + sign.Sign(links.KindClick, uint64(d), 0))
				took := time.Since(t0)
				why := ""
				switch {
				case err != nil:
					why = "no answer"
				case resp.StatusCode >= 400:
					why = strconv.Itoa(resp.StatusCode)
				}
				if why == "" {
					load.clicks.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
				load.mu.Lock()
				load.clickLat = append(load.clickLat, took)
				if why != "" {
					load.clickWhy[why]++
				}
				load.mu.Unlock()
			}
		}()
	}
	return load, func() { close(stop); wg.Wait() }
}

// sentDeliveries follows the burst campaign's sent deliveries, so that
// the clicking clients follow links of messages that went out, as readers
// do. Picking from the ids the campaign would have had clicked deliveries
// that were never made (their subscriber had unsubscribed before the
// fan-out): 404s, 1-4 % of the clicks, counted as failures.
type sentDeliveries struct {
	mu  sync.Mutex
	ids []int64
}

// follow adds the newly sent ids every 50 ms until stop is closed. It
// reads on from the largest id it has, so a delivery that is sent after
// one with a larger id was seen (senders work on batches side by side) is
// never added: the clients pick among fewer deliveries, all of them sent.
func (s *sentDeliveries) follow(ctx context.Context, st *store.Store, campaignID int64, stop <-chan struct{}) {
	var after int64
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		for {
			rows, next, err := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: campaignID, Status: store.DeliverySent, After: after, Limit: 1000})
			if err != nil || len(rows) == 0 {
				break
			}
			s.mu.Lock()
			for _, r := range rows {
				s.ids = append(s.ids, r.ID)
			}
			s.mu.Unlock()
			after = rows[len(rows)-1].ID
			if next == 0 {
				break
			}
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// pick is a random sent delivery, if one has been sent.
func (s *sentDeliveries) pick() (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) == 0 {
		return 0, false
	}
	return s.ids[rand.IntN(len(s.ids))], true
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// burstReport checks what the burst must leave true and describes it:
// every answered unsubscribe is recorded, and nobody whose unsubscribe
// was answered well before their message went out got it.
func burstReport(ctx context.Context, st *store.Store, b *burstSeed, load *burstLoad) (string, []string, error) {
	var lat []time.Duration
	ok := 0
	var problems []string
	for _, a := range load.unsubs {
		lat = append(lat, a.took)
		if a.code != http.StatusOK {
			continue
		}
		ok++
		s, err := st.Subscriber(ctx, a.sub)
		if err != nil {
			return "", nil, err
		}
		for _, m := range s.Subscriptions {
			if m.ListID == b.listID && m.Status != store.SubUnsubscribed {
				problems = append(problems, fmt.Sprintf("subscriber %d: unsubscribe answered 200 but the subscription is %s", a.sub, m.Status))
			}
		}
		rows, _, err := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: b.campID, Email: s.Email, Limit: 2})
		if err != nil {
			return "", nil, err
		}
		for _, r := range rows {
			// A sender rechecks its batch every 50 ms; a message sent
			// more than 250 ms after the answer should not have gone.
			if r.Status == store.DeliverySent && r.SentAt != nil && r.SentAt.After(a.at.Add(250*time.Millisecond)) {
				problems = append(problems, fmt.Sprintf("subscriber %d: unsubscribed at %s, sent at %s", a.sub, a.at.Format("15:04:05.000"), r.SentAt.Format("15:04:05.000")))
			}
		}
	}
	var whys []string
	var nFailed int64
	for why, n := range load.clickWhy {
		whys = append(whys, fmt.Sprintf("%s ×%d", why, n))
		nFailed += int64(n)
	}
	slices.Sort(whys)
	clicks := load.clicks.Load() + nFailed
	failed := strconv.FormatInt(nFailed, 10) + " failed"
	if len(whys) > 0 {
		failed += ": " + strings.Join(whys, ", ")
	}
	desc := fmt.Sprintf("%d unsubscribes (%d answered 200), p50 %s, p99 %s; %d clicks (%s), p99 %s",
		len(load.unsubs), ok, pct(lat, 0.5).Round(time.Millisecond), pct(lat, 0.99).Round(time.Millisecond),
		clicks, failed, pct(load.clickLat, 0.99).Round(time.Millisecond))
	if ok == 0 {
		problems = append(problems, "no unsubscribe was answered 200")
	}
	if p99 := pct(lat, 0.99); p99 >= 250*time.Millisecond {
		problems = append(problems, fmt.Sprintf("unsubscribe p99 %s, want under 250ms", p99.Round(time.Millisecond)))
	}
	return desc, problems, nil
}
