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

var staff = store.Actor{Source: "test"}

// mustUser makes an invited user and, if password is not empty, spends an
// invite link to set it, as a person following the invitation would.
func mustUser(t *testing.T, s *store.Store, email, role, password string) *store.User {
	t.Helper()
	ctx := context.Background()
	u := &store.User{Email: email, Role: role}
	if err := s.CreateUser(ctx, u, staff); err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	if password == "" {
		return u
	}
	secret, _, err := s.CreateUserToken(ctx, u.ID, store.PurposeInvite)
	if err != nil {
		t.Fatal(err)
	}
	u, err = s.UseUserToken(ctx, secret, store.SetPassword{Password: password}, staff)
	if err != nil {
		t.Fatalf("set password of %s: %v", email, err)
	}
	return u
}

func TestCreateUserNormalisesAddressAndRefusesADuplicate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := &store.User{Email: "  Anna.Berg@Example.SE ", Name: " Anna ", Role: store.RoleEditor}
		if err := s.CreateUser(ctx, u, staff); err != nil {
			t.Fatal(err)
		}
		if u.Email != "anna.berg@example.se" || u.Name != "Anna" || u.Status != store.UserInvited || u.Lang != "sv" {
			t.Fatalf("created %+v", u)
		}
		err := s.CreateUser(ctx, &store.User{Email: "anna.berg@EXAMPLE.se", Role: store.RoleViewer}, staff)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate: %v, want ErrConflict", err)
		}
		if err := s.CreateUser(ctx, &store.User{Email: "bo@example.se", Role: "owner"}, staff); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("unknown role: %v", err)
		}
		if n, _ := s.CountUsers(ctx); n != 1 {
			t.Fatalf("%d users after refusals, want 1", n)
		}
	})
}

func TestPasswordIsStoredAsArgon2idAndChecked(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustUser(t, s, "anna@example.se", store.RoleAdmin, "rätt lösenord 1")
		var hash string
		store.DBForTest(s).Table("users").Where("email = ?", "anna@example.se").Pluck("password_hash", &hash)
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, "rätt") {
			t.Fatalf("stored hash %q", hash)
		}
		u, err := s.Authenticate(ctx, "ANNA@example.se", "rätt lösenord 1")
		if err != nil || u.LastSigninAt == nil {
			t.Fatalf("right password: %v %+v", err, u)
		}
		for _, tc := range []struct{ email, pw string }{
			{"anna@example.se", "fel lösenord 1"},
			{"anna@example.se", ""},
			{"nobody@example.se", "rätt lösenord 1"},
			{"not an address", "x"},
			{"anna@example.se", strings.Repeat("x", store.PasswordMaxLen+1)},
		} {
			if _, err := s.Authenticate(ctx, tc.email, tc.pw); !errors.Is(err, store.ErrBadCredentials) {
				t.Errorf("%s / %q: %v, want ErrBadCredentials", tc.email, tc.pw, err)
			}
		}
	})
}

// TestUnknownAccountTakesAsLongAsAWrongPassword: without the dummy hash,
// "no such account" answers a hundred times faster than "wrong password",
// which tells an attacker which addresses have accounts.
func TestUnknownAccountTakesAsLongAsAWrongPassword(t *testing.T) {
	s := storetest.Open(t)
	ctx := context.Background()
	mustUser(t, s, "anna@example.se", store.RoleAdmin, "rätt lösenord 1")
	// The fastest of several interleaved tries: on a busy machine other
	// work only adds time, so the minimum is the cost of the path itself.
	fastest := func(d *time.Duration, email string) {
		start := time.Now()
		s.Authenticate(ctx, email, "fel lösenord 1")
		if e := time.Since(start); *d == 0 || e < *d {
			*d = e
		}
	}
	s.Authenticate(ctx, "x@example.se", "warm up the dummy hash")
	var wrong, unknown time.Duration
	for range 7 {
		fastest(&wrong, "anna@example.se")
		fastest(&unknown, "nobody@example.se")
	}
	if unknown < wrong/3 || unknown > wrong*3 {
		t.Fatalf("unknown account %s, wrong password %s: distinguishable", unknown, wrong)
	}
}

func TestInvitedUserCannotSignInBeforeSettingAPassword(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		mustUser(t, s, "ny@example.se", store.RoleViewer, "")
		if _, err := s.Authenticate(context.Background(), "ny@example.se", ""); !errors.Is(err, store.ErrBadCredentials) {
			t.Fatalf("invited, empty password: %v", err)
		}
	})
}

func TestLastActiveAdminCannotBeDemotedOrDeactivated(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := mustUser(t, s, "a@example.se", store.RoleAdmin, "lösenord nr 1")
		invitedAdmin := mustUser(t, s, "b@example.se", store.RoleAdmin, "") // not active: does not count
		if _, err := s.SetUserRole(ctx, a.ID, store.RoleEditor, staff); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("demote last admin: %v", err)
		}
		if _, err := s.SetUserActive(ctx, a.ID, false, staff); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("deactivate last admin: %v", err)
		}
		if u, _ := s.User(ctx, a.ID); u.Role != store.RoleAdmin || u.Status != store.UserActive {
			t.Fatalf("after refusals: %+v", u)
		}
		// With a second active admin both changes go through, and the
		// second admin is then the last.
		c := mustUser(t, s, "c@example.se", store.RoleAdmin, "lösenord nr 3")
		if u, err := s.SetUserRole(ctx, a.ID, store.RoleViewer, staff); err != nil || u.Role != store.RoleViewer {
			t.Fatalf("demote with another admin: %v %+v", err, u)
		}
		if _, err := s.SetUserActive(ctx, c.ID, false, staff); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("deactivate the new last admin: %v", err)
		}
		if _, err := s.SetUserActive(ctx, invitedAdmin.ID, false, staff); err != nil {
			t.Fatalf("deactivate an invited admin: %v", err)
		}
	})
}

