package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// schema0016 adds the instance's security policy to its one row: whether
// every staff user must sign in with a second factor.
const schema0016 = `
ALTER TABLE instance ADD COLUMN require_two_factor {{bool}} NOT NULL DEFAULT FALSE;
`

// SecuritySettings are the instance's rules for staff sign-in.
type SecuritySettings struct {
	// RequireTwoFactor sends every user without two-factor sign-in to
	// enrolment, and lets them reach nothing else until they have it.
	// API tokens are not sign-ins and are not affected.
	RequireTwoFactor bool `json:"require_two_factor"`
}

// SecuritySettings returns the instance's security policy.
func (s *Store) SecuritySettings(ctx context.Context) (SecuritySettings, error) {
	var rows []struct{ RequireTwoFactor bool }
	if err := s.reader(ctx).Table("instance").Select("require_two_factor").Limit(1).Scan(&rows).Error; err != nil {
		return SecuritySettings{}, fmt.Errorf("security settings: %w", err)
	}
	if len(rows) == 0 {
		return SecuritySettings{}, fmt.Errorf("security settings: %w", ErrNotFound)
	}
	return SecuritySettings{RequireTwoFactor: rows[0].RequireTwoFactor}, nil
}

// SetSecuritySettings replaces the instance's security policy; the audit
// entry of ctx gets the change (a write that changes nothing is still
// recorded, as the request was made).
func (s *Store) SetSecuritySettings(ctx context.Context, in SecuritySettings) (SecuritySettings, error) {
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var rows []struct{ RequireTwoFactor bool }
		if err := tx.Table("instance").Select("require_two_factor").Limit(1).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("security settings: %w", ErrNotFound)
		}
		if err := tx.Table("instance").Where("1 = 1").Update("require_two_factor", in.RequireTwoFactor).Error; err != nil {
			return fmt.Errorf("set security settings: %w", err)
		}
		AuditOf(ctx).Change("require_two_factor", rows[0].RequireTwoFactor, in.RequireTwoFactor)
		return nil
	})
	if err != nil {
		return SecuritySettings{}, err
	}
	return in, nil
}

// ErrTwoFactorRequired refuses turning two-factor sign-in off while the
// instance requires it.
var ErrTwoFactorRequired = &ForbiddenError{Msg: "two-factor sign-in is required for every user on this instance"}

// TurnOffTOTP turns two-factor sign-in off for user id, who proves it is
// them with the password and a current code (or an unused recovery
// code): a wrong password is ErrBadCredentials, a wrong code ErrBadCode,
// and while the instance requires two-factor sign-in it is
// ErrTwoFactorRequired. One transaction: the code used, the factor gone
// and the audit row commit together.
func (s *Store) TurnOffTOTP(ctx context.Context, id int64, password, code string) error {
	u, err := s.User(ctx, id)
	if err != nil {
		return err
	}
	if len(password) > PasswordMaxLen || !s.pw.check(u.PasswordHash, password) {
		return ErrBadCredentials
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		var rows []struct{ RequireTwoFactor bool }
		if err := tx.Table("instance").Select("require_two_factor").Limit(1).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) > 0 && rows[0].RequireTwoFactor {
			return ErrTwoFactorRequired
		}
		if _, err := s.verifySecondFactor(ctx, tx, id, code, true); err != nil {
			return err
		}
		AuditOf(ctx).SetObject("user", id)
		return disableTOTP(ctx, tx, s.now(), id)
	})
}

// ResetTOTP is an admin turning off user id's two-factor sign-in (a lost
// phone and no recovery codes). The user's sessions stay; while the
// instance requires two-factor sign-in, their next page is enrolment.
func (s *Store) ResetTOTP(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Table("users").Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return notFound("user", id)
		}
		AuditOf(ctx).SetObject("user", id)
		return disableTOTP(ctx, tx, s.now(), id)
	})
}

func disableTOTP(ctx context.Context, tx *gorm.DB, now time.Time, id int64) error {
	var was userTOTP
	if err := tx.Table("users").Where("id = ?", id).Take(&was).Error; err != nil {
		if isMissing(err) {
			return notFound("user", id)
		}
		return err
	}
	if err := tx.Table("users").Where("id = ?", id).Updates(map[string]any{"totp_secret": "",
		"totp_enabled_at": nil, "totp_last_step": 0, "updated_at": now}).Error; err != nil {
		return fmt.Errorf("disable totp of %d: %w", id, err)
	}
	AuditOf(ctx).Change("two_factor", was.TOTPEnabledAt != nil, false)
	if err := tx.Where("user_id = ?", id).Delete(&RecoveryCode{}).Error; err != nil {
		return fmt.Errorf("disable totp of %d: %w", id, err)
	}
	return nil
}

// RecoveryCodesLeft is how many unused recovery codes user id has.
func (s *Store) RecoveryCodesLeft(ctx context.Context, id int64) (int, error) {
	var n int64
	if err := s.reader(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", id).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("recovery codes of %d: %w", id, err)
	}
	return int(n), nil
}

// NewRecoveryCodes replaces user id's recovery codes with ten new ones,
// shown once, when a current code of the app proves the user has it (a
// recovery code does not do: ErrBadCode).
func (s *Store) NewRecoveryCodes(ctx context.Context, id int64, code string) ([]string, error) {
	codes := make([]string, 10)
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if _, err := s.verifySecondFactor(ctx, tx, id, code, false); err != nil {
			return err
		}
		AuditOf(ctx).SetObject("user", id)
		AuditOf(ctx).Note("recovery_codes", "replaced")
		return s.replaceRecoveryCodes(tx, id, codes)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}
