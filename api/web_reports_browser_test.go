package api_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker"
)

type reportsResult struct {
	flowResult
	SentSeen    []int64 `json:"sentSeen"`    // the sent figure as the page showed it, without reloads
	Reloads     int     `json:"reloads"`     // page loads while it was watched moving
	FinalStatus string  `json:"finalStatus"` // the campaign page after the send
	Charts      int     `json:"charts"`      // SVG charts on the report
	ChartTables int     `json:"chartTables"` // their tables
	PrintHides  bool    `json:"printHides"`  // the print view hides navigation and forms
	LogRows     int     `json:"logRows"`     // delivery log rows after filtering by address
}

// TestReportsInChromium sends a campaign of 40 over loopback SMTP (through
// a deliberately slow link) with the real worker, and lets
// api/pages/a11y/reports.mjs follow it in headless Chromium as an editor:
// the campaign page's progress moves without a reload, the page turns to
// "sent" by itself, the report shows figures, three SVG charts with their
// tables and a filterable delivery log, then the list report and the
// printable monthly summary. Every page is checked with axe-core in light
// and dark under its real CSP. With UTSKICK_TEST_SCREENSHOTS set it writes
// docs/screenshots/reports-*.png.
func TestReportsInChromium(t *testing.T) {
	b := needBrowser(t)
	ctx := context.Background()
	var camp *store.Campaign
	// /__test/send schedules the draft for now and rings the worker, as
	// the editor's send button (another screen) does; /__test/engage
	// records opens and clicks on the sent mail, as readers would.
	lv := startLiveServer(t, liveOptions{Worker: true, SMTPDelay: 100 * time.Millisecond,
		WorkerConfig: func(c *worker.Config) { c.SMTP.Connections, c.Senders.Slots, c.Senders.BatchSize = 1, 1, 3 },
		Routes: func(lv *liveServer, mux *http.ServeMux) {
			st := lv.Store
			mux.HandleFunc("/__test/send", func(w http.ResponseWriter, r *http.Request) {
				c, err := st.ScheduleCampaign(r.Context(), camp.ID, time.Now())
				if err == nil {
					err = lv.Queue.Enqueue(r.Context(), queue.NewWakeTask(c.ID, c.Revision, time.Now()))
				}
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
				}
			})
			mux.HandleFunc("/__test/engage", func(w http.ResponseWriter, r *http.Request) {
				rows, _, err := st.Deliveries(r.Context(), store.DeliveryQuery{CampaignID: camp.ID, Limit: 100})
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				const ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
				pol := store.TrackingPolicy{MachineWindow: time.Nanosecond, BurstWindow: time.Nanosecond}
				for i, d := range rows {
					hits := []store.Hit{}
					switch {
					case i%2 == 0:
						hits = append(hits, store.Hit{DeliveryID: d.ID, Link: -1, UserAgent: ua})
					case i%5 == 1:
						hits = append(hits, store.Hit{DeliveryID: d.ID, Link: -1, UserAgent: "Mozilla/5.0 (compatible; Barracuda Sentinel)"})
					}
					if i%3 == 0 {
						hits = append(hits, store.Hit{DeliveryID: d.ID, Link: i % 2, UserAgent: ua})
					}
					for _, hit := range hits {
						if _, err := st.RecordHit(r.Context(), hit, pol); err != nil {
							http.Error(w, err.Error(), http.StatusInternalServerError)
							return
						}
					}
				}
			})
		}})
	st := lv.Store

	// A tracked list of 40 (staff-added, confirmed), and a draft to it.
	l := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Visibility: store.VisibilityPublic, Optin: store.OptinDouble,
		TrackOpens: true, TrackClicks: true}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	yes := true
	for i := range 40 {
		sub := &store.Subscriber{Email: fmt.Sprintf("mottagare%02d@example.se", i), Language: "sv"}
		if err := st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed,
			ConsentBasis: "staff", TrackingConsent: &yes}}, store.Actor{Source: "web", UserID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	camp = &store.Campaign{Name: "Nyhetsbrev december", Subject: "Nytt från förbundet i december",
		Body:    "# Nytt i december\n\nLäs mer i [kalendern](https://example.se/kalender) och [artikeln](https://example.se/artikel).\n",
		ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: "redaktor@example.se", Name: "Rut Redaktör", Role: store.RoleEditor}
	addStaff(t, st, u, pw)

	var res reportsResult
	b.walk(t, "reports.mjs", lv.BaseURL, 4*time.Minute, &res,
		"EMAIL="+u.Email, "PASSWORD="+pw, fmt.Sprintf("CAMPAIGN=%d", camp.ID), fmt.Sprintf("LIST=%d", l.ID),
		"MONTH="+time.Now().In(mailtemplates.Stockholm()).Format("2006-01"))
	checkedLightAndDark(t, &res, "campaign-draft", "campaign-sending", "campaign-sent", "report", "report-filtered",
		"confirm", "list-report", "monthly")

	// The progress moved on the page by itself: at least two different
	// figures below the total, rising, with no page load in between.
	distinct := map[int64]bool{}
	for i, n := range res.SentSeen {
		if i > 0 && n < res.SentSeen[i-1] {
			t.Errorf("sent went down: %v", res.SentSeen)
		}
		if n > 0 && n < 40 {
			distinct[n] = true
		}
	}
	if len(distinct) < 2 || res.Reloads != 0 {
		t.Errorf("progress seen %v with %d reloads; want it moving in place", res.SentSeen, res.Reloads)
	}
	if res.FinalStatus != "Skickad" {
		t.Errorf("campaign page after the send says %q", res.FinalStatus)
	}
	if res.Charts != 3 || res.ChartTables != 3 {
		t.Errorf("report has %d charts and %d chart tables, want 3 and 3", res.Charts, res.ChartTables)
	}
	if res.LogRows != 1 {
		t.Errorf("address search shows %d rows, want 1", res.LogRows)
	}
	if !res.PrintHides {
		t.Error("the print view shows the navigation or forms")
	}
	if emls, _ := filepath.Glob(filepath.Join(lv.OutboxDir, "*.eml")); len(emls) != 40 {
		t.Errorf("the SMTP capture kept %d messages, want 40", len(emls))
	}
	// The duplicate the walk made is a draft, attributed in nothing but
	// its existence; the original is sent.
	if c, _ := st.Campaign(ctx, camp.ID); c.Status != store.CampaignSent {
		t.Errorf("campaign is %s after the walk", c.Status)
	}
	if cs, _, _ := st.Campaigns(ctx, store.CampaignQuery{Status: store.CampaignDraft}); len(cs) != 1 {
		t.Errorf("%d drafts after duplicating, want 1", len(cs))
	}
}
