package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestTheLastAdminTokenCannotBeDeleted(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mk := func(role string) *store.APIToken {
			t.Helper()
			tok, err := s.CreateToken(ctx, role, role, store.NewTokenSecret())
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		a1, a2, viewer := mk(store.RoleAdmin), mk(store.RoleAdmin), mk(store.RoleViewer)

		// Two admins deleted at once: one may go, never both.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []int64{a1.ID, a2.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.DeleteToken(ctx, id)
			}()
		}
		wg.Wait()
		var left int64
		switch {
		case errs[0] == nil && errs[1] == nil:
			t.Fatal("both admin tokens were deleted")
		case errs[0] == nil:
			left = a2.ID
		case errs[1] == nil:
			left = a1.ID
		default:
			t.Fatalf("neither admin token was deleted: %v, %v", errs[0], errs[1])
		}
		err := s.DeleteToken(ctx, left)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("deleting the last admin token: %v, want a conflict", err)
		}
		if err := s.DeleteToken(ctx, viewer.ID); err != nil {
			t.Fatalf("a viewer token beside the last admin: %v", err)
		}
		ts, err := s.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 1 || ts[0].ID != left || ts[0].Role != store.RoleAdmin {
			t.Fatalf("tokens left %+v, want only admin %d", ts, left)
		}
	})
}
