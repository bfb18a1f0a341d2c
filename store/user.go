package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Roles of staff users are those of API tokens: RoleAdmin, RoleEditor,
// RoleViewer.

// States of a staff user.
const (
	UserInvited     = "invited"     // made, no password set yet
	UserActive      = "active"      // may sign in
	UserDeactivated = "deactivated" // may not sign in; kept for the record
)

// Events of staff accounts. They carry the acting user (Event.UserID) and
// the account acted on in data.target_user_id.
const (
	EventUserInvited     = "user.invited"
	EventUserRole        = "user.role"
	EventUserDeactivated = "user.deactivated"
	EventUserReactivated = "user.reactivated"
	EventUserPassword    = "user.password" // set from a link or changed
)

// Sign-in outcomes.
var (
	// ErrBadCredentials is an unknown account or a wrong password: the
	// two are one answer on purpose.
	ErrBadCredentials = errors.New("wrong email address or password")
	// ErrInactive is the right password of a deactivated account.
	ErrInactive = errors.New("account deactivated")
)

// User is a member of staff who signs in to the web workspace.
type User struct {
	ID           int64      `gorm:"primaryKey" json:"id"`
	Email        string     `gorm:"size:320;not null;uniqueIndex:idx_users_email" json:"email"`
	Name         string     `gorm:"size:200;not null;default:''" json:"name"`
	Lang         string     `gorm:"size:8;not null;default:'sv'" json:"lang"`
	Role         string     `gorm:"size:16;not null" json:"role"`
	Status       string     `gorm:"size:16;not null" json:"status"`
	PasswordHash string     `gorm:"size:200;not null;default:''" json:"-"`
	CreatedAt    time.Time  `gorm:"not null" json:"created_at"`
	UpdatedAt    time.Time  `gorm:"not null" json:"updated_at"`
	LastSigninAt *time.Time `json:"last_signin_at"`
	// TOTPEnabledAt is when two-factor sign-in was turned on (nil: off).
	TOTPEnabledAt *time.Time `gorm:"column:totp_enabled_at" json:"totp_enabled_at,omitempty"`
}

// DisplayName is the name, or the address when no name is given.
func (u *User) DisplayName() string {
	if strings.TrimSpace(u.Name) != "" {
		return u.Name
	}
	return u.Email
}

// ValidRole reports whether r is a staff role.
func ValidRole(r string) bool {
	return r == RoleAdmin || r == RoleMember || r == RoleEditor || r == RoleViewer
}

// ValidUserLang reports whether l is a language of the staff interface.
func ValidUserLang(l string) bool { return l == "sv" || l == "en" }

func userEvent(kind string, by Actor, at time.Time, target int64, data map[string]any) Event {
	ev := newEvent(kind, by, at, nil, nil, nil)
	ev.Data["target_user_id"] = target
	for k, v := range data {
		ev.Data[k] = v
	}
	return ev
}

// CreateUser adds an invited user (no password yet). The address is
// normalised; a taken address is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User, by Actor) error {
	email, err := NormalizeEmail(u.Email)
	if err != nil {
		return err
	}
	if !ValidRole(u.Role) {
		return fmt.Errorf("user role %q: %w", u.Role, ErrConflict)
	}
	if u.Lang == "" {
		u.Lang = "sv"
	}
	if !ValidUserLang(u.Lang) {
		return fmt.Errorf("user language %q: %w", u.Lang, ErrConflict)
	}
	u.Email, u.Status, u.PasswordHash = email, UserInvited, ""
	u.Name = truncate(strings.TrimSpace(u.Name), 200)
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			if isDup(err) {
				return conflictf("a user with the address %s already exists", email)
			}
			return fmt.Errorf("create user: %w", err)
		}
		return insertEvents(tx, []Event{userEvent(EventUserInvited, by, s.now(), u.ID, map[string]any{"role": u.Role})})
	})
}

