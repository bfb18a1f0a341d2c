package api

// Following a campaign and reporting on it in the workspace: the campaign
// page with its live progress and controls, the campaign report with
// charts and the delivery log, the list report and the printable monthly
// summary. Every number comes from the store's stats functions that the
// JSON API serves too (CampaignStats, ListStats, Deliveries); the controls
// are the API's own (controlCampaign).

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
)

// campaignHead is what every campaign screen shows of the campaign.
type campaignHead struct {
	C     *store.Campaign
	Lists []store.List
	// TrackOpens and TrackClicks: whether any of its lists tracks them;
	// without, open and click figures would be meaningless zeros.
	TrackOpens, TrackClicks bool
}

// ListNames joins the campaign's list names.
func (h campaignHead) ListNames() string {
	names := make([]string, len(h.Lists))
	for i, l := range h.Lists {
		names[i] = l.Name
	}
	return strings.Join(names, ", ")
}

func (s *Server) campaignHead(ctx context.Context, id int64) (campaignHead, error) {
	camp, err := s.st.Campaign(ctx, id)
	if err != nil {
		return campaignHead{}, err
	}
	h := campaignHead{C: camp}
	for _, lid := range camp.ListIDs {
		l, err := s.st.List(ctx, lid)
		if err != nil {
			continue // deleted since: the campaign keeps its numbers
		}
		h.Lists = append(h.Lists, *l)
		h.TrackOpens = h.TrackOpens || l.TrackOpens
		h.TrackClicks = h.TrackClicks || l.TrackClicks
	}
	return h, nil
}

// progress is a campaign's live progress: the campaign page's figures
// and its JSON for the page's script.
type progress struct {
	Status     string     `json:"status"`
	Recipients int64      `json:"recipients"`
	Sent       int64      `json:"sent"`
	Pending    int64      `json:"pending"` // waiting or being sent
	Failed     int64      `json:"failed"`
	Suppressed int64      `json:"suppressed"`
	Cancelled  int64      `json:"cancelled"`
	Done       int64      `json:"done"` // no longer waiting
	Percent    int64      `json:"percent"`
	PerMinute  int64      `json:"per_minute"` // average since the start
	EstEnd     *time.Time `json:"estimated_end"`
	Reason     string     `json:"reason"`
	// Text are the figures as the page shows them, in the user's
	// language, keyed by the data-field of their element.
	Text map[string]string `json:"text"`
}

// Live tells whether the page should poll: something may still change.
func (p progress) Live() bool {
	switch p.Status {
	case store.CampaignScheduled, store.CampaignSending, store.CampaignPaused:
		return true
	}
	return false
}

func (s *Server) progressOf(c echo.Context, st *store.CampaignStats) progress {
	lang := s.webLang(c)
	p := progress{Status: st.Status, Recipients: st.Recipients, Sent: st.Sent, Pending: st.Pending + st.Sending,
		Failed: st.Failed, Suppressed: st.Suppressed, Cancelled: st.Cancelled, Reason: st.StatusReason}
	p.Done = max(0, st.Recipients-p.Pending)
	if st.Recipients > 0 {
		p.Percent = p.Done * 100 / st.Recipients
	}
	p.PerMinute = int64(math.Round(st.SendRate * 60))
	if st.Status == store.CampaignSending && st.SendRate > 0 && p.Pending > 0 {
		end := s.now().Add(time.Duration(float64(p.Pending) / st.SendRate * float64(time.Second))).UTC()
		p.EstEnd = &end
	}
	p.Text = map[string]string{
		"status": s.t(c, "campaign_status."+st.Status), "recipients": formatNum(p.Recipients, lang),
		"sent": formatNum(p.Sent, lang), "pending": formatNum(p.Pending, lang), "failed": formatNum(p.Failed, lang),
		"suppressed": formatNum(p.Suppressed, lang), "percent": strconv.FormatInt(p.Percent, 10),
		"rate": s.t(c, "rep.per_minute", "n", formatNum(p.PerMinute, lang)), "end": "–",
	}
	if p.PerMinute == 0 {
		p.Text["rate"] = "–"
	}
	if p.EstEnd != nil {
		p.Text["end"] = mailtemplates.LocalTime(*p.EstEnd, lang)
	}
	return p
}