func TestDeactivationEndsSessionsAndLinksAndRefusesSignIn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustUser(t, s, "admin@example.se", store.RoleAdmin, "lösenord nr 1")
		u := mustUser(t, s, "ed@example.se", store.RoleEditor, "lösenord nr 2")
		now := time.Now()
		secret, _, err := s.CreateSession(ctx, store.NewSession{UserID: u.ID, Now: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		link, _, _ := s.CreateUserToken(ctx, u.ID, store.PurposeReset)
		by := store.Actor{Source: "web", UserID: 1}
		if _, err := s.SetUserActive(ctx, u.ID, false, by); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SessionBySecret(ctx, secret); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session after deactivation: %v", err)
		}
		if _, _, err := s.UserTokenBySecret(ctx, link); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("reset link after deactivation: %v", err)
		}
		if _, err := s.Authenticate(ctx, "ed@example.se", "lösenord nr 2"); !errors.Is(err, store.ErrInactive) {
			t.Fatalf("sign-in of deactivated user: %v", err)
		}
		var evs []store.Event
		store.DBForTest(s).Where("kind = ?", store.EventUserDeactivated).Find(&evs)
		if len(evs) != 1 || evs[0].UserID == nil || *evs[0].UserID != 1 || evs[0].Data["target_user_id"] != float64(u.ID) {
			t.Fatalf("deactivation event: %+v", evs)
		}
		if u, err := s.SetUserActive(ctx, u.ID, true, by); err != nil || u.Status != store.UserActive {
			t.Fatalf("reactivate: %v %+v", err, u)
		}
		if _, err := s.Authenticate(ctx, "ed@example.se", "lösenord nr 2"); err != nil {
			t.Fatalf("sign-in after reactivation: %v", err)
		}
	})
}

func TestChangePasswordNeedsTheCurrentOneAndEndsEverySession(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "anna@example.se", store.RoleEditor, "gammalt lösen 1")
		now := time.Now()
		var secrets []string
		for range 2 {
			sec, _, err := s.CreateSession(ctx, store.NewSession{UserID: u.ID, Now: now, ExpiresAt: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, sec)
		}
		if err := s.ChangePassword(ctx, u.ID, "fel lösen", "nytt lösen 22", staff); !errors.Is(err, store.ErrBadCredentials) {
			t.Fatalf("wrong current password: %v", err)
		}
		if ss, _ := s.Sessions(ctx, u.ID); len(ss) != 2 {
			t.Fatalf("a refused change ended sessions: %d left", len(ss))
		}
		if err := s.ChangePassword(ctx, u.ID, "gammalt lösen 1", "nytt lösen 22", staff); err != nil {
			t.Fatal(err)
		}
		for _, sec := range secrets {
			if _, _, err := s.SessionBySecret(ctx, sec); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session survived a password change: %v", err)
			}
		}
		if _, err := s.Authenticate(ctx, "anna@example.se", "gammalt lösen 1"); !errors.Is(err, store.ErrBadCredentials) {
			t.Fatalf("old password: %v", err)
		}
		if _, err := s.Authenticate(ctx, "anna@example.se", "nytt lösen 22"); err != nil {
			t.Fatalf("new password: %v", err)
		}
	})
}

func TestUpdateUserProfile(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "anna@example.se", store.RoleViewer, "")
		got, err := s.UpdateUserProfile(ctx, u.ID, " Anna Berg ", "en")
		if err != nil || got.Name != "Anna Berg" || got.Lang != "en" {
			t.Fatalf("%v %+v", err, got)
		}
		if _, err := s.UpdateUserProfile(ctx, u.ID, "x", "de"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("language de: %v", err)
		}
		if _, err := s.UpdateUserProfile(ctx, 999, "x", "sv"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing user: %v", err)
		}
	})
}

// BenchmarkAuthenticate is the cost of one sign-in check (one argon2id
// run with the production parameters), for a known account and an
// unknown one; the two should be alike.
func BenchmarkAuthenticate(b *testing.B) {
	s := storetest.Open(b)
	ctx := context.Background()
	u := &store.User{Email: "anna@example.se", Role: store.RoleAdmin}
	if err := s.CreateUser(ctx, u, staff); err != nil {
		b.Fatal(err)
	}
	secret, _, _ := s.CreateUserToken(ctx, u.ID, store.PurposeInvite)
	if _, err := s.UseUserToken(ctx, secret, store.SetPassword{Password: "rätt lösenord 1"}, staff); err != nil {
		b.Fatal(err)
	}
	for _, email := range []string{"anna@example.se", "nobody@example.se"} {
		b.Run(strings.Split(email, "@")[0], func(b *testing.B) {
			for b.Loop() {
				s.Authenticate(ctx, email, "fel lösenord 1")
			}
		})
	}
}