// User returns user id.
func (s *Store) User(ctx context.Context, id int64) (*User, error) {
	var u User
	if err := s.reader(ctx).Take(&u, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("user", id)
		}
		return nil, fmt.Errorf("user %d: %w", id, err)
	}
	return &u, nil
}

// UserByEmail returns the user with that address (normalised first).
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", email, ErrNotFound)
	}
	var u User
	if err := s.reader(ctx).Where("email = ?", norm).Take(&u).Error; err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("user %s: %w", norm, ErrNotFound)
		}
		return nil, fmt.Errorf("user %s: %w", norm, err)
	}
	return &u, nil
}

// Users lists every user, by address.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var us []User
	if err := s.reader(ctx).Order("email").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return us, nil
}

// CountUsers says how many users exist, for the first-run setup.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reader(ctx).Model(&User{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// UpdateUserProfile sets a user's own name and language.
func (s *Store) UpdateUserProfile(ctx context.Context, id int64, name, lang string) (*User, error) {
	if !ValidUserLang(lang) {
		return nil, fmt.Errorf("user language %q: %w", lang, ErrConflict)
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", id).
			Updates(map[string]any{"name": truncate(strings.TrimSpace(name), 200), "lang": lang, "updated_at": s.now()})
		if res.Error != nil {
			return fmt.Errorf("update user %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("user", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.User(ctx, id)
}

// lockUsers serialises changes that must keep one active admin. On
// Postgres two admins demoting each other at once would each still see
// the other as admin; the advisory lock makes the second wait and see the
// first's change. SQLite's immediate transactions already serialise.
func (s *Store) lockUsers(tx *gorm.DB) error {
	if s.dialect == DialectPostgres {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(7452020)").Error; err != nil {
			return fmt.Errorf("lock users: %w", err)
		}
	}
	return nil
}

// otherActiveAdmins counts active admins other than id.
func otherActiveAdmins(tx *gorm.DB, id int64) (int64, error) {
	var n int64
	err := tx.Model(&User{}).Where("role = ? AND status = ? AND id <> ?", RoleAdmin, UserActive, id).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count admins: %w", err)
	}
	return n, nil
}

// ErrLastAdmin is the refusal to demote or deactivate the last active
// admin: nobody could manage the users after it.
var ErrLastAdmin = &ConflictError{Msg: "the last active admin cannot be demoted or deactivated"}

// SetUserRole changes a user's role. Demoting the last active admin is
// ErrLastAdmin (an ErrConflict).
func (s *Store) SetUserRole(ctx context.Context, id int64, role string, by Actor) (*User, error) {
	if !ValidRole(role) {
		return nil, fmt.Errorf("user role %q: %w", role, ErrConflict)
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.lockUsers(tx); err != nil {
			return err
		}
		var u User
		if err := tx.Take(&u, id).Error; err != nil {
			if isMissing(err) {
				return notFound("user", id)
			}
			return fmt.Errorf("user %d: %w", id, err)
		}
		if u.Role == role {
			return nil
		}
		if u.Role == RoleAdmin && u.Status == UserActive {
			n, err := otherActiveAdmins(tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastAdmin
			}
		}
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{"role": role, "updated_at": s.now()}).Error; err != nil {
			return fmt.Errorf("set role of user %d: %w", id, err)
		}
		return insertEvents(tx, []Event{userEvent(EventUserRole, by, s.now(), id, map[string]any{"role": role, "from": u.Role})})
	})
	if err != nil {
		return nil, err
	}
	return s.User(ctx, id)
}

