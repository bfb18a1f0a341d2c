package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// trackedLink is the one tracked link of a campaign sent an hour ago to
// one subscriber who agreed to tracking, served by an API with limits.
type trackedLink struct {
	t     *testing.T
	srv   *api.Server
	st    *store.Store
	url   string // where the link leads
	click string // the tracked path
	camp  int64
}

func newTrackedLink(t *testing.T, limits api.Limits) *trackedLink {
	t.Helper()
	st := storetest.Open(t)
	l := &trackedLink{t: t, st: st, url: "https://example.se/nyheter"}
	sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 1, TrackClicks: true, Consent: true, Links: []string{l.url}, SentAt: time.Now().Add(-time.Hour)})
	sign, _ := links.NewSigner(testKey)
	tmpl, _ := mailtemplates.New()
	srv, err := api.New(api.Deps{Store: st, Templates: tmpl, Signer: sign, Site: api.Site{BaseURL: "http://news.example.se", Org: "Förbundet"},
		Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	l.srv, l.camp = srv, sd.CampaignID
	l.click = "/l/" + sign.Sign(links.KindClick, uint64(sd.Deliveries[0]), 0)
	return l
}

// follow clicks the link as a browser would, within ctx.
func (l *trackedLink) follow(ctx context.Context) (*httptest.ResponseRecorder, time.Duration) {
	req := httptest.NewRequest(http.MethodGet, l.click, nil).WithContext(ctx)
	req.Header.Set("User-Agent", browserUA)
	rec := httptest.NewRecorder()
	t0 := time.Now()
	l.srv.ServeHTTP(rec, req)
	return rec, time.Since(t0)
}

// counted is how many clicks the campaign's stats hold.
func (l *trackedLink) counted() int64 {
	s, err := l.st.CampaignStats(context.Background(), l.camp)
	if err != nil {
		l.t.Fatal(err)
	}
	return s.Clicks.Total
}

// TestClicksWaitForATrackingSlotAndStillRedirect: while every tracking
// slot is busy a click waits its turn; one that cannot get a slot before
// its request ends still sends the reader on (302) and counts nothing,
// and once a slot is free the next click is counted.
func TestClicksWaitForATrackingSlotAndStillRedirect(t *testing.T) {
	l := newTrackedLink(t, api.Limits{TrackingConcurrency: 1})
	release := l.srv.HoldTrackingSlots()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	rec, took := l.follow(ctx)
	cancel()
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != l.url {
		t.Fatalf("click while the slots are busy: %d %q, want a redirect to %s", rec.Code, rec.Header().Get("Location"), l.url)
	}
	if took < 250*time.Millisecond {
		t.Errorf("the click took %s: it did not wait for a slot", took)
	}
	if n := l.counted(); n != 0 {
		t.Fatalf("%d clicks counted for one that never got a slot", n)
	}
	release()
	if rec, _ := l.follow(context.Background()); rec.Code != http.StatusFound {
		t.Fatalf("click with a free slot: %d", rec.Code)
	}
	if n := l.counted(); n != 1 {
		t.Fatalf("%d clicks counted, want 1", n)
	}
}

// TestClicksBeyondTheTrackingRateDuringASendRedirectUncounted: while a
// campaign sends beside the API, clicks are recorded at the tracking
// rate; one whose turn lies too far ahead waits the horizon, is sent on
// (302) and is not counted. Once the send ends, clicks are counted at
// once again.
func TestClicksBeyondTheTrackingRateDuringASendRedirectUncounted(t *testing.T) {
	sending := true
	l := newTrackedLink(t, api.Limits{TrackingRate: 1, Sending: func() bool { return sending }})
	do := func() (*httptest.ResponseRecorder, time.Duration) { return l.follow(context.Background()) }
	// At one a second with a burst allowance of 50, the first 51 are
	// counted at once. The turns after them are one, two, three … seconds
	// after the first click; of six more at the same moment, those whose
	// turn lies within the two-second horizon wait for it and are counted
	// (two, or three if the 51 took over a second), the others wait the
	// horizon and are sent on uncounted.
	start := time.Now()
	for i := range 51 {
		if rec, _ := do(); rec.Code != http.StatusFound {
			t.Fatalf("click %d: %d", i, rec.Code)
		}
	}
	elapsed := time.Since(start)
	type answer struct {
		code int
		to   string
		took time.Duration
	}
	answers := make(chan answer, 6)
	for range 6 {
		go func() {
			rec, took := do()
			answers <- answer{rec.Code, rec.Header().Get("Location"), took}
		}()
	}
	var longest time.Duration
	for range 6 {
		a := <-answers
		if a.code != http.StatusFound || a.to != l.url {
			t.Fatalf("click beyond the burst: %d %q, want a redirect to %s", a.code, a.to, l.url)
		}
		longest = max(longest, a.took)
	}
	if longest < 1900*time.Millisecond {
		t.Errorf("the longest click beyond the burst took %s; those beyond the horizon must wait it (2 s)", longest)
	}
	counted := l.counted()
	want := int64(53)
	if elapsed >= time.Second {
		want = 54
	}
	if counted != want && counted != want+1 {
		t.Fatalf("%d clicks counted (the 51 took %s), want %d: those beyond the horizon are not counted", counted, elapsed, want)
	}
	sending = false
	if rec, took := do(); rec.Code != http.StatusFound || took > time.Second {
		t.Fatalf("click after the send: %d in %s", rec.Code, took)
	}
	if n := l.counted(); n != counted+1 {
		t.Fatalf("%d clicks counted after the send, want %d", n, counted+1)
	}
}
