package api

// Scheduling from the workspace: a date and a time in Swedish time, a
// confirmation page that names the lists, the recipients and the lint,
// then the same sendCampaign as POST /api/v1/campaigns/{id}/send.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
)

// swedishTime is the instant a date and a wall-clock time name in
// Europe/Stockholm. On the spring day a time between 02:00 and 03:00 does
// not exist: it is refused, saying so. On the autumn day a time between
// 02:00 and 03:00 exists twice: fold "first" (summer time, the default)
// or "second" (winter time) chooses, and twice reports that it had to.
func swedishTime(date, clock, fold string) (at time.Time, twice bool, err error) {
	loc := mailtemplates.Stockholm()
	d, err := time.Parse("2006-01-02", strings.TrimSpace(date))
	if err != nil {
		return time.Time{}, false, &FieldError{Field: "date", Msg: "must be a date like 2026-10-27", Key: "send.err_date"}
	}
	hm, err := time.Parse("15:04", strings.TrimSpace(clock))
	if err != nil {
		return time.Time{}, false, &FieldError{Field: "time", Msg: "must be a time like 08:00", Key: "send.err_time"}
	}
	// Every instant whose Swedish wall clock reads date and clock: try
	// both of the zone's offsets (UTC+1 and UTC+2).
	var found []time.Time
	for _, off := range []int{2, 1} {
		t := time.Date(d.Year(), d.Month(), d.Day(), hm.Hour(), hm.Minute(), 0, 0, time.FixedZone("", off*3600))
		l := t.In(loc)
		if l.Year() == d.Year() && l.YearDay() == d.YearDay() && l.Hour() == hm.Hour() && l.Minute() == hm.Minute() {
			found = append(found, t.UTC())
		}
	}
	switch len(found) {
	case 0:
		return time.Time{}, false, &FieldError{Field: "time", Msg: fmt.Sprintf("%s does not exist in Swedish time on %s: the clocks go from 02:00 to 03:00", clock, date),
			Key: "send.err_nonexistent", Args: []string{"time", clock, "date", mailtemplates.LocalDate(time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, loc), "sv")}}
	case 1:
		return found[0], false, nil
	}
	if fold == "second" {
		return found[1], true, nil
	}
	return found[0], true, nil
}

type sendData struct {
	webPage
	Camp       *store.Campaign
	Now        bool
	Date, Time string
	Fold       string
	At         time.Time
	Twice      bool
	Offset     string // "UTC+1 (vintertid)"
	Lists      []store.List
	Recipients int64
	Findings   []finding
	Blocking   bool
}

// sendPlan reads the send form (now, or date+time+fold) and fills the
// confirmation.
func (s *Server) sendPlan(c echo.Context, camp *store.Campaign) (sendData, error) {
	p := sendData{webPage: s.page(c, "send.title", "campaigns"), Camp: camp, Now: c.FormValue("when") == "now",
		Date: c.FormValue("date"), Time: c.FormValue("time"), Fold: c.FormValue("fold")}
	ctx := c.Request().Context()
	_, byID, err := s.listsByID(c)
	if err != nil {
		return p, err
	}
	for _, id := range camp.ListIDs {
		p.Lists = append(p.Lists, byID[id])
	}
	if p.Recipients, err = s.st.CountRecipients(ctx, camp.ListIDs); err != nil {
		return p, err
	}
	p.Findings = s.findings(c, camp)
	for _, f := range p.Findings {
		if f.Blocking || f.Severity == "error" && f.Code == "body" {
			p.Blocking = true
		}
	}
	var errs []error
	if len(camp.ListIDs) == 0 {
		errs = append(errs, &store.ConflictError{Field: "list_ids", Msg: "no lists"})
	}
	if !p.Now {
		at, twice, err := swedishTime(p.Date, p.Time, p.Fold)
		if err != nil {
			errs = append(errs, err)
		} else if !at.After(s.now()) {
			errs = append(errs, &FieldError{Field: "time", Msg: "must be in the future", Key: "send.err_past"})
		} else {
			p.At, p.Twice = at, twice
			_, off := at.In(mailtemplates.Stockholm()).Zone()
			key := "send.winter"
			if off == 7200 {
				key = "send.summer"
			}
			p.Offset = fmt.Sprintf("UTC+%d, %s", off/3600, s.t(c, key))
		}
	}
	if len(errs) > 0 {
		p.Errors = map[string]string{}
		for _, e := range errs {
			for k, v := range s.campaignFormErrors(c, e) {
				p.Errors[k] = v
			}
		}
	}
	return p, nil
}

