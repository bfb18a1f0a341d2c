package api

// The workspace's campaign list and send calendar. The campaign page of
// one sent campaign (progress, controls, report) is other work, at
// /admin/campaigns/{id}; drafts open in the editor (web_editor.go).

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
)

// campaignStatuses is the order of the list's tabs.
var campaignStatuses = []string{store.CampaignDraft, store.CampaignScheduled, store.CampaignSending,
	store.CampaignSent, store.CampaignPaused, store.CampaignCancelled}

type campaignRow struct {
	store.Campaign
	Lists string
	URL   string
}

type statusTab struct {
	Status, URL string
	N           int64
	Current     bool
}

type campaignsData struct {
	webPage
	Tabs     []statusTab
	Status   string
	Query    string
	Rows     []campaignRow
	NextURL  string
	AllCount int64
}

// campaignURL is where a campaign opens: a draft in the editor (for
// those who may edit), any other on its campaign page.
func campaignURL(c *store.Campaign, canEdit ...bool) string {
	if c.Status == store.CampaignDraft && (len(canEdit) == 0 || canEdit[0]) {
		return "/admin/campaigns/" + strconv.FormatInt(c.ID, 10) + "/edit"
	}
	return "/admin/campaigns/" + strconv.FormatInt(c.ID, 10)
}

// listNamesOf joins the names of ids, in the order given.
func listNamesOf(ids []int64, byID map[int64]store.List) string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		if l, ok := byID[id]; ok {
			names = append(names, l.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (s *Server) listsByID(c echo.Context) ([]store.List, map[int64]store.List, error) {
	ls, err := s.st.Lists(c.Request().Context())
	if err != nil {
		return nil, nil, err
	}
	m := make(map[int64]store.List, len(ls))
	for _, l := range ls {
		m[l.ID] = l
	}
	return ls, m, nil
}

// campaignsPage is GET /admin/campaigns: campaigns by status, newest
// first, with a search in names and subjects.
func (s *Server) campaignsPage(c echo.Context) error {
	status := c.QueryParam("status")
	if status != "" {
		if err := oneOf("status", &status, "", campaignStatuses...); err != nil {
			return err
		}
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	before, err := queryInt(c, "before", 0)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cs, next, err := s.st.Campaigns(ctx, store.CampaignQuery{Status: status, Search: q, Before: before, Limit: 50})
	if err != nil {
		return err
	}
	counts, err := s.st.CampaignCounts(ctx)
	if err != nil {
		return err
	}
	_, byID, err := s.listsByID(c)
	if err != nil {
		return err
	}
	p := campaignsData{webPage: s.page(c, "campaigns.title", "campaigns"), Status: status, Query: q}
	for _, n := range counts {
		p.AllCount += n
	}
	p.Tabs = append(p.Tabs, statusTab{URL: "/admin/campaigns", N: p.AllCount, Current: status == ""})
	for _, st := range campaignStatuses {
		p.Tabs = append(p.Tabs, statusTab{Status: st, URL: "/admin/campaigns?status=" + st, N: counts[st], Current: status == st})
	}
	for i := range cs {
		p.Rows = append(p.Rows, campaignRow{Campaign: cs[i], Lists: listNamesOf(cs[i].ListIDs, byID), URL: campaignURL(&cs[i], p.CanEdit())})
	}
	if next != 0 {
		v := c.QueryParams()
		v.Set("before", strconv.FormatInt(next, 10))
		p.NextURL = "/admin/campaigns?" + v.Encode()
	}
	return s.renderWeb(c, http.StatusOK, "campaigns", p.Lang, p)
}

type calendarEntry struct {
	Name, Lists, URL, Status string
	At                       time.Time
	Clock                    string
}

type calendarDay struct {
	Day     int // 0: a cell outside the month
	Date    string
	Today   bool
	Entries []calendarEntry
}

type calendarData struct {
	webPage
	Month            string // "oktober 2026"
	Weeks            [][]calendarDay
	Weekdays         []string
	PrevURL, NextURL string
	Lists            []store.List
	ListID           int64
	MonthParam       string
	Count            int
}

// calendarPage is GET /admin/campaigns/calendar?month=2026-10&list=: the
// scheduled and sent issues of a month in Swedish time, Monday first.
func (s *Server) calendarPage(c echo.Context) error {
	loc := mailtemplates.Stockholm()
	now := s.now().In(loc)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	if m := c.QueryParam("month"); m != "" {
		t, err := time.ParseInLocation("2006-01", m, loc)
		if err != nil || t.Year() < 2000 || t.Year() > 2200 {
			return &FieldError{Field: "month", Msg: "must be a month like 2026-10", Key: "calendar.err_month"}
		}
		first = t
	}
	listID, err := queryInt(c, "list", 0)
	if err != nil {
		return err
	}
	next := first.AddDate(0, 1, 0)
	cs, err := s.st.CalendarCampaigns(c.Request().Context(), first, next)
	if err != nil {
		return err
	}
	ls, byID, err := s.listsByID(c)
	if err != nil {
		return err
	}
	p := calendarData{webPage: s.page(c, "calendar.title", "campaigns"), Lists: ls, ListID: listID, MonthParam: first.Format("2006-01")}
	lang := p.Lang
	p.Month = strings.TrimPrefix(mailtemplates.LocalDate(first.Add(12*time.Hour), lang), "1 ")
	listQ := ""
	if listID != 0 {
		listQ = "&list=" + strconv.FormatInt(listID, 10)
	}
	p.PrevURL = "/admin/campaigns/calendar?month=" + first.AddDate(0, -1, 0).Format("2006-01") + listQ
	p.NextURL = "/admin/campaigns/calendar?month=" + next.Format("2006-01") + listQ
	for _, k := range []string{"calendar.wd_mon", "calendar.wd_tue", "calendar.wd_wed", "calendar.wd_thu", "calendar.wd_fri", "calendar.wd_sat", "calendar.wd_sun"} {
		p.Weekdays = append(p.Weekdays, s.t(c, k))
	}
	byDay := map[int][]calendarEntry{}
	for i := range cs {
		camp := &cs[i]
		if listID != 0 && !containsID(camp.ListIDs, listID) {
			continue
		}
		at := camp.StartedAt
		if at == nil {
			at = camp.SendAt
		}
		if at == nil {
			continue
		}
		local := at.In(loc)
		byDay[local.Day()] = append(byDay[local.Day()], calendarEntry{Name: camp.Name, Lists: listNamesOf(camp.ListIDs, byID),
			URL: campaignURL(camp), Status: camp.Status, At: *at, Clock: local.Format("15:04")})
		p.Count++
	}
	// Monday first: Go's Sunday is 0.
	lead := (int(first.Weekday()) + 6) % 7
	days := next.AddDate(0, 0, -1).Day()
	var week []calendarDay
	for i := 0; i < lead; i++ {
		week = append(week, calendarDay{})
	}
	for d := 1; d <= days; d++ {
		date := time.Date(first.Year(), first.Month(), d, 12, 0, 0, 0, loc)
		week = append(week, calendarDay{Day: d, Date: mailtemplates.LocalDate(date, lang), Entries: byDay[d],
			Today: date.Year() == now.Year() && date.YearDay() == now.YearDay()})
		if len(week) == 7 {
			p.Weeks = append(p.Weeks, week)
			week = nil
		}
	}
	if len(week) > 0 {
		for len(week) < 7 {
			week = append(week, calendarDay{})
		}
		p.Weeks = append(p.Weeks, week)
	}
	return s.renderWeb(c, http.StatusOK, "calendar", lang, p)
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
