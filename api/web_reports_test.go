package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// digits reads a number as the pages print it ("1 234", "1,234").
func digits(t *testing.T, s string) int64 {
	t.Helper()
	s = regexp.MustCompile(`[^0-9-]`).ReplaceAllString(s, "")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// figures reads the data-figure elements of a page.
func figures(t *testing.T, body string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, m := range regexp.MustCompile(`data-figure="([a-z_]+)">([^<]*)<`).FindAllStringSubmatch(body, -1) {
		out[m[1]] = digits(t, m[2])
	}
	return out
}

// svgSums sums the data-value of a chart's marks per series.
func svgSums(body, chartID string) map[string]int64 {
	svg := between(body, `id="`+chartID+`-svg"`, `</svg>`)
	out := map[string]int64{}
	for _, m := range regexp.MustCompile(`data-series="([a-z-]+)" data-value="(-?\d+)"`).FindAllStringSubmatch(svg, -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		out[m[1]] += n
	}
	return out
}

// tableSums sums each numeric column of a chart's table, by position.
func tableSums(t *testing.T, body, chartID string) ([]int64, int) {
	t.Helper()
	table := between(body, `<table id="`+chartID+`-table">`, `</table>`)
	var sums []int64
	rows := 0
	for _, tr := range regexp.MustCompile(`(?s)<tr><th scope="row">.*?</tr>`).FindAllString(table, -1) {
		rows++
		for i, m := range regexp.MustCompile(`data-value="(-?\d+)"`).FindAllStringSubmatch(tr, -1) {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			if i >= len(sums) {
				sums = append(sums, 0)
			}
			sums[i] += n
		}
	}
	return sums, rows
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}

// reportFixture is a sent campaign with opens and clicks by people and
// machines on two links, a hard and a soft bounce and a complaint.
func reportFixture(t *testing.T, w *webTest) *storetest.Seeded {
	t.Helper()
	ctx := context.Background()
	t0 := w.clock.Now()
	links := []string{"https://example.se/kalender", "https://example.se/artikel?id=7"}
	sd := storetest.Sent(t, w.st, storetest.Seed{Subscribers: 12, TrackOpens: true, TrackClicks: true, Consent: true, Links: links, SentAt: t0})
	const browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
	pol := store.TrackingPolicy{MachineWindow: 5 * time.Second, BurstWindow: 2 * time.Second}
	hit := func(i int, after time.Duration, link int, ua string) {
		t.Helper()
		w.clock.Add(after)
		if _, err := w.st.RecordHit(ctx, store.Hit{DeliveryID: sd.Deliveries[i], Link: link, UserAgent: ua}, pol); err != nil {
			t.Fatal(err)
		}
	}
	hit(0, time.Second, -1, browserUA) // within seconds of delivery: a machine
	hit(1, time.Hour, -1, browserUA)
	hit(1, time.Minute, 0, browserUA)
	hit(2, time.Hour, -1, browserUA)
	hit(2, time.Minute, 1, browserUA)
	hit(3, time.Minute, 1, "Mozilla/5.0 (compatible; Barracuda Sentinel)")
	hit(4, 30*time.Minute, -1, browserUA)
	for i, kind := range []string{store.EventBounced, store.EventSoftBounced, store.EventComplained} {
		if _, err := w.st.RecordDeliveryReport(ctx, store.DeliveryReport{DeliveryID: sd.Deliveries[9+i], Kind: kind, Status: "5.1.1", Source: "test"},
			store.BouncePolicy{}); err != nil {
			t.Fatal(err)
		}
	}
	return sd
}

func TestCampaignReportFiguresTablesAndChartsMatchTheStore(t *testing.T) {
	w := newWebTest(t, nil)
	sd := reportFixture(t, w)
	w.user("vera@example.se", store.RoleViewer, "long enough password 1")
	b := w.browser()
	b.signIn("vera@example.se", "long enough password 1")
	st, err := w.st.CampaignStats(context.Background(), sd.CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Opens.Machine == 0 || st.Opens.Human == 0 || st.Clicks.Machine == 0 || st.Bounced.Hard == 0 || st.Complaints == 0 {
		t.Fatalf("fixture too thin to test anything: %+v", st)
	}
	rec := b.get(fmt.Sprintf("/admin/campaigns/%d/report", sd.CampaignID))
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	f := figures(t, body)
	want := map[string]int64{
		"recipients": st.Recipients, "delivered": st.Sent - st.Bounced.Hard, "bounced_hard": st.Bounced.Hard,
		"bounced_soft": st.Bounced.Soft, "bounced_policy": st.Bounced.Policy, "complaints": st.Complaints,
		"unsubscribed": st.Unsubscribed, "failed": st.Failed, "suppressed": st.Suppressed,
		"opens_human_unique": st.Opens.HumanUnique, "opens_human": st.Opens.Human, "opens_machine": st.Opens.Machine,
		"clicks_human_unique": st.Clicks.HumanUnique, "clicks_human": st.Clicks.Human, "clicks_machine": st.Clicks.Machine,
	}
	for k, v := range want {
		if got, ok := f[k]; !ok || got != v {
			t.Errorf("figure %s: page %d (shown: %v), store %d", k, got, ok, v)
		}
	}

	// Each chart: the SVG's marks, the table's columns and the store agree.
	sends := svgSums(body, "chart-sends")
	if tab, rows := tableSums(t, body, "chart-sends"); sends["sent"] != st.Sent || len(tab) != 1 || tab[0] != st.Sent || rows == 0 {
		t.Errorf("sends chart %v, table %v (%d rows), store sent %d", sends, tab, rows, st.Sent)
	}
	eng := svgSums(body, "chart-engage")
	tab, _ := tableSums(t, body, "chart-engage")
	wantEng := []int64{st.Opens.Human, st.Opens.Machine, st.Clicks.Human, st.Clicks.Machine}
	gotEng := []int64{eng["opens-human"], eng["opens-machine"], eng["clicks-human"], eng["clicks-machine"]}
	if fmt.Sprint(gotEng) != fmt.Sprint(wantEng) || fmt.Sprint(tab) != fmt.Sprint(wantEng) {
		t.Errorf("engagement chart %v, table %v, store %v", gotEng, tab, wantEng)
	}
	lk := svgSums(body, "chart-links")
	tab, rows := tableSums(t, body, "chart-links")
	var lh, lm int64
	for _, l := range st.Links {
		lh, lm = lh+l.Human, lm+l.Clicks-l.Human
	}
	if rows != len(st.Links) || lk["clicks-human"] != lh || lk["clicks-machine"] != lm || fmt.Sprint(tab) != fmt.Sprint([]int64{lh, lm}) {
		t.Errorf("links chart %v, table %v (%d rows), store %+v", lk, tab, rows, st.Links)
	}
	for _, u := range []string{"https://example.se/kalender", "https://example.se/artikel?id=7"} {
		if !strings.Contains(body, strings.ReplaceAll(u, "&", "&amp;")) {
			t.Errorf("report does not name link %s", u)
		}
	}
	// The charts are images with a title and a description, not script.
	if n := strings.Count(body, `role="img" aria-labelledby="chart-`); n != 3 {
		t.Errorf("%d labelled charts, want 3", n)
	}
}

func TestReportWithoutTrackingSaysSoAndDrawsNoEngagement(t *testing.T) {
	w := newWebTest(t, nil)
	sd := storetest.Sent(t, w.st, storetest.Seed{Subscribers: 3})
	w.user("vera@example.se", store.RoleViewer, "long enough password 1")
	b := w.browser()
	b.signIn("vera@example.se", "long enough password 1")
	body := b.get(fmt.Sprintf("/admin/campaigns/%d/report", sd.CampaignID)).Body.String()
	if !strings.Contains(body, "mäts inte") || strings.Contains(body, "chart-engage-svg") || strings.Contains(body, `data-figure="opens_human"`) {
		t.Error("a campaign without tracking shows open figures or an engagement chart, or does not say why")
	}
	if f := figures(t, body); f["delivered"] != 3 {
		t.Errorf("delivered %d, want 3", f["delivered"])
	}
}

func TestDeliveryLogFiltersPagesAndDownloads(t *testing.T) {
	w := newWebTest(t, nil)
	sd := reportFixture(t, w)
	w.user("vera@example.se", store.RoleViewer, "long enough password 1")
	b := w.browser()
	b.signIn("vera@example.se", "long enough password 1")
	base := fmt.Sprintf("/admin/campaigns/%d", sd.CampaignID)
	logAddrs := func(path string) ([]string, string) {
		t.Helper()
		rec := b.get(path)
		wantStatus(t, rec, http.StatusOK)
		var out []string
		for _, m := range regexp.MustCompile(`<tr><th scope="row">([^<]+)</th>`).FindAllStringSubmatch(between(rec.Body.String(), `<table id="log">`, `</table>`), -1) {
			out = append(out, m[1])
		}
		next := ""
		if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(rec.Body.String()); m != nil {
			next, _, _ = strings.Cut(strings.ReplaceAll(m[1], "&amp;", "&"), "#")
		}
		return out, next
	}
	all, next := logAddrs(base + "/report")
	if len(all) != 12 || next != "" {
		t.Fatalf("log shows %d rows, next %q; want the 12 deliveries on one page", len(all), next)
	}
	// Address search by the start of the address, any case.
	got, _ := logAddrs(base + "/report?q=" + url.QueryEscape(strings.ToUpper(sd.Emails[3][:len(sd.Emails[3])-len("@example.se")])))
	if len(got) != 1 || got[0] != sd.Emails[3] {
		t.Errorf("search for %s: %v", sd.Emails[3], got)
	}
	// The prefix of every address: all of them. A LIKE wildcard is a
	// character, not a wildcard.
	if got, _ := logAddrs(base + "/report?q=s"); len(got) != 12 {
		t.Errorf("search s: %d rows", len(got))
	}
	if got, _ := logAddrs(base + "/report?q=" + url.QueryEscape("%")); len(got) != 0 {
		t.Errorf("search %%: %v", got)
	}
	got, _ = logAddrs(base + "/report?status=bounced")
	if len(got) != 1 || got[0] != sd.Emails[9] {
		t.Errorf("bounced: %v, want %s", got, sd.Emails[9])
	}
	if rec := b.get(base + "/report?status=lost"); rec.Code != http.StatusBadRequest {
		t.Errorf("unknown status: %d", rec.Code)
	}
	// CSV: the same rows, a header, and the filter applied.
	rec := b.get(base + "/deliveries.csv?status=sent")
	wantStatus(t, rec, http.StatusOK)
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") || !strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
		t.Errorf("csv headers %v", rec.Header())
	}
	recs, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 12 || recs[0][1] != "email" { // 11 sent (one bounced) + header
		t.Errorf("csv of sent: %d lines, header %v", len(recs), recs[0])
	}
}

func TestDeliveryLogPagesByKeyset(t *testing.T) {
	w := newWebTest(t, nil)
	sd := storetest.Sent(t, w.st, storetest.Seed{Subscribers: 120})
	w.user("vera@example.se", store.RoleViewer, "long enough password 1")
	b := w.browser()
	b.signIn("vera@example.se", "long enough password 1")
	seen := map[string]bool{}
	path := fmt.Sprintf("/admin/campaigns/%d/report?status=sent", sd.CampaignID)
	pages := 0
	for path != "" && pages < 10 {
		pages++
		rec := b.get(path)
		wantStatus(t, rec, http.StatusOK)
		for _, m := range regexp.MustCompile(`<tr><th scope="row">([^<]+)</th>`).FindAllStringSubmatch(between(rec.Body.String(), `<table id="log">`, `</table>`), -1) {
			if seen[m[1]] {
				t.Fatalf("%s on two pages", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(rec.Body.String()); m != nil {
			path, _, _ = strings.Cut(strings.ReplaceAll(m[1], "&amp;", "&"), "#") // a browser keeps the fragment
			if !strings.Contains(path, "status=sent") {
				t.Fatalf("next page %s drops the filter", path)
			}
		}
	}
	if pages != 3 || len(seen) != 120 {
		t.Errorf("%d pages, %d addresses; want 3 and 120", pages, len(seen))
	}
}

func TestCampaignPageShowsProgressAndControlsOnlyToEditors(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	sd := storetest.Sent(t, w.st, storetest.Seed{Subscribers: 4})
	if done, err := w.st.FinishCampaign(ctx, sd.CampaignID); err != nil || !done {
		t.Fatalf("finish: %v %v", done, err)
	}
	w.user("vera@example.se", store.RoleViewer, "long enough password 1")
	ed := w.user("erik@example.se", store.RoleEditor, "long enough password 2")
	viewer, editor := w.browser(), w.browser()
	viewer.signIn("vera@example.se", "long enough password 1")
	editor.signIn("erik@example.se", "long enough password 2")
	page := fmt.Sprintf("/admin/campaigns/%d", sd.CampaignID)

	rec := viewer.get(page)
	wantStatus(t, rec, http.StatusOK)
	if strings.Contains(rec.Body.String(), `action="`+page+`/`) || strings.Contains(rec.Body.String(), "/confirm/") {
		t.Error("a viewer is shown write controls")
	}
	if !strings.Contains(editor.get(page).Body.String(), `action="`+page+`/duplicate"`) {
		t.Error("an editor is not offered duplicate")
	}
	// Progress as JSON for the page's script, with the store's numbers.
	rec = viewer.get(page + "/progress")
	wantStatus(t, rec, http.StatusOK)
	var p struct {
		Status           string
		Recipients, Sent int64
		Pending, Done    int64
		Text             map[string]string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != store.CampaignSent || p.Recipients != 4 || p.Sent != 4 || p.Pending != 0 || p.Done != 4 || p.Text["sent"] != "4" {
		t.Errorf("progress %+v", p)
	}

	// A forged POST from a viewer: 403, nothing written.
	before := w.rowCounts()
	for _, a := range []string{"pause", "resume", "cancel", "retry-failed", "duplicate"} {
		if rec := viewer.post(page+"/"+a, url.Values{"confirmed": {"yes"}}); rec.Code != http.StatusForbidden {
			t.Errorf("viewer %s: %d", a, rec.Code)
		}
	}
	w.unchanged(before)
	if rec := viewer.get(page + "/confirm/cancel"); rec.Code != http.StatusForbidden {
		t.Errorf("viewer confirmation page: %d", rec.Code)
	}

	// Duplicate: a new draft, and the page of the copy.
	rec = editor.post(page+"/duplicate", url.Values{})
	wantRedirect(t, rec, "/admin/campaigns/")
	if rec.Header().Get("Location") == page {
		t.Fatal("duplicate went back to the original")
	}
	copyID, _ := strconv.ParseInt(strings.TrimPrefix(rec.Header().Get("Location"), "/admin/campaigns/"), 10, 64)
	if c, err := w.st.Campaign(ctx, copyID); err != nil || c.Status != store.CampaignDraft {
		t.Fatalf("copy %d: %+v %v", copyID, c, err)
	}
	// Pausing a sent campaign is a conflict: said on the page, not a 500.
	rec = editor.post(page+"/pause", url.Values{})
	wantRedirect(t, rec, page)
	if body := editor.get(page).Body.String(); !strings.Contains(body, "flash-error") {
		t.Error("a refused pause is not said")
	}

	// A scheduled campaign: pause it, resume it, cancel it — the last
	// only through its confirmation.
	camp := &store.Campaign{Name: "Nyhetsbrev december", Subject: "December", Body: "b", ListIDs: []int64{sd.ListID}}
	if err := w.st.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.ScheduleCampaign(ctx, camp.ID, w.clock.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	page = fmt.Sprintf("/admin/campaigns/%d", camp.ID)
	editor.get(page)
	wantRedirect(t, editor.post(page+"/pause", url.Values{}), page)
	if c, _ := w.st.Campaign(ctx, camp.ID); c.Status != store.CampaignPaused {
		t.Fatalf("after pause: %s", c.Status)
	}
	wantRedirect(t, editor.post(page+"/resume", url.Values{}), page)
	if c, _ := w.st.Campaign(ctx, camp.ID); c.Status != store.CampaignScheduled {
		t.Fatalf("after resume: %s", c.Status)
	}
	// Cancel without the confirmation goes to the confirmation.
	wantRedirect(t, editor.post(page+"/cancel", url.Values{}), page+"/confirm/cancel")
	if c, _ := w.st.Campaign(ctx, camp.ID); c.Status != store.CampaignScheduled {
		t.Fatalf("cancel without confirmation: %s", c.Status)
	}
	rec = editor.get(page + "/confirm/cancel")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `name="confirmed" value="yes"`) {
		t.Fatal("confirmation page has no confirming form")
	}
	wantRedirect(t, editor.post(page+"/cancel", url.Values{"confirmed": {"yes"}}), page)
	if c, _ := w.st.Campaign(ctx, camp.ID); c.Status != store.CampaignCancelled {
		t.Fatalf("after cancel: %s", c.Status)
	}
	// Every change names the editor who made it.
	evs, _, err := w.st.Events(ctx, store.EventQuery{CampaignID: camp.ID})
	if err != nil {
		t.Fatal(err)
	}
	byUser := 0
	for _, ev := range evs {
		if ev.Kind == store.EventCampaign && ev.UserID != nil && *ev.UserID == ed.ID && ev.Source == "web" {
			byUser++
		}
	}
	if byUser != 3 {
		t.Errorf("%d of the campaign's events name the editor, want 3 (pause, resume, cancel)", byUser)
	}
}

func TestGuardrailReasonIsShownOnTheCampaignPage(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	sd := storetest.Sent(t, w.st, storetest.Seed{Subscribers: 2})
	camp := &store.Campaign{Name: "Januari", Subject: "Januari", Body: "b", ListIDs: []int64{sd.ListID}}
	if err := w.st.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	c, err := w.st.ScheduleCampaign(ctx, camp.ID, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.MaterializeDeliveries(ctx, c.ID, c.Revision); err != nil {
		t.Fatal(err)
	}
	reason := "guardrail: permanent failure rate 50.0% (1 of 2) passed 5.0%"
	if _, err := w.st.PauseCampaign(ctx, camp.ID, reason); err != nil {
		t.Fatal(err)
	}
	w.user("vera@example.se", store.RoleViewer, "long enough password 1")
	b := w.browser()
	b.signIn("vera@example.se", "long enough password 1")
	body := b.get(fmt.Sprintf("/admin/campaigns/%d", camp.ID)).Body.String()
	if !strings.Contains(body, "Skyddsspärren pausade kampanjen") || !strings.Contains(body, "permanent failure rate 50.0%") {
		t.Error("the guardrail's reason is not shown")
	}
	if !strings.Contains(body, `data-progress-url="/admin/campaigns/`) {
		t.Error("a paused campaign's page does not follow its progress")
	}
}

func TestListReportCountsStaffAddedPeopleAsJoined(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	l := &store.List{Slug: "nyheter", Name: "Nyheter", Language: "sv", Optin: store.OptinDouble, Visibility: store.VisibilityPublic}
	if err := w.st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	add := func(email, status string) int64 {
		t.Helper()
		sub := &store.Subscriber{Email: email, Language: "sv"}
		if err := w.st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: status, ConsentBasis: "test"}},
			store.Actor{Source: "web", UserID: 1}); err != nil {
			t.Fatal(err)
		}
		return sub.ID
	}
	// Staff add two people as confirmed; one person signs up and has not
	// confirmed; on the next day one of the staff-added leaves.
	add("anna@example.se", store.SubConfirmed)
	bo := add("bo@example.se", store.SubConfirmed)
	add("cecilia@example.se", store.SubUnconfirmed)
	w.clock.Add(24 * time.Hour)
	if _, err := w.st.UpdateSubscriber(ctx, bo, store.SubscriberPatch{Lists: []store.SubscriptionInput{{ListID: l.ID, Status: store.SubUnsubscribed}}},
		store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	w.user("vera@example.se", store.RoleViewer, "long enough password 1")
	b := w.browser()
	b.signIn("vera@example.se", "long enough password 1")
	rec := b.get(fmt.Sprintf("/admin/lists/%d/report?days=7", l.ID))
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	f := figures(t, body)
	want := map[string]int64{"confirmed": 1, "unconfirmed": 1, "unsubscribed": 1, "joined": 2, "signed_up": 1, "left": 1}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s: %d, want %d", k, f[k], v)
		}
	}
	st, err := w.st.ListStats(ctx, l.ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	svg := svgSums(body, "chart-growth")
	tab, rows := tableSums(t, body, "chart-growth")
	wantSums := []int64{st.Totals.Confirmed, -st.Totals.Unsubscribed, st.Totals.Confirmed - st.Totals.Unsubscribed}
	if fmt.Sprint([]int64{svg["joined"], svg["left"], svg["net"]}) != fmt.Sprint(wantSums) || fmt.Sprint(tab) != fmt.Sprint(wantSums) || rows != 7 {
		t.Errorf("growth chart %v, table %v (%d rows), store %v", svg, tab, rows, wantSums)
	}
	// The definitions are on the page.
	if !strings.Contains(body, "som personal eller en import lade till som bekräftade") {
		t.Error("the page does not say how staff-added people are counted")
	}
	if rec := b.get(fmt.Sprintf("/admin/lists/%d/report?days=0", l.ID)); rec.Code != http.StatusBadRequest {
		t.Errorf("days=0: %d", rec.Code)
	}
}

func TestMonthlyReportSummarisesTheMonthsCampaignsAndLists(t *testing.T) {
	w := newWebTest(t, nil) // the clock is 2 March 2026
	sd := reportFixture(t, w)
	st, err := w.st.CampaignStats(context.Background(), sd.CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	w.user("vera@example.se", store.RoleViewer, "long enough password 1")
	b := w.browser()
	b.signIn("vera@example.se", "long enough password 1")
	rec := b.get("/admin/reports/monthly?month=2026-03")
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	f := figures(t, body)
	if f["campaigns"] != 1 || f["recipients"] != st.Recipients || f["delivered"] != st.Sent-st.Bounced.Hard ||
		f["bounced"] != st.Bounced.Hard+st.Bounced.Soft || f["complaints"] != st.Complaints {
		t.Errorf("month figures %v, store %+v", f, st)
	}
	if !strings.Contains(body, "mars 2026") || !strings.Contains(body, fmt.Sprintf(`/admin/campaigns/%d/report`, sd.CampaignID)) {
		t.Error("the month or the campaign is missing")
	}
	// The list joined 12 people this month.
	if !regexp.MustCompile(`List [0-9a-f]+</a></th><td class="num">12</td>`).MatchString(body) {
		t.Error("the list's growth of the month is not 12")
	}
	if f := figures(t, b.get("/admin/reports/monthly?month=2026-02").Body.String()); f["campaigns"] != 0 {
		t.Errorf("February has %d campaigns", f["campaigns"])
	}
	if rec := b.get("/admin/reports/monthly?month=2026-13"); rec.Code != http.StatusBadRequest {
		t.Errorf("month 13: %d", rec.Code)
	}
}
