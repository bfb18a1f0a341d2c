package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestDeliveriesSearchByTheStartOfTheAddress(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 12})
		find := func(q string) []string {
			t.Helper()
			rows, _, err := s.Deliveries(ctx, store.DeliveryQuery{CampaignID: sd.CampaignID, Email: q, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rows {
				out = append(out, r.Email)
			}
			return out
		}
		one := strings.TrimSuffix(sd.Emails[1], "@example.se") // s<tag>-1: also a prefix of -10, -11
		if got := find(strings.ToUpper(one)); len(got) != 3 {
			t.Errorf("%s: %v, want -1, -10 and -11", one, got)
		}
		if got := find(sd.Emails[1]); len(got) != 1 || got[0] != sd.Emails[1] {
			t.Errorf("whole address: %v", got)
		}
		// LIKE's wildcards are characters here.
		for _, q := range []string{"%", "_", "s%", `\`} {
			if got := find(q); len(got) != 0 {
				t.Errorf("%q matched %v", q, got)
			}
		}
		if got := find(""); len(got) != 12 {
			t.Errorf("no search: %d rows", len(got))
		}
	})
}

func TestListStatsBetweenAndCampaignsStartedBetween(t *testing.T) {
	clk := &clock{t: t0}
	storetest.RunOpts(t, storetest.Options{Now: clk.Now}, func(t *testing.T, s *store.Store) {
		clk.Set(t0) // 23 November
		ctx := context.Background()
		sd := storetest.Sent(t, s, storetest.Seed{Subscribers: 3})
		clk.Set(t0.AddDate(0, 1, 0)) // a month later: the report of a past month
		nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		st, err := s.ListStatsBetween(ctx, sd.ListID, nov, nov.AddDate(0, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Growth) != 30 || st.From != "2026-11-01" || st.To != "2026-11-30" || st.Totals.Confirmed != 3 || st.Growth[22].Confirmed != 3 {
			t.Errorf("November: %d days %s–%s, totals %+v", len(st.Growth), st.From, st.To, st.Totals)
		}
		if st, _ := s.ListStatsBetween(ctx, sd.ListID, nov.AddDate(0, 1, 0), nov.AddDate(0, 2, 0)); st.Totals.Confirmed != 0 {
			t.Errorf("December counts November's: %+v", st.Totals)
		}
		cs, err := s.CampaignsStartedBetween(ctx, nov, nov.AddDate(0, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].ID != sd.CampaignID || len(cs[0].ListIDs) != 1 || cs[0].ListIDs[0] != sd.ListID {
			t.Errorf("November's campaigns: %+v", cs)
		}
		if cs, _ := s.CampaignsStartedBetween(ctx, nov.AddDate(0, 1, 0), nov.AddDate(0, 2, 0)); len(cs) != 0 {
			t.Errorf("December's campaigns: %+v", cs)
		}
	})
}
