package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Roles on one list. A user holds any of them per list; publisher
// includes author, and every role includes viewer.
const (
	GrantViewer    = "viewer"    // read the list, its subscribers, campaigns and reports
	GrantAuthor    = "author"    // write and test campaigns, ask for their approval
	GrantPublisher = "publisher" // also approve, schedule and send
	GrantAudience  = "audience"  // manage the list's subscribers and imports
)

// RoleMember is the instance role of a user whose rights come from list
// grants only. RoleEditor and RoleViewer remain for API tokens (and
// users) that act over every list: an editor as publisher and audience
// of all lists, a viewer as viewer of all.
const RoleMember = "member"

// GrantRoles are the list roles, in the order the interface shows them.
var GrantRoles = []string{GrantViewer, GrantAuthor, GrantPublisher, GrantAudience}

// ValidGrant reports whether r is a list role.
func ValidGrant(r string) bool { return slices.Contains(GrantRoles, r) }

// ErrForbidden is an action the actor's roles do not allow on an object
// the actor may see (an author sending, approving one's own campaign).
// What the actor may not see is ErrNotFound instead.
var ErrForbidden = errors.New("forbidden")

// ForbiddenError explains a refusal.
type ForbiddenError struct{ Msg string }

func (e *ForbiddenError) Error() string        { return e.Msg }
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

func forbiddenf(format string, args ...any) error {
	return &ForbiddenError{Msg: fmt.Sprintf(format, args...)}
}

// ListGrant is one role of a user on a list.
type ListGrant struct {
	UserID    int64     `gorm:"primaryKey;autoIncrement:false" json:"user_id"`
	ListID    int64     `gorm:"primaryKey;autoIncrement:false;index" json:"list_id"`
	Role      string    `gorm:"primaryKey;size:16" json:"role"`
	CreatedAt time.Time `gorm:"not null" json:"created_at"`
}

// Access is what the actor of a request may do, computed once per
// request by the HTTP layer (AccessFor) and carried in its context. Every
// store function that reads or writes lists, subscribers or campaigns
// asks it; a context without one (the worker, the public pages, tests of
// the store) is not limited.
type Access struct {
	UserID  int64
	TokenID int64
	Admin   bool
	// All are roles held over every list (RoleEditor, RoleViewer).
	All map[string]bool
	// Lists are the grants per list.
	Lists map[int64]map[string]bool
	// ReadOnly narrows everything to viewer (a viewer token of a user).
	ReadOnly bool
}

type accessKey struct{}

// WithAccess carries acc in ctx.
func WithAccess(ctx context.Context, acc *Access) context.Context {
	return context.WithValue(ctx, accessKey{}, acc)
}

// AccessFrom is the access of ctx; nil means unlimited.
func AccessFrom(ctx context.Context) *Access {
	a, _ := ctx.Value(accessKey{}).(*Access)
	return a
}

// implies reports whether holding have grants want.
func implies(have map[string]bool, want string) bool {
	switch want {
	case GrantViewer:
		return len(have) > 0
	case GrantAuthor:
		return have[GrantAuthor] || have[GrantPublisher]
	default:
		return have[want]
	}
}

// Can reports whether the actor holds role on list id.
func (a *Access) Can(listID int64, role string) bool {
	if a == nil {
		return true
	}
	if a.ReadOnly && role != GrantViewer {
		return false
	}
	if a.Admin {
		return true
	}
	return implies(a.All, role) || implies(a.Lists[listID], role)
}

// CanAll reports whether the actor holds role on every one of ids.
func (a *Access) CanAll(ids []int64, role string) bool {
	for _, id := range ids {
		if !a.Can(id, role) {
			return false
		}
	}
	return true
}

// Global reports whether the actor holds role over every list (an admin,
// an instance token): needed for what belongs to no list (suppressions,
// new lists).
func (a *Access) Global(role string) bool {
	if a == nil {
		return true
	}
	if a.ReadOnly && role != GrantViewer {
		return false
	}
	return a.Admin || implies(a.All, role)
}

// Any reports whether the actor holds role on at least one list.
func (a *Access) Any(role string) bool {
	if a.Global(role) {
		return true
	}
	if a.ReadOnly && role != GrantViewer {
		return false
	}
	for _, g := range a.Lists {
		if implies(g, role) {
			return true
		}
	}
	return false
}

