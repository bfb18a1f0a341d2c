package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"
)

// Two-factor sign-in: TOTP (RFC 6238: 6 digits, 30-second steps, SHA-1,
// as every authenticator app reads it) and ten one-time recovery codes.
// The TOTP secret must be read back to check a code, so it is kept
// encrypted (AES-GCM under a key derived from the instance's secret); the
// recovery codes are kept only as SHA-256 hashes. A code is accepted once:
// the last step used is kept, so a code seen over a shoulder cannot be
// replayed in the same 30 seconds.

// schema0014 adds the columns and the recovery codes.
const schema0014 = `
ALTER TABLE users ADD COLUMN totp_secret VARCHAR(200) NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN totp_enabled_at {{ts}};
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
CREATE TABLE recovery_codes (
	id {{pk}},
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash VARCHAR(64) NOT NULL,
	created_at {{ts}} NOT NULL,
	used_at {{ts}}
);
CREATE INDEX idx_recovery_codes_user_id ON recovery_codes (user_id);
`

// RecoveryCode is one one-time code, kept hashed.
type RecoveryCode struct {
	ID        int64      `gorm:"primaryKey"`
	UserID    int64      `gorm:"not null;index"`
	Hash      string     `gorm:"size:64;not null"`
	CreatedAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time ``
}

// userTOTP is the part of the users row that two-factor sign-in uses.
type userTOTP struct {
	ID            int64
	Email         string
	TOTPSecret    string `gorm:"column:totp_secret"`
	TOTPEnabledAt *time.Time
	TOTPLastStep  int64 `gorm:"column:totp_last_step"`
}

// ErrBadCode is a wrong, reused or expired two-factor code.
var ErrBadCode = errors.New("wrong code")

const totpPeriod = 30

func (s *Store) totpKey() []byte {
	m := hmac.New(sha256.New, s.addrKey)
	m.Write([]byte("utskick totp secret v1"))
	return m.Sum(nil)
}

func (s *Store) sealTOTP(secret string) (string, error) {
	blk, err := aes.NewCipher(s.totpKey())
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return base64.RawStdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(secret), nil)), nil
}

func (s *Store) openTOTP(sealed string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return "", err
	}
	blk, err := aes.NewCipher(s.totpKey())
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return "", err
	}
	if len(raw) < gcm.NonceSize() {
		return "", errors.New("sealed totp secret too short")
	}
	out, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
	return string(out), err
}

// TOTPEnrolment is a secret offered to a user, not yet confirmed.
type TOTPEnrolment struct {
	Key *otp.Key // URL() for the QR code, Secret() to type in
}

// BeginTOTP makes a new secret for user id and keeps it (sealed) until
// ConfirmTOTP; an enabled second factor stays as it is until then.
func (s *Store) BeginTOTP(ctx context.Context, id int64, issuer string) (*TOTPEnrolment, error) {
	u, err := s.User(ctx, id)
	if err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: u.Email, Period: totpPeriod})
	if err != nil {
		return nil, fmt.Errorf("totp secret: %w", err)
	}
	return &TOTPEnrolment{Key: key}, nil
}

