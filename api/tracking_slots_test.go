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
	"github.com/storsthlm/utskick/store/storetest"
)

// TestClicksWaitForATrackingSlotAndStillRedirect: while every tracking
// slot is busy a click waits its turn; one that cannot get a slot before
// its request ends still sends the reader on (302) and counts nothing,
// and once a slot is free the next click is counted.
func TestClicksWaitForATrackingSlotAndStillRedirect(t *testing.T) {
	st := storetest.Open(t)
	urls := []string{"https://example.se/nyheter"}
	sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 1, TrackClicks: true, Consent: true, Links: urls, SentAt: time.Now().Add(-time.Hour)})
	sign, _ := links.NewSigner(testKey)
	tmpl, _ := mailtemplates.New()
	srv, err := api.New(api.Deps{Store: st, Templates: tmpl, Signer: sign, Site: api.Site{BaseURL: "http://news.example.se", Org: "Förbundet"},
		Limits: api.Limits{TrackingConcurrency: 1}})
	if err != nil {
		t.Fatal(err)
	}
	click := "/l/" + sign.Sign(links.KindClick, uint64(sd.Deliveries[0]), 0)
	do := func(ctx context.Context) (*httptest.ResponseRecorder, time.Duration) {
		req := httptest.NewRequest(http.MethodGet, click, nil).WithContext(ctx)
		req.Header.Set("User-Agent", browserUA)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		srv.ServeHTTP(rec, req)
		return rec, time.Since(t0)
	}
	clicks := func() int64 {
		s, err := st.CampaignStats(context.Background(), sd.CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		return s.Clicks.Total
	}

	release := srv.HoldTrackingSlots()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	rec, took := do(ctx)
	cancel()
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != urls[0] {
		t.Fatalf("click while the slots are busy: %d %q, want a redirect to %s", rec.Code, rec.Header().Get("Location"), urls[0])
	}
	if took < 250*time.Millisecond {
		t.Errorf("the click took %s: it did not wait for a slot", took)
	}
	if n := clicks(); n != 0 {
		t.Fatalf("%d clicks counted for one that never got a slot", n)
	}
	release()
	if rec, _ := do(context.Background()); rec.Code != http.StatusFound {
		t.Fatalf("click with a free slot: %d", rec.Code)
	}
	if n := clicks(); n != 1 {
		t.Fatalf("%d clicks counted, want 1", n)
	}
}

// TestClicksBeyondTheTrackingRateDuringASendRedirectUncounted: while a
// campaign sends beside the API, clicks are recorded at the tracking
// rate; one whose turn lies too far ahead waits the horizon, is sent on
// (302) and is not counted. Once the send ends, clicks are counted at
// once again.
func TestClicksBeyondTheTrackingRateDuringASendRedirectUncounted(t *testing.T) {
	st := storetest.Open(t)
	urls := []string{"https://example.se/nyheter"}
	sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 1, TrackClicks: true, Consent: true, Links: urls, SentAt: time.Now().Add(-time.Hour)})
	sign, _ := links.NewSigner(testKey)
	tmpl, _ := mailtemplates.New()
	sending := true
	srv, err := api.New(api.Deps{Store: st, Templates: tmpl, Signer: sign, Site: api.Site{BaseURL: "http://news.example.se", Org: "Förbundet"},
		Limits: api.Limits{TrackingRate: 1, Sending: func() bool { return sending }}})
	if err != nil {
		t.Fatal(err)
	}
	click := "/l/" + sign.Sign(links.KindClick, uint64(sd.Deliveries[0]), 0)
	do := func() (*httptest.ResponseRecorder, time.Duration) {
		req := httptest.NewRequest(http.MethodGet, click, nil)
		req.Header.Set("User-Agent", browserUA)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		srv.ServeHTTP(rec, req)
		return rec, time.Since(t0)
	}
	clicks := func() int64 {
		s, err := st.CampaignStats(context.Background(), sd.CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		return s.Clicks.Total
	}
	// At one a second with a burst allowance of 50, the first 51 are
	// counted at once. Of three more at the same moment, two have turns
	// one and two seconds away, within the two-second horizon; the
	// third's lies beyond it.
	for i := range 51 {
		if rec, took := do(); rec.Code != http.StatusFound || took > time.Second {
			t.Fatalf("click %d: %d in %s", i, rec.Code, took)
		}
	}
	type answer struct {
		code int
		to   string
		took time.Duration
	}
	answers := make(chan answer, 3)
	for range 3 {
		go func() {
			rec, took := do()
			answers <- answer{rec.Code, rec.Header().Get("Location"), took}
		}()
	}
	for range 3 {
		a := <-answers
		if a.code != http.StatusFound || a.to != urls[0] {
			t.Fatalf("click beyond the burst: %d %q, want a redirect to %s", a.code, a.to, urls[0])
		}
		if a.took < 900*time.Millisecond {
			t.Errorf("a click beyond the burst took %s: it did not wait its turn", a.took)
		}
	}
	counted := clicks()
	if counted != 53 {
		t.Fatalf("%d clicks counted, want 53 (the one beyond the horizon is not)", counted)
	}
	sending = false
	if rec, took := do(); rec.Code != http.StatusFound || took > time.Second {
		t.Fatalf("click after the send: %d in %s", rec.Code, took)
	}
	if n := clicks(); n != counted+1 {
		t.Fatalf("%d clicks counted after the send, want %d", n, counted+1)
	}
}
