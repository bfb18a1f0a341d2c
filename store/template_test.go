package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestTemplatesAndListChoice(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tp := &store.Template{Name: "BUS", HTML: "<p>src</p>", CompiledHTML: "<p>compiled</p>", Theme: store.Attributes{"accent": "#2e6b3a"}}
		if err := s.CreateTemplate(ctx, tp); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTemplate(ctx, &store.Template{Name: "BUS", HTML: "x", CompiledHTML: "x"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name: %v", err)
		}
		got, err := s.Template(ctx, tp.ID)
		if err != nil || got.CompiledHTML != "<p>compiled</p>" || got.Theme["accent"] != "#2e6b3a" {
			t.Fatalf("read back %+v, %v", got, err)
		}
		missing := int64(9999)
		if err := s.CreateList(ctx, &store.List{Slug: "x", Name: "x", TemplateID: &missing}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("list with missing template: %v", err)
		}
		l := &store.List{Slug: "bus", Name: "BUS", TemplateID: &tp.ID}
		if err := s.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTemplate(ctx, tp.ID); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "bus") {
			t.Fatalf("delete a template in use: %v", err)
		}
		var none *int64
		yes := true
		l2, err := s.UpdateList(ctx, l.ID, store.ListPatch{TemplateID: &none, Archive: &yes})
		if err != nil || l2.TemplateID != nil || !l2.Archive {
			t.Fatalf("clear template, archive on: %+v %v", l2, err)
		}
		name := "BUS 2"
		if u, err := s.UpdateTemplate(ctx, tp.ID, store.TemplatePatch{Name: &name}); err != nil || u.Name != name {
			t.Fatalf("rename: %+v %v", u, err)
		}
		if err := s.DeleteTemplate(ctx, tp.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Template(ctx, tp.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted template: %v", err)
		}
	})
}

func TestArchivedCampaigns(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b := mustList(t, s, "senaste-nytt"), mustList(t, s, "bus")
		mustSubscriber(t, s, "r@example.org", confirmed(a.ID), confirmed(b.ID))
		mk := func(name string, lists ...int64) *store.Campaign {
			c := &store.Campaign{Name: name, Subject: name, Body: "b", ListIDs: lists}
			if err := s.CreateCampaign(ctx, c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		sent := mk("sent", a.ID)
		draft := mk("draft", a.ID)
		other := mk("other list", b.ID)
		for _, c := range []*store.Campaign{sent, other} {
			sc, err := s.ScheduleCampaign(ctx, c.ID, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.MaterializeDeliveries(ctx, c.ID, sc.Revision); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := s.ArchivedCampaigns(ctx, a.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].ID != sent.ID {
			t.Fatalf("archive of %s: %+v", a.Slug, cs)
		}
		if _, err := s.ArchivedCampaign(ctx, a.ID, sent.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []int64{draft.ID, other.ID} {
			if _, err := s.ArchivedCampaign(ctx, a.ID, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("campaign %d in the archive of %s: %v", id, a.Slug, err)
			}
		}
	})
}