// Guardrail returns the reason when the guardrail paused the campaign.
func (p progress) Guardrail() string {
	if p.Status == store.CampaignPaused && strings.HasPrefix(p.Reason, "guardrail:") {
		return p.Reason
	}
	return ""
}

// campaignAction is a control the campaign page offers.
type campaignAction struct {
	Name    string // controlCampaign's action
	Confirm bool   // cannot be undone: a confirmation page comes first
	Danger  bool
	Label   string // the button, translated
}

// actionWords are the i18n keys of each control: its button, and for the
// confirmable ones the confirmation's title, text and button.
var actionWords = map[string][4]string{
	actionPause:     {"rep.action_pause"},
	actionResume:    {"rep.action_resume"},
	actionDuplicate: {"rep.action_duplicate"},
	actionCancel:    {"rep.action_cancel", "rep.confirm_cancel_title", "rep.confirm_cancel", "rep.confirm_cancel_button"},
	actionRetry:     {"rep.action_retry_failed", "rep.confirm_retry_failed_title", "rep.confirm_retry_failed", "rep.confirm_retry_failed_button"},
}

// deliveryWords are the i18n keys of delivery statuses and failure
// classes in the delivery log.
var deliveryWords = map[string]string{
	store.DeliverySent: "rep.delivery_sent", store.DeliveryBounced: "rep.delivery_bounced", store.DeliveryFailed: "rep.delivery_failed",
	store.DeliveryPending: "rep.delivery_pending", store.DeliverySending: "rep.delivery_sending",
	store.DeliverySuppressed: "rep.delivery_suppressed", store.DeliveryCancelled: "rep.delivery_cancelled",
	"class." + store.FailPermanent: "rep.class_permanent", "class." + store.FailTemporary: "rep.class_temporary",
	"class." + store.FailPolicy: "rep.class_policy",
}

// campaignActions are the controls that apply to a campaign in status.
func campaignActions(status string, st *store.CampaignStats) []campaignAction {
	var out []campaignAction
	switch status {
	case store.CampaignScheduled, store.CampaignSending:
		out = append(out, campaignAction{Name: actionPause})
	case store.CampaignPaused:
		out = append(out, campaignAction{Name: actionResume})
	}
	switch status {
	case store.CampaignSent, store.CampaignSending, store.CampaignPaused:
		if st != nil && st.FailedTemporary+st.FailedPolicy > 0 {
			out = append(out, campaignAction{Name: actionRetry, Confirm: true})
		}
	}
	out = append(out, campaignAction{Name: actionDuplicate})
	switch status {
	case store.CampaignScheduled, store.CampaignSending, store.CampaignPaused:
		out = append(out, campaignAction{Name: actionCancel, Confirm: true, Danger: true})
	}
	return out
}

type campaignPageData struct {
	webPage
	campaignHead
	Stats   *store.CampaignStats
	P       progress
	Actions []campaignAction
	// Confirms tells whether one of Actions asks first, for the hint.
	Confirms bool
	// Approval is set while the campaign waits for four eyes.
	Approval *approvalBox
}

// approvalBox is what _approval.html shows of a campaign waiting for
// approval: an approver gets the preview at the revision to approve, the
// recipient count and the buttons; the one who asked sees that it waits.
type approvalBox struct {
	Revision   int
	Recipients int64
	PreviewURL string
	// SendAt is the time asked for, nil for "at once" (a time passed
	// is at once too: approval then starts it).
	SendAt *time.Time
	// CanApprove: the viewer is a publisher of all the campaign's lists
	// and not the one who asked (the store checks the same again).
	CanApprove bool
}

