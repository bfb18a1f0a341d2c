package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestClaimOptinMails(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	storetest.RunOpts(t, storetest.Options{Now: func() time.Time { return now }}, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		claim := func(task string, lists ...int64) []int64 {
			t.Helper()
			got, err := s.ClaimOptinMails(ctx, "anna@example.se", lists, task, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := claim("t1", 1, 2); !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("first claim %v", got)
		}
		if got := claim("t2", 1, 3); !slices.Equal(got, []int64{3}) {
			t.Fatalf("another task within the window got %v, want only the new list 3", got)
		}
		if got := claim("t1", 1, 2); !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("a retry of the same task got %v, want 1 and 2", got)
		}
		if got := claim("", 2); len(got) != 0 {
			t.Fatalf("a task without id within the window got %v", got)
		}
		now = now.Add(5 * time.Minute)
		if got := claim("t4", 3); len(got) != 0 {
			t.Fatalf("five minutes on got %v", got)
		}
		now = now.Add(5*time.Minute + time.Second)
		if got := claim("t5", 1, 2, 3); !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("after the window got %v, want all", got)
		}
	})
}

func TestUnsubscribeAllAndTheWaysBack(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := &store.List{Slug: "bus", Name: "BUS"}
		s.CreateList(ctx, l)
		sub := &store.Subscriber{Email: "anna@example.se"}
		if err := s.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed}}, store.Actor{}); err != nil {
			t.Fatal(err)
		}
		reason := func() string {
			sp, err := s.SuppressionOf(ctx, "anna@example.se")
			if err != nil {
				return ""
			}
			return sp.Reason
		}
		left, err := s.UnsubscribeAll(ctx, sub.ID, 0, store.Actor{Source: "preferences"})
		if err != nil || !slices.Equal(left, []int64{l.ID}) || reason() != store.SuppressUnsubscribedAll {
			t.Fatalf("unsubscribe all: %v %v %q", left, err, reason())
		}
		if _, err := s.Resubscribe(ctx, sub.ID, left, time.Time{}, store.Actor{Source: "preferences"}); err != nil || reason() != "" {
			t.Fatalf("undo: %v, suppression %q", err, reason())
		}
		// Staff suppression stays through the person's undo.
		s.Unsubscribe(ctx, sub.ID, nil, 0, store.Actor{})
		s.Suppress(ctx, "anna@example.se", store.SuppressComplaint, "", store.Actor{Source: "api"})
		s.Resubscribe(ctx, sub.ID, []int64{l.ID}, time.Time{}, store.Actor{})
		if reason() != store.SuppressComplaint {
			t.Fatalf("undo lifted a complaint: %q", reason())
		}
		if _, err := s.UnsubscribeAll(ctx, 999, 0, store.Actor{}); err == nil {
			t.Fatal("unsubscribe all of an unknown subscriber: no error")
		}
	})
}

func TestPersonalDataAndErasure(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := &store.List{Slug: "bus", Name: "BUS"}
		s.CreateList(ctx, l)
		sub := &store.Subscriber{Email: "anna@example.se", Name: "Anna", Attributes: store.Attributes{"kommun": "Solna"}}
		by := store.Actor{Source: "form", IP: "192.0.2.1", UserAgent: "Firefox", Data: map[string]any{"consent_text": "Jag vill"}}
		if err := s.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed, ConsentBasis: "form"}}, by); err != nil {
			t.Fatal(err)
		}
		c := &store.Campaign{Name: "n", Subject: "Nyheter", Body: "b", ListIDs: []int64{l.ID}}
		s.CreateCampaign(ctx, c)
		c, _ = s.ScheduleCampaign(ctx, c.ID, time.Time{})
		if _, err := s.MaterializeDeliveries(ctx, c.ID, c.Revision); err != nil {
			t.Fatal(err)
		}
		s.Suppress(ctx, "anna@example.se", store.SuppressHardBounce, "550 anna@example.se unknown", store.Actor{Source: "worker"})

		pd, err := s.PersonalData(ctx, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if pd.Subscriber.Attributes["kommun"] != "Solna" || len(pd.Subscriptions) != 1 || pd.Subscriptions[0].ListName != "BUS" ||
			len(pd.Deliveries) != 1 || pd.Deliveries[0].Subject != "Nyheter" || pd.Suppression == nil || len(pd.Events) < 3 {
			t.Fatalf("personal data %+v", pd)
		}

		if err := s.EraseSubscriber(ctx, sub.ID, store.Actor{Source: "api", TokenID: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PersonalData(ctx, sub.ID); err == nil {
			t.Fatal("personal data after erasure")
		}
		sp, err := s.SuppressionOf(ctx, "anna@example.se")
		if err != nil || sp.Reason != store.SuppressErased || sp.Email != "" || sp.Note != "" {
			t.Fatalf("suppression after erasure: %+v %v", sp, err)
		}
		evs, _, _ := s.Events(ctx, store.EventQuery{Limit: 1000})
		var erased int
		for _, ev := range evs {
			if ev.IP != "" || ev.UserAgent != "" || (ev.SubscriberID != nil && *ev.SubscriberID == sub.ID) {
				t.Fatalf("event still personal: %+v", ev)
			}
			if ev.Kind == store.EventErased {
				erased++
			}
		}
		if erased != 1 {
			t.Fatalf("%d erasure events, want 1", erased)
		}
		st, err := s.CampaignStats(ctx, c.ID)
		if err != nil || st.Recipients != 1 {
			t.Fatalf("campaign counts after erasure: %+v %v", st, err)
		}
		if err := s.EraseSubscriber(ctx, sub.ID, store.Actor{}); err == nil {
			t.Fatal("erasing twice: no error")
		}

		// Her own confirmed opt-in brings her back and lifts the entry.
		res, err := s.Subscribe(ctx, store.SubscribeParams{Email: "anna@example.se", Language: "sv",
			Lists: []store.SubscriptionInput{{ListID: l.ID, Status: store.SubUnconfirmed}}}, store.Actor{Source: "form"})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.ConfirmSubscriptions(ctx, res.Subscriber.ID, []int64{l.ID}, store.Actor{Source: "confirm-link"}); err != nil || n != 1 {
			t.Fatalf("confirm: %d %v", n, err)
		}
		if ok := storetest.Suppressed(t, s, "anna@example.se"); ok {
			t.Fatal("confirmation did not lift the erased entry")
		}
	})
}

