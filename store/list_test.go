package store_test

import (
	"context"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestListsByIDSkipsWhatIsGoneOrHidden: the confirmation and unsubscribe
// pages name lists from a link that may be old, so a deleted list is left
// out rather than failing the page, and a staff member's view keeps to
// the lists they may see.
func TestListsByIDSkipsWhatIsGoneOrHidden(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b, gone := mustList(t, s, "senaste-nytt"), mustList(t, s, "bus"), mustList(t, s, "gone")
		if err := s.DeleteList(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		ls, err := s.ListsByID(ctx, []int64{b.ID, gone.ID, a.ID, 9999})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 2 || ls[0].ID != a.ID || ls[1].ID != b.ID || ls[1].Name != "bus" {
			t.Fatalf("lists %+v, want senaste-nytt and bus in id order", ls)
		}
		viewer := store.WithAccess(ctx, &store.Access{UserID: 1, Lists: map[int64]map[string]bool{b.ID: {store.GrantViewer: true}}})
		if ls, err = s.ListsByID(viewer, []int64{a.ID, b.ID}); err != nil || len(ls) != 1 || ls[0].ID != b.ID {
			t.Fatalf("a viewer of bus only: %+v, %v", ls, err)
		}
		if ls, err = s.ListsByID(ctx, nil); err != nil || len(ls) != 0 {
			t.Fatalf("no ids: %+v, %v", ls, err)
		}
	})
}
