package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestEditorQueriesOnBothDatabases: the recipient count (each person
// once, none suppressed, only confirmed), the calendar's window, the
// search, the attribute names, the media library and the revision check
// of an edit, on SQLite and (with UTSKICK_TEST_POSTGRES) Postgres.
func TestEditorQueriesOnBothDatabases(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b := &store.List{Slug: "a", Name: "A"}, &store.List{Slug: "b", Name: "B"}
		for _, l := range []*store.List{a, b} {
			if err := s.CreateList(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		add := func(email, status string, attrs store.Attributes, lists ...int64) {
			var in []store.SubscriptionInput
			for _, l := range lists {
				in = append(in, store.SubscriptionInput{ListID: l, Status: status, ConsentBasis: "test"})
			}
			if err := s.CreateSubscriber(ctx, &store.Subscriber{Email: email, Language: "sv", Attributes: attrs}, in, store.Actor{Source: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		add("a@example.se", store.SubConfirmed, store.Attributes{"kommun": "Solna"}, a.ID, b.ID)
		add("b@example.se", store.SubConfirmed, store.Attributes{"roll": "chef"}, b.ID)
		add("c@example.se", store.SubUnconfirmed, store.Attributes{"hemlig": "x"}, a.ID)
		add("d@example.se", store.SubConfirmed, nil, a.ID)
		if _, err := s.Suppress(ctx, "d@example.se", store.SuppressManual, "", store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountRecipients(ctx, []int64{a.ID, b.ID}); err != nil || n != 2 {
			t.Fatalf("recipients %d (%v), want 2: a once, b; not the unconfirmed, not the suppressed", n, err)
		}
		if keys, err := s.AttributeKeys(ctx, []int64{b.ID}); err != nil || !reflect.DeepEqual(keys, []string{"kommun", "roll"}) {
			t.Fatalf("attribute keys of b: %v %v", keys, err)
		}

		c := &store.Campaign{Name: "Mars-numret", Subject: "Nytt om Vård", Body: "x", ListIDs: []int64{a.ID}}
		if err := s.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		rev := c.Revision
		body := "y"
		if _, err := s.UpdateCampaign(ctx, c.ID, store.CampaignPatch{Body: &body, IfRevision: &rev}); err != nil {
			t.Fatal(err)
		}
		_, err := s.UpdateCampaign(ctx, c.ID, store.CampaignPatch{Body: &body, IfRevision: &rev})
		var ce *store.ConflictError
		if !errors.As(err, &ce) || ce.Field != "revision" {
			t.Fatalf("edit from an old revision: %v", err)
		}
		for q, want := range map[string]int{"mars": 1, "VÅRD": 1, "vård": 1, "50%": 0} {
			cs, _, err := s.Campaigns(ctx, store.CampaignQuery{Search: q})
			if err != nil || len(cs) != want {
				t.Errorf("search %q: %d (%v), want %d", q, len(cs), err, want)
			}
		}
		at := time.Date(2027, 3, 29, 6, 0, 0, 0, time.UTC)
		if _, err := s.ScheduleCampaign(ctx, c.ID, at); err != nil {
			t.Fatal(err)
		}
		in, err := s.CalendarCampaigns(ctx, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || len(in) != 1 || in[0].ID != c.ID || !reflect.DeepEqual(in[0].ListIDs, []int64{a.ID}) {
			t.Fatalf("calendar of March: %v %+v", err, in)
		}
		if out, _ := s.CalendarCampaigns(ctx, time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)); len(out) != 0 {
			t.Fatalf("calendar of April holds %d", len(out))
		}

		m := &store.Media{Name: "bild.png", ContentType: "image/png", Width: 1, Height: 1, Size: 3, SHA256: "abc", Data: []byte{1, 2, 3}}
		if err := s.CreateMedia(ctx, m); err != nil {
			t.Fatal(err)
		}
		again := &store.Media{Name: "bild.png", ContentType: "image/png", Width: 1, Height: 1, Size: 3, SHA256: "abc", Data: []byte{1, 2, 3}}
		if err := s.CreateMedia(ctx, again); err != nil || again.ID != m.ID {
			t.Fatalf("the same image again: id %d, first %d (%v)", again.ID, m.ID, err)
		}
		got, err := s.MediaFile(ctx, m.ID)
		if err != nil || !reflect.DeepEqual(got.Data, []byte{1, 2, 3}) {
			t.Fatalf("media file: %v %v", got, err)
		}
		list, _, err := s.MediaList(ctx, 0, 10)
		if err != nil || len(list) != 1 || list[0].Data != nil {
			t.Fatalf("media list (without bytes): %v %+v", err, list)
		}
	})
}