// createLists makes a list for each slug, named by it.
func createLists(t *testing.T, s *store.Store, slugs ...string) []*store.List {
	t.Helper()
	ls := make([]*store.List, len(slugs))
	for i, slug := range slugs {
		ls[i] = &store.List{Slug: slug, Name: slug}
		if err := s.CreateList(context.Background(), ls[i]); err != nil {
			t.Fatal(err)
		}
	}
	return ls
}

func TestUnsubscribeScopeIsTheCampaignsListsThePersonIsStillOn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := createLists(t, s, "nytt", "bus", "skola", "vard")
		sub := &store.Subscriber{Email: "anna@example.se"}
		err := s.CreateSubscriber(ctx, sub, []store.SubscriptionInput{
			{ListID: l[0].ID, Status: store.SubConfirmed}, {ListID: l[1].ID, Status: store.SubConfirmed},
			{ListID: l[2].ID, Status: store.SubConfirmed}}, store.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		campaign := func(lists ...int64) int64 {
			c := &store.Campaign{Name: "c", Subject: "s", Body: "b", ListIDs: lists}
			if err := s.CreateCampaign(ctx, c); err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		scope := func(campaignID int64) []int64 {
			t.Helper()
			ids, err := s.UnsubscribeScope(ctx, sub.ID, campaignID)
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		two := campaign(l[1].ID, l[3].ID) // bus, and a list Anna is not on
		if got := scope(two); !slices.Equal(got, []int64{l[1].ID}) {
			t.Errorf("campaign to bus and vard: %v, want bus only", got)
		}
		if got := scope(0); !slices.Equal(got, []int64{l[0].ID, l[1].ID, l[2].ID}) {
			t.Errorf("a link of no campaign: %v, want all three of her lists", got)
		}
		if _, err := s.Unsubscribe(ctx, sub.ID, []int64{l[0].ID}, 0, store.Actor{}); err != nil {
			t.Fatal(err)
		}
		if got := scope(0); !slices.Equal(got, []int64{l[1].ID, l[2].ID}) {
			t.Errorf("after leaving nytt: %v, want bus and skola", got)
		}
		if got := scope(campaign(l[0].ID)); len(got) != 0 || got == nil {
			t.Errorf("a campaign to a list she left: %v, want an empty scope (not every list)", got)
		}
		if got := scope(campaign()); len(got) != 0 || got == nil {
			t.Errorf("a campaign without lists: %v, want an empty scope", got)
		}
		gone := campaign(l[3].ID)
		if err := s.DeleteCampaign(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if got := scope(gone); !slices.Equal(got, []int64{l[1].ID, l[2].ID}) {
			t.Errorf("a link of a deleted campaign: %v, want all her lists", got)
		}
		if _, err := s.UnsubscribeScope(ctx, sub.ID+1000, two); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown subscriber: %v, want ErrNotFound", err)
		}
	})
}