// ConfirmTOTP turns two-factor sign-in on for user id with secret (from
// BeginTOTP, carried by the enrolment form) once code proves the app has
// it, and returns ten new recovery codes, shown once.
func (s *Store) ConfirmTOTP(ctx context.Context, id int64, secret, code string) ([]string, error) {
	step, ok := checkTOTP(secret, code, s.now(), 0)
	if !ok {
		return nil, ErrBadCode
	}
	sealed, err := s.sealTOTP(secret)
	if err != nil {
		return nil, err
	}
	codes := make([]string, 10)
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Table("users").Where("id = ?", id).Updates(map[string]any{"totp_secret": sealed,
			"totp_enabled_at": s.now(), "totp_last_step": step, "updated_at": s.now()})
		if res.Error != nil {
			return fmt.Errorf("enable totp of %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("user", id)
		}
		AuditOf(ctx).SetObject("user", id)
		AuditOf(ctx).Note("totp", "enabled")
		return s.replaceRecoveryCodes(tx, id, codes)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// replaceRecoveryCodes gives user id new recovery codes, one for each
// entry of codes (filled here, to be shown once), in place of the old
// ones; only their hashes are stored.
func (s *Store) replaceRecoveryCodes(tx *gorm.DB, id int64, codes []string) error {
	if err := tx.Where("user_id = ?", id).Delete(&RecoveryCode{}).Error; err != nil {
		return err
	}
	rows := make([]RecoveryCode, len(codes))
	for i := range codes {
		codes[i] = newRecoveryCode()
		rows[i] = RecoveryCode{UserID: id, Hash: hashToken(normRecovery(codes[i])), CreatedAt: s.now()}
	}
	return tx.Create(&rows).Error
}

// TOTPEnabled reports whether user id signs in with a second factor.
func (s *Store) TOTPEnabled(ctx context.Context, id int64) (bool, error) {
	var u userTOTP
	if err := s.reader(ctx).Table("users").Where("id = ?", id).Take(&u).Error; err != nil {
		if isMissing(err) {
			return false, notFound("user", id)
		}
		return false, err
	}
	return u.TOTPEnabledAt != nil, nil
}

// VerifySecondFactor checks code for user id: a TOTP code (each step
// once) or, failing that, an unused recovery code, which is then used up.
// A wrong code is ErrBadCode; the caller throttles attempts.
func (s *Store) VerifySecondFactor(ctx context.Context, id int64, code string) (recovery bool, err error) {
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		var err error
		recovery, err = s.verifySecondFactor(ctx, tx, id, code, true)
		return err
	})
	return recovery, err
}

// verifySecondFactor is VerifySecondFactor inside tx; withRecovery false
// accepts only a code of the app.
func (s *Store) verifySecondFactor(ctx context.Context, tx *gorm.DB, id int64, code string, withRecovery bool) (recovery bool, err error) {
	code = strings.TrimSpace(code)
	err = func() error {
		var u userTOTP
		if err := tx.Table("users").Where("id = ?", id).Take(&u).Error; err != nil {
			if isMissing(err) {
				return notFound("user", id)
			}
			return err
		}
		if u.TOTPEnabledAt == nil {
			return ErrBadCode
		}
		secret, err := s.openTOTP(u.TOTPSecret)
		if err != nil {
			return fmt.Errorf("totp secret of %d: %w", id, err)
		}
		if step, ok := checkTOTP(secret, code, s.now(), u.TOTPLastStep); ok {
			return tx.Table("users").Where("id = ? AND totp_last_step < ?", id, step).
				Update("totp_last_step", step).Error
		}
		if !withRecovery {
			return ErrBadCode
		}
		res := tx.Model(&RecoveryCode{}).Where("user_id = ? AND hash = ? AND used_at IS NULL", id, hashToken(normRecovery(code))).
			Update("used_at", s.now())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrBadCode
		}
		recovery = true
		AuditOf(ctx).Note("recovery_code", "used")
		return nil
	}()
	return recovery, err
}

// checkTOTP accepts code for the step of now or the one either side (a
// clock a little off), if that step is later than last.
func checkTOTP(secret, code string, now time.Time, last int64) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	for _, d := range []int64{0, -1, 1} {
		at := now.Add(time.Duration(d*totpPeriod) * time.Second)
		step := at.Unix() / totpPeriod
		if step <= last {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && hmac.Equal([]byte(want), []byte(code)) {
			return step, true
		}
	}
	return 0, false
}

// newRecoveryCode is ten characters in two groups, like "k7wq4-m2xpa".
func newRecoveryCode() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	var b [10]byte
	rand.Read(b[:])
	out := make([]byte, 0, 11)
	for i, c := range b {
		if i == 5 {
			out = append(out, '-')
		}
		out = append(out, alphabet[int(c)%len(alphabet)])
	}
	return string(out)
}

func normRecovery(c string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(c), "-", ""))
}