// sendConfirm is GET /admin/campaigns/:id/send?when=now|later&date=&time=:
// what will happen, before it does.
func (s *Server) sendConfirm(c echo.Context) error {
	camp, err := s.draftOf(c)
	if err != nil {
		return err
	}
	if camp.Status != store.CampaignDraft {
		return redirect(c, campaignURL(camp))
	}
	p, err := s.sendPlan(c, camp)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if p.Errors != nil {
		code = http.StatusUnprocessableEntity
	}
	return s.renderWeb(c, code, "send", p.Lang, p)
}

// sendSubmit is POST /admin/campaigns/:id/send, from the confirmation.
func (s *Server) sendSubmit(c echo.Context) error {
	camp, err := s.draftOf(c)
	if err != nil {
		return err
	}
	p, err := s.sendPlan(c, camp)
	if err != nil {
		return err
	}
	if p.Errors == nil {
		var at time.Time
		if !p.Now {
			at = p.At
		}
		var sent *store.Campaign
		sent, _, err = s.sendCampaign(c.Request().Context(), camp.ID, at)
		if err == nil && sent.Status == store.CampaignPending {
			// Four eyes: nothing goes yet; the campaign's page says so.
			s.flash(c, "team.sent_for_approval")
			return redirect(c, "/admin/campaigns/"+strconv.FormatInt(camp.ID, 10))
		}
		if err == nil {
			if p.Now {
				s.flash(c, "flash.editor_sending")
			} else {
				s.flash(c, "flash.editor_scheduled")
			}
			return redirect(c, "/admin/campaigns?status="+map[bool]string{true: store.CampaignSending, false: store.CampaignScheduled}[p.Now])
		}
		var lb *lintBlocked
		if errors.As(err, &lb) {
			p.Blocking = true
			p.Errors = map[string]string{"lint": s.lintText(c, lb.Findings[0])}
		} else if p.Errors = s.campaignFormErrors(c, err); p.Errors == nil {
			return err
		}
	}
	return s.renderWeb(c, http.StatusUnprocessableEntity, "send", p.Lang, p)
}

type mediaData struct {
	webPage
	Media    []mediaItem
	Uploaded *mediaItem
	NextURL  string
}

func (s *Server) mediaData(c echo.Context) (mediaData, error) {
	p := mediaData{webPage: s.page(c, "media.title", "campaigns")}
	before, err := queryInt(c, "before", 0)
	if err != nil {
		return p, err
	}
	ms, next, err := s.st.MediaList(c.Request().Context(), before, 60)
	if err != nil {
		return p, err
	}
	for i := range ms {
		p.Media = append(p.Media, mediaItem{Media: &ms[i], URL: s.mediaURL(&ms[i])})
	}
	if next != 0 {
		p.NextURL = fmt.Sprintf("/admin/media?before=%d", next)
	}
	return p, nil
}

// mediaPage is GET /admin/media: the library and its upload form.
func (s *Server) mediaPage(c echo.Context) error {
	p, err := s.mediaData(c)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "media", p.Lang, p)
}

// mediaUpload is POST /admin/media?csrf=: the same upload as the API's.
func (s *Server) mediaUpload(c echo.Context) error {
	item, err := s.uploadMedia(c)
	if err == nil {
		s.flash(c, "flash.editor_media_uploaded")
		return redirect(c, fmt.Sprintf("/admin/media#m%d", item.ID))
	}
	p, derr := s.mediaData(c)
	if derr != nil {
		return derr
	}
	code := http.StatusUnprocessableEntity
	if errors.Is(err, errMediaUnavailable) {
		// The bucket does not answer: said by the field, nothing stored.
		code, p.Errors = http.StatusServiceUnavailable, map[string]string{"file": s.t(c, "i13media.unavailable")}
	} else if p.Errors = s.formErrors(c, err); p.Errors == nil {
		return err
	}
	return s.renderWeb(c, code, "media", p.Lang, p)
}
