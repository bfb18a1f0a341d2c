package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestOneTimeLinkWorksOnceAndExpires(t *testing.T) {
	clk := &clock{t: t0}
	storetest.RunOpts(t, storetest.Options{Now: clk.Now}, func(t *testing.T, s *store.Store) {
		clk.Set(t0)
		ctx := context.Background()
		u := mustUser(t, s, "ny@example.se", store.RoleEditor, "")
		secret, until, err := s.CreateUserToken(ctx, u.ID, store.PurposeInvite)
		if err != nil || !until.Equal(t0.Add(7*24*time.Hour)) {
			t.Fatalf("create: %v, until %s", err, until)
		}
		if _, got, err := s.UserTokenBySecret(ctx, secret); err != nil || got.ID != u.ID {
			t.Fatalf("lookup: %v", err)
		}
		got, err := s.UseUserToken(ctx, secret, store.SetPassword{Password: "ett bra lösen"}, staff)
		if err != nil || got.Status != store.UserActive {
			t.Fatalf("use: %v %+v", err, got)
		}
		if _, err := s.UseUserToken(ctx, secret, store.SetPassword{Password: "ett annat lösen"}, staff); !errors.Is(err, store.ErrNotFound) || !store.IsLinkInvalid(err) {
			t.Fatalf("second use: %v", err)
		}
		if _, err := s.Authenticate(ctx, "ny@example.se", "ett bra lösen"); err != nil {
			t.Fatalf("the second use changed the password: %v", err)
		}

		reset, _, _ := s.CreateUserToken(ctx, u.ID, store.PurposeReset)
		clk.Add(2*time.Hour + time.Second)
		if _, _, err := s.UserTokenBySecret(ctx, reset); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired reset link: %v", err)
		}
		if _, err := s.UseUserToken(ctx, reset, store.SetPassword{Password: "ett tredje lösen"}, staff); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("use of expired link: %v", err)
		}
	})
}

func TestNewLinkVoidsTheEarlierOne(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "ny@example.se", store.RoleEditor, "")
		first, _, _ := s.CreateUserToken(ctx, u.ID, store.PurposeReset)
		second, _, _ := s.CreateUserToken(ctx, u.ID, store.PurposeReset)
		if _, _, err := s.UserTokenBySecret(ctx, first); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("first link after a second: %v", err)
		}
		if _, _, err := s.UserTokenBySecret(ctx, second); err != nil {
			t.Fatalf("second link: %v", err)
		}
	})
}

func TestSettingAPasswordEndsSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "anna@example.se", store.RoleEditor, "första lösenordet")
		now := time.Now()
		sess, _, _ := s.CreateSession(ctx, store.NewSession{UserID: u.ID, Now: now, ExpiresAt: now.Add(time.Hour)})
		reset, _, _ := s.CreateUserToken(ctx, u.ID, store.PurposeReset)
		if _, err := s.UseUserToken(ctx, reset, store.SetPassword{Password: "andra lösenordet"}, staff); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SessionBySecret(ctx, sess); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session after reset: %v", err)
		}
	})
}

func TestSetupLinkMakesTheFirstAdminOnlyWhileThereIsNobody(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if live, _ := s.LiveSetupLink(ctx); live {
			t.Fatal("a live setup link in an empty database")
		}
		a, _, err := s.CreateUserToken(ctx, 0, store.PurposeSetup)
		if err != nil {
			t.Fatal(err)
		}
		b, _, _ := s.CreateUserToken(ctx, 0, store.PurposeSetup)
		if live, _ := s.LiveSetupLink(ctx); !live {
			t.Fatal("no live setup link after making one")
		}
		if _, err := s.UseUserToken(ctx, a, store.SetPassword{Password: "första admin!", Email: "bad"}, staff); !errors.Is(err, store.ErrInvalidAddress) {
			t.Fatalf("bad address: %v", err)
		}
		u, err := s.UseUserToken(ctx, a, store.SetPassword{Password: "första admin!", Email: "Chef@Example.se", Name: "Chef", Lang: "en"}, staff)
		if err != nil || u.Role != store.RoleAdmin || u.Status != store.UserActive || u.Email != "chef@example.se" || u.Lang != "en" {
			t.Fatalf("setup: %v %+v", err, u)
		}
		// The other setup link stops working once someone exists.
		if _, err := s.UseUserToken(ctx, b, store.SetPassword{Password: "andra admin!!", Email: "x@example.se"}, staff); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second setup link: %v", err)
		}
		if n, _ := s.CountUsers(ctx); n != 1 {
			t.Fatalf("%d users", n)
		}
	})
}

// TestOneLinkUsedTwiceAtOnceSetsOnePassword: two tabs submitting the same
// link at once; one wins, the other is told the link no longer works.
func TestOneLinkUsedTwiceAtOnceSetsOnePassword(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "ny@example.se", store.RoleEditor, "")
		secret, _, _ := s.CreateUserToken(ctx, u.ID, store.PurposeInvite)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.UseUserToken(ctx, secret, store.SetPassword{Password: "lösenord nr " + string(rune('a'+i))}, staff)
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("both or neither won: %v, %v", errs[0], errs[1])
		}
	})
}
