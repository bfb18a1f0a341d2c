package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestTOTPEnrolSignInAndRecoveryCodes: enrolment needs a right code; a
// code is accepted once (not again in the same step); a wrong code is
// refused; a recovery code works once; the secret is kept encrypted.
func TestTOTPEnrolSignInAndRecoveryCodes(t *testing.T) {
	clock := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	st := storetest.OpenDSN(t, storetest.SQLiteDSN(t), storetest.Options{Now: func() time.Time { return clock }})
	ctx := context.Background()
	u := &store.User{Email: "anna@example.se", Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, u, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	enr, err := st.BeginTOTP(ctx, u.ID, "utskick")
	if err != nil {
		t.Fatal(err)
	}
	secret := enr.Key.Secret()
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := st.ConfirmTOTP(ctx, u.ID, secret, "000000"); !errors.Is(err, store.ErrBadCode) {
		t.Fatalf("enrol with a wrong code: %v, want ErrBadCode", err)
	}
	codes, err := st.ConfirmTOTP(ctx, u.ID, secret, code(clock))
	if err != nil || len(codes) != 10 {
		t.Fatalf("enrol: %v, %d codes", err, len(codes))
	}
	if on, _ := st.TOTPEnabled(ctx, u.ID); !on {
		t.Fatal("not enabled after enrolment")
	}
	var sealed string
	store.DBForTest(st).Table("users").Where("id = ?", u.ID).Pluck("totp_secret", &sealed)
	if sealed == "" || sealed == secret {
		t.Errorf("the secret is kept as %q", sealed)
	}
	// The code used to enrol is spent; the next step's works once.
	if _, err := st.VerifySecondFactor(ctx, u.ID, code(clock)); !errors.Is(err, store.ErrBadCode) {
		t.Errorf("the enrolment code again: %v, want ErrBadCode", err)
	}
	clock = clock.Add(30 * time.Second)
	if rec, err := st.VerifySecondFactor(ctx, u.ID, code(clock)); err != nil || rec {
		t.Errorf("a fresh code: recovery %v, %v", rec, err)
	}
	if _, err := st.VerifySecondFactor(ctx, u.ID, code(clock)); !errors.Is(err, store.ErrBadCode) {
		t.Errorf("the same code twice: %v, want ErrBadCode", err)
	}
	if _, err := st.VerifySecondFactor(ctx, u.ID, "123456"); !errors.Is(err, store.ErrBadCode) {
		t.Errorf("a wrong code: %v, want ErrBadCode", err)
	}
	if rec, err := st.VerifySecondFactor(ctx, u.ID, " "+codes[3]+" "); err != nil || !rec {
		t.Errorf("a recovery code: recovery %v, %v", rec, err)
	}
	if _, err := st.VerifySecondFactor(ctx, u.ID, codes[3]); !errors.Is(err, store.ErrBadCode) {
		t.Errorf("a recovery code twice: %v, want ErrBadCode", err)
	}
}
