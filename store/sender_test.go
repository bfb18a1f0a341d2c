package store_test

import (
	"context"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestSenderIdentityIsOneRowAndAListOverridesIt: the instance's identity
// starts empty, is replaced whole by each save (one row, on SQLite and
// Postgres alike) with who saved it, and a list's own fields win over it
// field by field.
func TestSenderIdentityIsOneRowAndAListOverridesIt(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id, err := s.SenderIdentity(ctx)
		if err != nil || id.PostalAddress != "" || id.UpdatedAt != nil {
			t.Fatalf("fresh identity %+v, %v", id, err)
		}
		if _, err := s.SetSenderIdentity(ctx, store.SenderIdentity{FromName: "Förbundet", PostalAddress: "Box 1", Contact: "08-1"},
			store.Actor{UserID: 7}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetSenderIdentity(ctx, store.SenderIdentity{FromAddress: "nyheter@example.se", PostalAddress: "Box 2"},
			store.Actor{TokenID: 3}); err != nil {
			t.Fatal(err)
		}
		id, err = s.SenderIdentity(ctx)
		if err != nil || id.FromName != "" || id.FromAddress != "nyheter@example.se" || id.PostalAddress != "Box 2" || id.Contact != "" ||
			id.UpdatedAt == nil || id.UpdatedByUserID != nil || id.UpdatedByTokenID == nil || *id.UpdatedByTokenID != 3 {
			t.Fatalf("after two saves %+v, %v", id, err)
		}
		n, _ := s.RowCounts(ctx)
		if n["sender_identity"] != 1 {
			t.Fatalf("%d identity rows, want 1", n["sender_identity"])
		}
		l := &store.List{Slug: "bus", Name: "BUS", PostalAddress: "Stadshuset", FromName: "BUS"}
		if err := s.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
		got := id.ForList(l)
		if got.PostalAddress != "Stadshuset" || got.FromName != "BUS" || got.FromAddress != "nyheter@example.se" {
			t.Fatalf("for the list: %+v", got)
		}
		empty := ""
		l, err = s.UpdateList(ctx, l.ID, store.ListPatch{PostalAddress: &empty})
		if err != nil || id.ForList(l).PostalAddress != "Box 2" {
			t.Fatalf("a cleared override is the instance's: %+v %v", l, err)
		}
	})
}
