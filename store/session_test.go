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

func TestSessionKeepsOnlyAHashOfItsSecret(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "anna@example.se", store.RoleEditor, "")
		now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
		secret, sess, err := s.CreateSession(ctx, store.NewSession{UserID: u.ID, IP: "192.0.2.1", UserAgent: "Firefox",
			Now: now, ExpiresAt: now.Add(7 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) != 43 || strings.Contains(sess.Hash, secret) {
			t.Fatalf("secret %q, hash %q", secret, sess.Hash)
		}
		var n int64
		store.DBForTest(s).Table("sessions").Where("hash = ? OR ip = ?", secret, secret).Count(&n)
		if n != 0 {
			t.Fatal("the secret is stored")
		}
		got, gu, err := s.SessionBySecret(ctx, secret)
		if err != nil || got.ID != sess.ID || gu.ID != u.ID || !got.LastSeenAt.Equal(now) || got.IP != "192.0.2.1" {
			t.Fatalf("lookup: %v %+v %+v", err, got, gu)
		}
		if _, _, err := s.SessionBySecret(ctx, secret+"x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("wrong secret: %v", err)
		}
		if err := s.TouchSession(ctx, sess.ID, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _, _ = s.SessionBySecret(ctx, secret)
		if !got.LastSeenAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("touched: %s", got.LastSeenAt)
		}
	})
}

func TestEndSessionOnlyEndsTheUsersOwn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := mustUser(t, s, "a@example.se", store.RoleEditor, "")
		b := mustUser(t, s, "b@example.se", store.RoleEditor, "")
		now := time.Now()
		_, sa, _ := s.CreateSession(ctx, store.NewSession{UserID: a.ID, Now: now, ExpiresAt: now.Add(time.Hour)})
		if err := s.EndSession(ctx, b.ID, sa.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another user's session: %v", err)
		}
		if ss, _ := s.Sessions(ctx, a.ID); len(ss) != 1 {
			t.Fatalf("a's sessions: %d", len(ss))
		}
		if err := s.EndSession(ctx, a.ID, sa.ID); err != nil {
			t.Fatal(err)
		}
		if ss, _ := s.Sessions(ctx, a.ID); len(ss) != 0 {
			t.Fatalf("a's sessions after end: %d", len(ss))
		}
	})
}

func TestDeleteStaleSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "a@example.se", store.RoleEditor, "")
		now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
		mk := func(seen, expires time.Time) {
			_, sess, err := s.CreateSession(ctx, store.NewSession{UserID: u.ID, Now: seen, ExpiresAt: expires})
			if err != nil {
				t.Fatal(err)
			}
			_ = sess
		}
		mk(now.Add(-time.Minute), now.Add(time.Hour))    // live
		mk(now.Add(-9*time.Hour), now.Add(time.Hour))    // idle too long
		mk(now.Add(-time.Minute), now.Add(-time.Second)) // past its end
		n, err := s.DeleteStaleSessions(ctx, now, now.Add(-8*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("deleted %d, %v; want 2", n, err)
		}
		if ss, _ := s.Sessions(ctx, u.ID); len(ss) != 1 {
			t.Fatalf("%d left", len(ss))
		}
	})
}
