package api

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// overviewCampaign is a campaign as the overview shows it.
type overviewCampaign struct {
	store.Campaign
	Lists string // list names, comma separated
	Stats *store.CampaignStats
	// Done is the recipients no longer waiting (sent, failed, suppressed
	// or cancelled): what the progress bar shows of Stats.Recipients.
	Done int64
	// Bounced counts hard and soft bounces.
	Bounced int64
	// Opened is unique human opens, or -1 when none of its lists tracks
	// opens (the figure would be a meaningless 0).
	Opened int64
}

type overviewData struct {
	webPage
	Sending, Scheduled, Recent []overviewCampaign
	Lists                      []store.List
}

// overviewRecent is how many finished campaigns the overview lists.
const overviewRecent = 5

func (s *Server) overview(c echo.Context) error {
	ctx := c.Request().Context()
	p := overviewData{webPage: s.page(c, "overview.title", "overview")}
	lists, err := s.st.Lists(ctx)
	if err != nil {
		return err
	}
	p.Lists = lists
	byID := map[int64]store.List{}
	for _, l := range lists {
		byID[l.ID] = l
	}
	for _, q := range []struct {
		statuses []string
		dst      *[]overviewCampaign
		limit    int
	}{
		{[]string{store.CampaignSending, store.CampaignPaused}, &p.Sending, 20},
		{[]string{store.CampaignScheduled}, &p.Scheduled, 20},
		{[]string{store.CampaignSent}, &p.Recent, overviewRecent},
	} {
		for _, st := range q.statuses {
			cs, _, err := s.st.Campaigns(ctx, store.CampaignQuery{Status: st, Limit: q.limit})
			if err != nil {
				return err
			}
			for _, camp := range cs {
				oc, err := s.overviewCampaign(ctx, camp, byID)
				if err != nil {
					return err
				}
				*q.dst = append(*q.dst, oc)
			}
		}
	}
	// The agenda in the order things will happen.
	sort.SliceStable(p.Scheduled, func(i, j int) bool {
		a, b := p.Scheduled[i].SendAt, p.Scheduled[j].SendAt
		return a != nil && (b == nil || a.Before(*b))
	})
	return s.renderWeb(c, http.StatusOK, "overview", p.Lang, p)
}

func (s *Server) overviewCampaign(ctx context.Context, camp store.Campaign, lists map[int64]store.List) (overviewCampaign, error) {
	oc := overviewCampaign{Campaign: camp, Opened: -1}
	var names []string
	tracked := false
	for _, id := range camp.ListIDs {
		if l, ok := lists[id]; ok {
			names = append(names, l.Name)
			tracked = tracked || l.TrackOpens
		}
	}
	oc.Lists = strings.Join(names, ", ")
	if camp.Status == store.CampaignScheduled {
		return oc, nil
	}
	st, err := s.st.CampaignStats(ctx, camp.ID)
	if err != nil {
		return oc, err
	}
	oc.Stats = st
	oc.Done = max(0, st.Recipients-st.Pending-st.Sending)
	oc.Bounced = st.Bounced.Hard + st.Bounced.Soft
	if tracked {
		oc.Opened = st.Opens.HumanUnique
	}
	return oc, nil
}
