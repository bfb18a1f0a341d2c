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
			"åsa":         {"asa@nacka.se"},
			"Åsa":         {"asa@nacka.se"},
			"öberg":       {"asa@nacka.se"},
			"kalle_100%":  {"kalle_100%@example.se"},
			"kalle_1000":  nil,
			"lindqvist":   {"bertil@sundbyberg.se"},
			"sundbyberg":  {"bertil@sundbyberg.se"},
			"undbyberg":   nil, // the middle of a word
			"anna.berg@s": {"anna.berg@solna.se"},
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