// SetUserActive deactivates (ending every session and unused link of the
// user) or reactivates a user. Deactivating the last active admin is
// ErrLastAdmin. A reactivated user who never set a password is invited
// again.
func (s *Store) SetUserActive(ctx context.Context, id int64, active bool, by Actor) (*User, error) {
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.lockUsers(tx); err != nil {
			return err
		}
		var u User
		if err := tx.Take(&u, id).Error; err != nil {
			if isMissing(err) {
				return notFound("user", id)
			}
			return fmt.Errorf("user %d: %w", id, err)
		}
		var status, kind string
		switch {
		case active && u.Status == UserDeactivated:
			status, kind = UserActive, EventUserReactivated
			if u.PasswordHash == "" {
				status = UserInvited
			}
		case !active && u.Status != UserDeactivated:
			if u.Role == RoleAdmin && u.Status == UserActive {
				n, err := otherActiveAdmins(tx, id)
				if err != nil {
					return err
				}
				if n == 0 {
					return ErrLastAdmin
				}
			}
			status, kind = UserDeactivated, EventUserDeactivated
			if err := tx.Where("user_id = ?", id).Delete(&Session{}).Error; err != nil {
				return fmt.Errorf("end sessions of user %d: %w", id, err)
			}
			if err := tx.Where("user_id = ? AND used_at IS NULL", id).Delete(&UserToken{}).Error; err != nil {
				return fmt.Errorf("void links of user %d: %w", id, err)
			}
		default:
			return nil // already so
		}
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{"status": status, "updated_at": s.now()}).Error; err != nil {
			return fmt.Errorf("set status of user %d: %w", id, err)
		}
		return insertEvents(tx, []Event{userEvent(kind, by, s.now(), id, nil)})
	})
	if err != nil {
		return nil, err
	}
	return s.User(ctx, id)
}

// Authenticate checks an address and password. An unknown address, a
// user without a password and a wrong password are all ErrBadCredentials
// and take the same time (a dummy hash is checked); the right password of
// a deactivated user is ErrInactive. Success records the sign-in time.
func (s *Store) Authenticate(ctx context.Context, email, password string) (*User, error) {
	if len(password) > PasswordMaxLen {
		return nil, ErrBadCredentials
	}
	u, err := s.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if u == nil {
		s.pw.check("", password)
		return nil, ErrBadCredentials
	}
	if !s.pw.check(u.PasswordHash, password) {
		return nil, ErrBadCredentials
	}
	if u.Status != UserActive {
		return nil, ErrInactive
	}
	now := s.now()
	// Bookkeeping, like a token's last use: the sign-in's own change is
	// its session (and its row, made with it).
	if err := s.writer(unaudited(ctx)).Model(&User{}).Where("id = ?", u.ID).Update("last_signin_at", now).Error; err != nil {
		return nil, fmt.Errorf("record sign-in of user %d: %w", u.ID, err)
	}
	u.LastSigninAt = &now
	return u, nil
}

// ChangePassword sets a new password for a user who knows the current
// one (ErrBadCredentials otherwise), and ends every session of the user:
// whoever was signed in with the old password is out. The caller issues
// a new session to the person who made the change.
func (s *Store) ChangePassword(ctx context.Context, id int64, current, next string, by Actor) error {
	if len(next) < PasswordMinLen || len(next) > PasswordMaxLen {
		return fmt.Errorf("password of user %d: length: %w", id, ErrConflict)
	}
	u, err := s.User(ctx, id)
	if err != nil {
		return err
	}
	if len(current) > PasswordMaxLen || !s.pw.check(u.PasswordHash, current) {
		return ErrBadCredentials
	}
	hash, err := s.pw.hash(next)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		// Only if the hash is still the one checked: two changes at once
		// do not both win.
		res := tx.Model(&User{}).Where("id = ? AND password_hash = ? AND status = ?", id, u.PasswordHash, UserActive).
			Updates(map[string]any{"password_hash": hash, "updated_at": s.now()})
		if res.Error != nil {
			return fmt.Errorf("set password of user %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return conflictf("the password of user %d changed meanwhile", id)
		}
		if err := tx.Where("user_id = ?", id).Delete(&Session{}).Error; err != nil {
			return fmt.Errorf("end sessions of user %d: %w", id, err)
		}
		return insertEvents(tx, []Event{userEvent(EventUserPassword, by, s.now(), id, map[string]any{"how": "changed"})})
	})
}