// TestLinkUnsubscribesWrittenTogetherEachActOnTheirLinksScope: link
// unsubscribes that find their lists inside the shared write (SQLite's
// one-click and mailto path; Postgres reads them first, which the last
// two calls go through there). Each takes the person off that scope only,
// carries its campaign, a link naming nobody is a not-found that fails it
// alone, and a link beside another request for the same person is written
// one at a time.
func TestLinkUnsubscribesWrittenTogetherEachActOnTheirLinksScope(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := createLists(t, s, "nytt", "bus", "skola", "vard")
		nytt, bus, skola, vard := l[0].ID, l[1].ID, l[2].ID, l[3].ID
		person := func(email string, lists ...int64) int64 {
			t.Helper()
			sub := &store.Subscriber{Email: email}
			var in []store.SubscriptionInput
			for _, id := range lists {
				in = append(in, store.SubscriptionInput{ListID: id, Status: store.SubConfirmed})
			}
			if err := s.CreateSubscriber(ctx, sub, in, store.Actor{}); err != nil {
				t.Fatal(err)
			}
			return sub.ID
		}
		campaign := func(lists ...int64) int64 {
			t.Helper()
			c := &store.Campaign{Name: "c", Subject: "s", Body: "b", ListIDs: lists}
			if err := s.CreateCampaign(ctx, c); err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		anna, bo, cecilia, dag := person("anna@example.se", nytt, bus, skola), person("bo@example.se", nytt, bus),
			person("cecilia@example.se", bus), person("dag@example.se", nytt)
		toBus := campaign(bus, vard)
		gone := campaign(vard)
		if err := s.DeleteCampaign(ctx, gone); err != nil {
			t.Fatal(err)
		}
		changed, missing, err := store.UnsubscribeSet(s, []store.UnsubRequest{
			{SubscriberID: anna, CampaignID: toBus, Link: true},
			{SubscriberID: bo, Link: true},
			{SubscriberID: cecilia, CampaignID: gone, Link: true},
			{SubscriberID: dag + 1000, CampaignID: toBus, Link: true},
			{SubscriberID: dag, CampaignID: toBus, Link: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := [][]int64{{bus}, {nytt, bus}, {bus}, nil, nil}
		for i := range want {
			if !slices.Equal(changed[i], want[i]) {
				t.Errorf("request %d changed %v, want %v", i, changed[i], want[i])
			}
		}
		if !slices.Equal(missing, []bool{false, false, false, true, false}) {
			t.Errorf("named nobody: %v, want only the unknown subscriber", missing)
		}
		status := func(sub, list int64) string {
			t.Helper()
			p, err := s.Subscriber(ctx, sub)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range p.Subscriptions {
				if m.ListID == list {
					return m.Status
				}
			}
			return "none"
		}
		if status(anna, nytt) != store.SubConfirmed || status(anna, skola) != store.SubConfirmed || status(anna, bus) != store.SubUnsubscribed {
			t.Errorf("anna: the link of a campaign to bus took her off more than bus")
		}
		if status(dag, nytt) != store.SubConfirmed {
			t.Errorf("dag: a link of a campaign to lists he is not on changed his")
		}
		evs, _, err := s.Events(ctx, store.EventQuery{SubscriberID: anna})
		if err != nil {
			t.Fatal(err)
		}
		var annas []store.Event
		for _, ev := range evs {
			if ev.Kind == store.EventUnsubscribed {
				annas = append(annas, ev)
			}
		}
		if len(annas) != 1 || annas[0].CampaignID == nil || annas[0].ListID == nil || *annas[0].CampaignID != toBus || *annas[0].ListID != bus {
			t.Errorf("anna's unsubscribe events: %+v, want one for bus carrying the campaign", annas)
		}

		// The batch as concurrent requests are written: a not-found fails
		// alone, and a link beside another request for the same person
		// still acts on its own scope.
		erik := person("erik@example.se", nytt, bus, skola)
		changed2, errs := store.UnsubscribeBatch(s, []store.UnsubRequest{
			{SubscriberID: erik, CampaignID: toBus, Link: true},
			{SubscriberID: erik, ListIDs: []int64{skola}},
			{SubscriberID: dag + 1000, Link: true},
			{SubscriberID: anna, CampaignID: toBus, Link: true},
		})
		if errs[0] != nil || errs[1] != nil || errs[3] != nil || !errors.Is(errs[2], store.ErrNotFound) {
			t.Fatalf("errors %v, want only the unknown subscriber's, a not-found", errs)
		}
		if !slices.Equal(changed2[0], []int64{bus}) || !slices.Equal(changed2[1], []int64{skola}) || len(changed2[3]) != 0 {
			t.Errorf("changed %v, want erik off bus by the link and off skola by the other; anna already off bus", changed2)
		}
		if status(erik, nytt) != store.SubConfirmed {
			t.Errorf("erik left nytt, which neither request named")
		}
		if _, err := s.UnsubscribeLink(ctx, dag+1000, 0, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UnsubscribeLink of an unknown subscriber: %v, want ErrNotFound", err)
		}
		if got, err := s.UnsubscribeLink(ctx, dag, 0, store.Actor{}); err != nil || !slices.Equal(got, []int64{nytt}) {
			t.Errorf("UnsubscribeLink of no campaign: %v %v, want dag off nytt", got, err)
		}
	})
}