// approvalFor fills the approval box of campaign c for the signed-in user.
func (s *Server) approvalFor(ctx context.Context, u *store.User, c *store.Campaign) (*approvalBox, error) {
	if c.Status != store.CampaignPending {
		return nil, nil
	}
	n, err := s.st.RecipientCount(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	asked := c.RequestedByUser != nil && u != nil && *c.RequestedByUser == u.ID
	var at *time.Time
	if c.SendAt != nil && c.SendAt.After(s.now()) {
		at = c.SendAt
	}
	return &approvalBox{Revision: c.Revision, Recipients: n, SendAt: at,
		PreviewURL: "/admin/campaigns/" + strconv.FormatInt(c.ID, 10) + "/preview",
		CanApprove: !asked && store.AccessFrom(ctx).CanAll(c.ListIDs, store.GrantPublisher)}, nil
}

func (s *Server) campaignPage(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	h, err := s.campaignHead(ctx, id)
	if err != nil {
		return err
	}
	st, err := s.st.CampaignStats(ctx, id)
	if err != nil {
		return err
	}
	p := campaignPageData{webPage: s.page(c, "rep.campaign_title", "campaigns"), campaignHead: h, Stats: st,
		P: s.progressOf(c, st)}
	p.Title = h.C.Name
	if p.Approval, err = s.approvalFor(ctx, p.User, h.C); err != nil {
		return err
	}
	if p.CanEdit() {
		p.Actions = campaignActions(h.C.Status, st)
		for i := range p.Actions {
			p.Actions[i].Label = s.t(c, actionWords[p.Actions[i].Name][0])
			p.Confirms = p.Confirms || p.Actions[i].Confirm
		}
	}
	return s.renderWeb(c, http.StatusOK, "campaign", p.Lang, p)
}

// campaignProgress is the campaign page's progress as JSON, polled by
// reports.js while the campaign may change.
func (s *Server) campaignProgress(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	st, err := s.st.CampaignStats(c.Request().Context(), id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, s.progressOf(c, st))
}

type confirmData struct {
	webPage
	campaignHead
	Action   campaignAction
	Text     string // what the action does, with this campaign's numbers
	Button   string
	Stats    *store.CampaignStats
	Retrying int64 // deliveries a retry gives a new round
	Pending  int64 // deliveries a cancel stops
}

// campaignConfirm asks before an action that cannot be undone; it is a
// page of its own, so it works without scripts.
func (s *Server) campaignConfirm(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	a, ok := confirmable(c.Param("action"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such action")
	}
	ctx := c.Request().Context()
	h, err := s.campaignHead(ctx, id)
	if err != nil {
		return err
	}
	st, err := s.st.CampaignStats(ctx, id)
	if err != nil {
		return err
	}
	words, lang := actionWords[a.Name], s.webLang(c)
	p := confirmData{webPage: s.page(c, words[1], "campaigns"), campaignHead: h, Action: a, Stats: st,
		Retrying: st.FailedTemporary + st.FailedPolicy, Pending: st.Pending + st.Sending}
	p.Text = s.t(c, words[2], "recipients", formatNum(st.Recipients, lang), "pending", formatNum(p.Pending, lang),
		"retrying", formatNum(p.Retrying, lang))
	p.Button = s.t(c, words[3])
	return s.renderWeb(c, http.StatusOK, "campaign_confirm", p.Lang, p)
}

func confirmable(name string) (campaignAction, bool) {
	for _, a := range []campaignAction{{Name: actionCancel, Confirm: true, Danger: true}, {Name: actionRetry, Confirm: true}} {
		if a.Name == name {
			return a, true
		}
	}
	return campaignAction{}, false
}

// campaignControl runs a control posted from the campaign page. An
// action that needs a confirmation and comes without one goes to the
// confirmation page instead of running.
func (s *Server) campaignControl(action string) echo.HandlerFunc {
	return func(c echo.Context) error { return s.runCampaignControl(c, action) }
}

func (s *Server) runCampaignControl(c echo.Context, action string) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if _, ok := confirmable(action); ok && c.FormValue("confirmed") != "yes" {
		return redirect(c, fmt.Sprintf("/admin/campaigns/%d/confirm/%s", id, action))
	}
	r, err := s.controlCampaign(c, action, id)
	if err != nil {
		if statusCode(err) == http.StatusConflict {
			s.flashError(c, "flash.rep_conflict")
			return redirect(c, fmt.Sprintf("/admin/campaigns/%d", id))
		}
		return err
	}
	s.flash(c, controlFlash[action])
	return redirect(c, fmt.Sprintf("/admin/campaigns/%d", r.Campaign.ID))
}

var controlFlash = map[string]string{actionPause: "flash.rep_pause", actionResume: "flash.rep_resume",
	actionCancel: "flash.rep_cancel", actionRetry: "flash.rep_retry_failed", actionDuplicate: "flash.rep_duplicate"}

// deliveryLogSize is the delivery log's page.
const deliveryLogSize = 50

var deliveryStatuses = []string{store.DeliverySent, store.DeliveryBounced, store.DeliveryFailed, store.DeliveryPending,
	store.DeliverySending, store.DeliverySuppressed, store.DeliveryCancelled}

// deliveryFilter is the delivery log's filter, from the query.
type deliveryFilter struct {
	Status, Q string
	After     int64
}

func readDeliveryFilter(c echo.Context) (deliveryFilter, error) {
	f := deliveryFilter{Status: c.QueryParam("status"), Q: strings.TrimSpace(c.QueryParam("q"))}
	if f.Status != "" {
		if err := oneOf("status", &f.Status, "", deliveryStatuses...); err != nil {
			return f, err
		}
	}
	if len(f.Q) > 254 {
		return f, fieldErr("q", "is longer than 254 characters")
	}
	after, err := queryInt(c, "after", 0)
	f.After = after
	return f, err
}

// URL is the page of the log under base with this filter, from after.
func (f deliveryFilter) URL(base string, after int64) string {
	q := f.Query()
	if after > 0 {
		if q != "" {
			q += "&"
		}
		q += "after=" + strconv.FormatInt(after, 10)
	}
	if q == "" {
		return base
	}
	return base + "?" + q
}

// Query is the filter as a query string, without the cursor.
func (f deliveryFilter) Query() string {
	v := url.Values{}
	if f.Status != "" {
		v.Set("status", f.Status)
	}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	return v.Encode()
}

// logRow is a delivery of the log with its words.
type logRow struct {
	store.DeliveryRow
	StatusText, ClassText string
}

// option is an option of a select.
type option struct{ Value, Label string }

type campaignReportData struct {
	webPage
	campaignHead
	Stats          *store.CampaignStats
	Delivered      int64 // accepted and not bounced since
	Sends, Engage  chart
	Links          chart
	HasLinks       bool
	Log            []logRow
	Filter         deliveryFilter
	Next           int64
	Statuses       []option
	BucketsAreDays bool
	// The log's links, with the filter: first and next page, CSV.
	FirstURL, NextURL, CSVURL string
}

func (s *Server) campaignReport(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	f, err := readDeliveryFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	h, err := s.campaignHead(ctx, id)
	if err != nil {
		return err
	}
	st, err := s.st.CampaignStats(ctx, id)
	if err != nil {
		return err
	}
	rows, next, err := s.st.Deliveries(ctx, store.DeliveryQuery{CampaignID: id, Status: f.Status, Email: f.Q,
		After: f.After, Limit: deliveryLogSize})
	if err != nil {
		return err
	}
	p := campaignReportData{webPage: s.page(c, "rep.report_title", "campaigns"), campaignHead: h, Stats: st,
		Delivered: st.Sent - st.Bounced.Hard, Filter: f, Next: next}
	base := fmt.Sprintf("/admin/campaigns/%d/", id)
	p.FirstURL, p.CSVURL = f.URL(base+"report", 0)+"#h-log", f.URL(base+"deliveries.csv", 0)
	if next != 0 {
		p.NextURL = f.URL(base+"report", next) + "#h-log"
	}
	for _, d := range deliveryStatuses {
		p.Statuses = append(p.Statuses, option{Value: d, Label: s.t(c, deliveryWords[d])})
	}
	for _, r := range rows {
		lr := logRow{DeliveryRow: r, StatusText: s.t(c, deliveryWords[r.Status])}
		if r.FailureClass != "" {
			lr.ClassText = s.t(c, deliveryWords["class."+r.FailureClass])
		}
		p.Log = append(p.Log, lr)
	}
	p.Title = s.t(c, "rep.report_of", "name", h.C.Name)
	p.Sends, p.Engage, p.BucketsAreDays = s.timelineCharts(c, st, h)
	p.Links, p.HasLinks = s.linkChart(c, st), len(st.Links) > 0
	return s.renderWeb(c, http.StatusOK, "campaign_report", p.Lang, p)
}

// timelineCharts turns the campaign's hourly timeline into the sends
// chart and the opens and clicks chart: by hour in Swedish time for the
// first two days, by day when the activity spans longer. Hours without
// activity are shown as zero so that the time axis is even.
func (s *Server) timelineCharts(c echo.Context, st *store.CampaignStats, h campaignHead) (chart, chart, bool) {
	lang := s.webLang(c)
	loc := mailtemplates.Stockholm()
	sends := chart{ID: "chart-sends", Title: s.t(c, "rep.chart_sends"), Desc: s.t(c, "rep.chart_same_as_table"), Lang: lang}
	engage := chart{ID: "chart-engage", Title: s.t(c, "rep.chart_engage"), Desc: s.t(c, "rep.chart_same_as_table"), Lang: lang}
	if len(st.Timeline) == 0 {
		return sends, engage, false
	}
	first, last := st.Timeline[0].Hour, st.Timeline[len(st.Timeline)-1].Hour
	days := last.Sub(first) > 48*time.Hour
	key := func(t time.Time) time.Time {
		t = t.In(loc)
		if days {
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		}
		return t.Truncate(time.Hour)
	}
	step := func(t time.Time) time.Time {
		if days {
			return t.AddDate(0, 0, 1)
		}
		return t.Add(time.Hour)
	}
	idx := map[time.Time]int{}
	var buckets []time.Time
	for t := key(first); !t.After(key(last)); t = step(t) {
		idx[t] = len(buckets)
		buckets = append(buckets, t)
		if len(buckets) > 1000 { // a report over years: the table still has every day
			break
		}
	}
	n := len(buckets)
	sent := make([]int64, n)
	var opensH, opensM, clicksH, clicksM = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for _, hs := range st.Timeline {
		i, ok := idx[key(hs.Hour)]
		if !ok {
			continue
		}
		sent[i] += hs.Sent
		opensH[i] += hs.OpensHuman
		opensM[i] += hs.Opens - hs.OpensHuman
		clicksH[i] += hs.ClicksHuman
		clicksM[i] += hs.Clicks - hs.ClicksHuman
	}
	labels := make([]string, n)
	for i, t := range buckets {
		if days {
			labels[i] = t.Format("2006-01-02")
		} else {
			labels[i] = t.Format("2006-01-02 15:04")
		}
	}
	head := s.t(c, "rep.col_hour")
	if days {
		head = s.t(c, "rep.col_day")
	}
	sends.Labels, sends.LabelHead = labels, head
	sends.Series = []chartSeries{{Key: "sent", Name: s.t(c, "rep.sent"), Values: sent}}
	engage.Labels, engage.LabelHead = labels, head
	if h.TrackOpens {
		engage.Series = append(engage.Series, chartSeries{Key: "opens-human", Name: s.t(c, "rep.opens_human"), Values: opensH},
			chartSeries{Key: "opens-machine", Name: s.t(c, "rep.opens_machine"), Values: opensM})
	}
	if h.TrackClicks {
		engage.Series = append(engage.Series, chartSeries{Key: "clicks-human", Name: s.t(c, "rep.clicks_human"), Values: clicksH},
			chartSeries{Key: "clicks-machine", Name: s.t(c, "rep.clicks_machine"), Values: clicksM})
	}
	return sends, engage, days
}

func (s *Server) linkChart(c echo.Context, st *store.CampaignStats) chart {
	ch := chart{ID: "chart-links", Title: s.t(c, "rep.chart_links"), Desc: s.t(c, "rep.chart_same_as_table"),
		LabelHead: s.t(c, "rep.col_link"), Horizontal: true, Lang: s.webLang(c)}
	human, machine := make([]int64, len(st.Links)), make([]int64, len(st.Links))
	for i, l := range st.Links {
		ch.Labels = append(ch.Labels, l.URL)
		human[i], machine[i] = l.Human, l.Clicks-l.Human
	}
	ch.Series = []chartSeries{{Key: "clicks-human", Name: s.t(c, "rep.clicks_human"), Values: human},
		{Key: "clicks-machine", Name: s.t(c, "rep.clicks_machine"), Values: machine}}
	return ch
}

// campaignDeliveriesCSV streams the delivery log, filtered as on the
// page, page by page through the same keyset query: memory stays flat
// whatever the campaign's size.
func (s *Server) campaignDeliveriesCSV(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	f, err := readDeliveryFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.st.Campaign(ctx, id); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="campaign-%d-deliveries.csv"`, id))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"delivery_id", "email", "status", "failure_class", "attempts", "smtp_code", "smtp_message", "sent_at", "updated_at"})
	after := f.After
	for {
		rows, next, err := s.st.Deliveries(ctx, store.DeliveryQuery{CampaignID: id, Status: f.Status, Email: f.Q, After: after, Limit: 1000})
		if err != nil {
			// The header is out: end the file short, and say so in the log.
			s.log.Error("delivery csv", "campaign_id", id, "err", err)
			w.Flush()
			return nil
		}
		for _, r := range rows {
			sent := ""
			if r.SentAt != nil {
				sent = r.SentAt.UTC().Format(time.RFC3339)
			}
			_ = w.Write([]string{strconv.FormatInt(r.ID, 10), csvSafe(r.Email), r.Status, r.FailureClass, strconv.Itoa(r.Attempts),
				strconv.Itoa(r.SMTPCode), csvSafe(r.SMTPMessage), sent, r.UpdatedAt.UTC().Format(time.RFC3339)})
		}
		w.Flush()
		if next == 0 || w.Error() != nil {
			return nil
		}
		after = next
	}
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

type listReportData struct {
	webPage
	L      *store.List
	Stats  *store.ListStats
	Growth chart
	Days   int
	Ranges []int
}

// listReportRanges are the periods the list report offers.
var listReportRanges = []int{30, 90, 365}

func (s *Server) listReport(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	days, err := queryInt(c, "days", 30)
	if err != nil {
		return err
	}
	if days < 1 || days > 3650 {
		return fieldErr("days", "must be between 1 and 3650")
	}
	ctx := c.Request().Context()
	l, err := s.st.List(ctx, id)
	if err != nil {
		return err
	}
	st, err := s.st.ListStats(ctx, id, int(days))
	if err != nil {
		return err
	}
	p := listReportData{webPage: s.page(c, "rep.list_title", "lists"), L: l, Stats: st, Days: int(days), Ranges: listReportRanges}
	p.Title = s.t(c, "rep.list_report_of", "name", l.Name)
	p.Growth = s.growthChart(c, st)
	return s.renderWeb(c, http.StatusOK, "list_report", p.Lang, p)
}

// growthChart draws a list's days: people who joined (confirmed: by
// their link, or added as confirmed by staff or an import) above the
// axis, people who left below it, and the net as a line.
func (s *Server) growthChart(c echo.Context, st *store.ListStats) chart {
	ch := chart{ID: "chart-growth", Title: s.t(c, "rep.chart_growth"), Desc: s.t(c, "rep.chart_same_as_table"),
		LabelHead: s.t(c, "rep.col_day"), Lang: s.webLang(c)}
	n := len(st.Growth)
	joined, left, net := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, d := range st.Growth {
		ch.Labels = append(ch.Labels, d.Day)
		joined[i], left[i], net[i] = d.Confirmed, -d.Unsubscribed, d.Confirmed-d.Unsubscribed
	}
	ch.Series = []chartSeries{{Key: "joined", Name: s.t(c, "rep.joined"), Values: joined},
		{Key: "left", Name: s.t(c, "rep.left"), Values: left},
		{Key: "net", Name: s.t(c, "rep.net"), Line: true, Values: net}}
	return ch
}

// monthlyCampaign is one campaign of the monthly summary.
type monthlyCampaign struct {
	C         store.Campaign
	Lists     string
	Stats     *store.CampaignStats
	Delivered int64
	Bounced   int64 // hard and soft
	Opened    int64 // unique human opens; -1 when not tracked
	Clicked   int64 // unique human clicks; -1 when not tracked
}

type monthlyList struct {
	L     store.List
	Stats *store.ListStats
	Net   int64 // joined less left
}

type monthlyData struct {
	webPage
	Month, Prev, Next string
	MonthName         string
	Campaigns         []monthlyCampaign
	Lists             []monthlyList
	Totals            struct{ Recipients, Delivered, Bounced, Complaints, Unsubscribed int64 }
}

// monthlyReport summarises a month (Swedish time) for management: every
// campaign that started in it and every list's growth. It is meant to be
// printed (reports.css has the print rules).
func (s *Server) monthlyReport(c echo.Context) error {
	loc := mailtemplates.Stockholm()
	now := s.now().In(loc)
	month := c.QueryParam("month")
	var start time.Time
	if month == "" {
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	} else {
		t, err := time.ParseInLocation("2006-01", month, loc)
		if err != nil || t.Year() < 2000 || t.Year() > 2200 {
			return fieldErr("month", "must be a month as YYYY-MM, not %q", month)
		}
		start = t
	}
	end := start.AddDate(0, 1, 0)
	ctx := c.Request().Context()
	lists, err := s.st.Lists(ctx)
	if err != nil {
		return err
	}
	byID := map[int64]store.List{}
	for _, l := range lists {
		byID[l.ID] = l
	}
	cs, err := s.st.CampaignsStartedBetween(ctx, start, end)
	if err != nil {
		return err
	}
	lang := s.webLang(c)
	p := monthlyData{webPage: s.page(c, "rep.monthly_title", "campaigns"), Month: start.Format("2006-01"),
		Prev: start.AddDate(0, -1, 0).Format("2006-01"), Next: end.Format("2006-01"),
		MonthName: monthName(start, lang)}
	p.Title = s.t(c, "rep.monthly_of", "month", p.MonthName)
	for _, camp := range cs {
		st, err := s.st.CampaignStats(ctx, camp.ID)
		if err != nil {
			return err
		}
		mc := monthlyCampaign{C: camp, Stats: st, Delivered: st.Sent - st.Bounced.Hard, Bounced: st.Bounced.Hard + st.Bounced.Soft,
			Opened: -1, Clicked: -1}
		var names []string
		for _, id := range camp.ListIDs {
			if l, ok := byID[id]; ok {
				names = append(names, l.Name)
				if l.TrackOpens {
					mc.Opened = st.Opens.HumanUnique
				}
				if l.TrackClicks {
					mc.Clicked = st.Clicks.HumanUnique
				}
			}
		}
		mc.Lists = strings.Join(names, ", ")
		p.Campaigns = append(p.Campaigns, mc)
		p.Totals.Recipients += st.Recipients
		p.Totals.Delivered += mc.Delivered
		p.Totals.Bounced += mc.Bounced
		p.Totals.Complaints += st.Complaints
		p.Totals.Unsubscribed += st.Unsubscribed
	}
	// The list counters are kept per UTC day: the month's days in UTC.
	ufrom := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, l := range lists {
		st, err := s.st.ListStatsBetween(ctx, l.ID, ufrom, ufrom.AddDate(0, 1, 0))
		if err != nil {
			return err
		}
		p.Lists = append(p.Lists, monthlyList{L: l, Stats: st, Net: st.Totals.Confirmed - st.Totals.Unsubscribed})
	}
	return s.renderWeb(c, http.StatusOK, "monthly_report", p.Lang, p)
}

var monthNames = map[string][]string{
	"sv": {"januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"},
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

func monthName(t time.Time, lang string) string {
	return monthNames[mailtemplates.NormalizeLanguage(lang)][t.Month()-1] + " " + strconv.Itoa(t.Year())
}