// listIDs are the lists on which the actor holds role, for filters; nil
// with all true means every list.
func (a *Access) listIDs(role string) (ids []int64, all bool) {
	if a.Global(role) {
		return nil, true
	}
	if a.ReadOnly && role != GrantViewer {
		return []int64{}, false
	}
	ids = []int64{}
	for id, g := range a.Lists {
		if implies(g, role) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, false
}

func roleAll(role string) map[string]bool {
	switch role {
	case RoleEditor:
		return map[string]bool{GrantPublisher: true, GrantAudience: true}
	case RoleViewer:
		return map[string]bool{GrantViewer: true}
	}
	return nil
}

// AccessFor computes the access of user u (nil for an instance token)
// acting through token t (nil for a web session).
func (s *Store) AccessFor(ctx context.Context, u *User, t *APIToken) (*Access, error) {
	a := &Access{Lists: map[int64]map[string]bool{}}
	if t != nil {
		a.TokenID = t.ID
	}
	if u == nil {
		// An instance token of old: its role over every list.
		if t != nil {
			a.Admin = t.Role == RoleAdmin
			a.All = roleAll(t.Role)
		}
		return a, nil
	}
	a.UserID = u.ID
	a.Admin = u.Role == RoleAdmin
	a.All = roleAll(u.Role)
	var gs []ListGrant
	if err := s.reader(ctx).Where("user_id = ?", u.ID).Find(&gs).Error; err != nil {
		return nil, fmt.Errorf("grants of user %d: %w", u.ID, err)
	}
	for _, g := range gs {
		if a.Lists[g.ListID] == nil {
			a.Lists[g.ListID] = map[string]bool{}
		}
		a.Lists[g.ListID][g.Role] = true
	}
	if t != nil {
		// A user's token narrows the user's rights, never widens them.
		switch t.Role {
		case RoleViewer:
			a.ReadOnly = true
		case RoleEditor:
			a.Admin = false
			if u.Role == RoleAdmin {
				a.All = roleAll(RoleEditor)
			}
		}
	}
	return a, nil
}

// Grants lists user id's grants.
func (s *Store) Grants(ctx context.Context, userID int64) ([]ListGrant, error) {
	var gs []ListGrant
	if err := s.reader(ctx).Where("user_id = ?", userID).Order("list_id, role").Find(&gs).Error; err != nil {
		return nil, fmt.Errorf("grants of user %d: %w", userID, err)
	}
	return gs, nil
}

// SetGrants replaces user id's grants with gs (list id → roles). Only an
// admin may; the change (before and after) goes to the audit log.
func (s *Store) SetGrants(ctx context.Context, userID int64, gs map[int64][]string) ([]ListGrant, error) {
	if acc := AccessFrom(ctx); acc != nil && !acc.Admin {
		return nil, forbiddenf("only an admin may change grants")
	}
	ids := make([]int64, 0, len(gs))
	for id, roles := range gs {
		ids = append(ids, id)
		for _, r := range roles {
			if !ValidGrant(r) {
				return nil, fieldConflictf("grants", "unknown list role %q", r)
			}
		}
	}
	var out []ListGrant
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&User{}).Where("id = ?", userID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return notFound("user", userID)
		}
		if err := checkListsExist(tx, ids); err != nil {
			return err
		}
		var before []ListGrant
		if err := tx.Where("user_id = ?", userID).Order("list_id, role").Find(&before).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", userID).Delete(&ListGrant{}).Error; err != nil {
			return fmt.Errorf("grants of user %d: %w", userID, err)
		}
		now := s.now()
		for _, id := range ids {
			for _, r := range gs[id] {
				out = append(out, ListGrant{UserID: userID, ListID: id, Role: r, CreatedAt: now})
			}
		}
		sort.Slice(out, func(i, j int) bool {
			return out[i].ListID < out[j].ListID || (out[i].ListID == out[j].ListID && out[i].Role < out[j].Role)
		})
		out = slices.CompactFunc(out, func(a, b ListGrant) bool { return a.ListID == b.ListID && a.Role == b.Role })
		if len(out) > 0 {
			if err := tx.Create(&out).Error; err != nil {
				return fmt.Errorf("grants of user %d: %w", userID, err)
			}
		} else {
			// Nothing to insert: the delete above is the write.
			AuditOf(ctx).markDirty()
		}
		a := AuditOf(ctx)
		a.SetObject("user", userID)
		a.Change("grants", grantPairs(before), grantPairs(out))
		return nil
	})
	return out, err
}

func grantPairs(gs []ListGrant) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%d:%s", g.ListID, g.Role))
	}
	return out
}

func (a *Audit) markDirty() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.dirty = true
	a.mu.Unlock()
}
