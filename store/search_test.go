package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestSubscriberSearchFindsWordStarts checks what staff find a person
// by, on both databases: the start of the address, of its domain, of the
// name and of the surname, in any case (Swedish letters too); not the
// middle of a word. Past the dense threshold the same matches come in id
// order, page by page.
func TestSubscriberSearchFindsWordStarts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := &store.List{Slug: "bus", Name: "BUS"}
		if err := s.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
		people := []store.Subscriber{
			{Email: "anna.berg@solna.se", Name: "Anna Berg"},
			{Email: "asa@nacka.se", Name: "Åsa Öberg"},
			{Email: "kalle_100%@example.se", Name: ""},
			{Email: "bertil@sundbyberg.se", Name: "Bertil Lindqvist"},
			{Email: "karin@lund.se", Name: "KARIN JÖNSSON"},
			// Decomposed, as text pasted from some PDFs is: A + ring.
			{Email: "asa.decomposed@lund.se", Name: "A\u030asa Lund"},
		}
		if err := s.InsertSubscribersBulk(ctx, people, l.ID, "test"); err != nil {
			t.Fatal(err)
		}
		find := func(q string) []string {
			subs, _, err := s.ListSubscribers(ctx, store.SubscriberQuery{Search: q, Limit: 50})
			if err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
			var out []string
			for _, sub := range subs {
				out = append(out, sub.Email)
			}
			return out
		}
		for q, want := range map[string][]string{
			"anna":        {"anna.berg@solna.se"},
			"BERG":        {"anna.berg@solna.se"},
			"solna":       {"anna.berg@solna.se"},
			"åsa":         {"asa@nacka.se", "asa.decomposed@lund.se"},
			"Åsa":         {"asa@nacka.se", "asa.decomposed@lund.se"},
			"a\u030asa":   {"asa@nacka.se", "asa.decomposed@lund.se"},
			"öberg":       {"asa@nacka.se"},
			"kalle_100%":  {"kalle_100%@example.se"},
			"kalle_1000":  nil,
			"lindqvist":   {"bertil@sundbyberg.se"},
			"sundbyberg":  {"bertil@sundbyberg.se"},
			"undbyberg":   nil, // the middle of a word
			"anna.berg@s": {"anna.berg@solna.se"},
			// Letters outside ASCII in any case and any place: SQLite's
			// lower() would leave the Ö of JÖNSSON as it is.
			"jönsson": {"karin@lund.se"},
			"JÖNSS":   {"karin@lund.se"},
			"karin j": {"karin@lund.se"},
			"ÅSA Ö":   {"asa@nacka.se"},
			"åsa l":   {"asa.decomposed@lund.se"},
		} {
			if got := find(q); !slices.Equal(got, want) {
				t.Errorf("search %q: %v, want %v", q, got, want)
			}
		}
		// More matches than the dense threshold (5000): the walk in id
		// order pages through all of them, once each.
		many := make([]store.Subscriber, 5100)
		for i := range many {
			many[i] = store.Subscriber{Email: fmt.Sprintf("m%05d@massa.se", i), Name: "Massa"}
		}
		if err := s.InsertSubscribersBulk(ctx, many, l.ID, "test"); err != nil {
			t.Fatal(err)
		}
		seen := 0
		var after int64
		for {
			subs, next, err := s.ListSubscribers(ctx, store.SubscriberQuery{Search: "massa", After: after, Limit: 1000, ListID: l.ID})
			if err != nil {
				t.Fatal(err)
			}
			seen += len(subs)
			if next == 0 {
				break
			}
			after = next
		}
		if seen != 5100 {
			t.Fatalf("paged %d of 5100 dense matches", seen)
		}
	})
}

// TestSearchFoldsLettersOutsideASCII: a renamed person is found by the
// new name in any case, not by the old one; a campaign is found by a
// word of its name or subject in any case, after an edit too.
func TestSearchFoldsLettersOutsideASCII(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sub := &store.Subscriber{Email: "olle@example.se", Name: "Olle Ek"}
		if err := s.CreateSubscriber(ctx, sub, nil, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		name := "ÅSA ÄNGSLYCKA"
		if _, err := s.UpdateSubscriber(ctx, sub.ID, store.SubscriberPatch{Name: &name}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[string]int{"ängslycka": 1, "åsa": 1, "Åsa än": 1, "ek": 0} {
			subs, _, err := s.ListSubscribers(ctx, store.SubscriberQuery{Search: q, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(subs) != want {
				t.Errorf("search %q: %d people, want %d", q, len(subs), want)
			}
		}
		c := &store.Campaign{Name: "Öppet hus", Subject: "Välkommen till ÄLVSJÖ", Body: "b", ListIDs: []int64{}}
		if err := s.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		find := func(q string) int {
			cs, _, err := s.Campaigns(ctx, store.CampaignQuery{Search: q, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return len(cs)
		}
		for q, want := range map[string]int{"öppet": 1, "ÖPPET HUS": 1, "älvsjö": 1, "hus välkommen": 0, "sommar": 0} {
			if got := find(q); got != want {
				t.Errorf("campaign search %q: %d, want %d", q, got, want)
			}
		}
		subject := "Sommarens ÖVNINGAR"
		if _, err := s.UpdateCampaign(ctx, c.ID, store.CampaignPatch{Subject: &subject}); err != nil {
			t.Fatal(err)
		}
		if find("övningar") != 1 || find("öppet") != 1 || find("älvsjö") != 0 {
			t.Error("the campaign search does not follow an edit of the subject")
		}
	})
}
