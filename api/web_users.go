package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// inviteUserRequest invites a member of staff.
type inviteUserRequest struct {
	Email string `json:"email" form:"email"`
	Name  string `json:"name" form:"name"`
	Role  string `json:"role" form:"role"`
	Lang  string `json:"lang" form:"lang"`
}

func (r *inviteUserRequest) validate() error {
	if strings.TrimSpace(r.Email) == "" {
		return &FieldError{Field: "email", Msg: "is required", Key: "err.required"}
	}
	if _, err := store.NormalizeEmail(r.Email); err != nil {
		return &FieldError{Field: "email", Msg: err.Error(), Key: "err.email"}
	}
	if len(r.Name) > 200 {
		return &FieldError{Field: "name", Msg: "is longer than 200 characters", Key: "err.too_long", Args: []string{"max", "200"}}
	}
	if !store.ValidRole(r.Role) {
		return &FieldError{Field: "role", Msg: "must be admin or member (editor and viewer: every list)", Key: "err.role"}
	}
	if r.Lang == "" {
		r.Lang = "sv"
	}
	if !store.ValidUserLang(r.Lang) {
		return &FieldError{Field: "lang", Msg: "must be sv or en", Key: "err.lang"}
	}
	return nil
}

// inviteUser makes an invited user and has the worker mail the link.
// The row is the promise: if the enqueue fails the admin can send the
// invitation again from the list.
func (s *Server) inviteUser(ctx context.Context, by store.Actor, req inviteUserRequest) (*store.User, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	u := &store.User{Email: req.Email, Name: req.Name, Role: req.Role, Lang: req.Lang}
	if err := s.st.CreateUser(ctx, u, by); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, &FieldError{Field: "email", Msg: "already has an account", Key: "err.email_taken"}
		}
		return nil, err
	}
	s.mailInvite(ctx, u.ID, by.UserID)
	return u, nil
}

func (s *Server) mailInvite(ctx context.Context, userID, byUserID int64) {
	t := queue.NewUserMailTask(queue.UserMailPayload{UserID: userID, Purpose: store.PurposeInvite, ByUserID: byUserID})
	if err := s.q.Enqueue(ctx, t); err != nil {
		s.log.Warn("enqueue invitation; send it again from Settings → Users", "user_id", userID, "err", err)
	}
}

type usersData struct {
	webPage
	Users  []store.User
	Roles  []string
	Invite inviteUserRequest
}

func (s *Server) usersData(c echo.Context) (usersData, error) {
	us, err := s.st.Users(c.Request().Context())
	if err != nil {
		return usersData{}, err
	}
	return usersData{webPage: s.page(c, "users.title", "settings"), Users: us,
		Roles: []string{store.RoleAdmin, store.RoleMember}, Invite: inviteUserRequest{Role: store.RoleMember, Lang: "sv"}}, nil
}

func (s *Server) usersPage(c echo.Context) error {
	p, err := s.usersData(c)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "users", p.Lang, p)
}

func (s *Server) usersInvite(c echo.Context) error {
	var req inviteUserRequest
	if err := bindForm(c, &req); err != nil {
		return err
	}
	_, err := s.inviteUser(c.Request().Context(), actor(c), req)
	if err == nil {
		s.flash(c, "flash.user_invited")
		return redirect(c, "/admin/settings/users")
	}
	p, lerr := s.usersData(c)
	if lerr != nil {
		return lerr
	}
	if p.Errors = s.formErrors(c, err); p.Errors == nil {
		return err
	}
	p.Invite = req
	return s.renderWeb(c, http.StatusUnprocessableEntity, "users", p.Lang, p)
}

type roleRequest struct {
	Role string `form:"role"`
}

func (s *Server) usersRole(c echo.Context) error {
	var req roleRequest
	if err := bindForm(c, &req); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if !store.ValidRole(req.Role) {
		return s.usersRowError(c, id, http.StatusUnprocessableEntity, "err.role")
	}
	_, err = s.st.SetUserRole(c.Request().Context(), id, req.Role, actor(c))
	if errors.Is(err, store.ErrLastAdmin) {
		return s.usersRowError(c, id, http.StatusConflict, "flash.last_admin")
	}
	if err != nil {
		return err
	}
	s.flash(c, "flash.role_changed")
	return redirect(c, "/admin/settings/users")
}

// usersRowError shows the users page with an error next to the role of
// user id (the form of that row).
func (s *Server) usersRowError(c echo.Context, id int64, code int, key string) error {
	p, err := s.usersData(c)
	if err != nil {
		return err
	}
	p.Errors = map[string]string{"role-" + strconv.FormatInt(id, 10): s.t(c, key)}
	return s.renderWeb(c, code, "users", p.Lang, p)
}

type deactivateData struct {
	webPage
	Person *store.User
}

// usersDeactivatePage asks first, naming the person: deactivating signs
// them out at once. It works without scripts (app.js asks in a dialog
// where they run, and skips this page).
func (s *Server) usersDeactivatePage(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	u, err := s.st.User(c.Request().Context(), id)
	if err != nil {
		return err
	}
	p := deactivateData{webPage: s.page(c, "users.deactivate_title", "settings"), Person: u}
	p.Title = s.t(c, "users.deactivate_title", "name", u.DisplayName())
	return s.renderWeb(c, http.StatusOK, "user_deactivate", p.Lang, p)
}

func (s *Server) usersDeactivate(c echo.Context) error {
	return s.userChange(c, "flash.user_deactivated", func(ctx context.Context, id int64) error {
		_, err := s.st.SetUserActive(ctx, id, false, actor(c))
		return err
	})
}

func (s *Server) usersReactivate(c echo.Context) error {
	return s.userChange(c, "flash.user_reactivated", func(ctx context.Context, id int64) error {
		_, err := s.st.SetUserActive(ctx, id, true, actor(c))
		return err
	})
}

// usersResend sends an invited user a new invitation; the earlier link
// stops working.
func (s *Server) usersResend(c echo.Context) error {
	return s.userChange(c, "flash.invite_resent", func(ctx context.Context, id int64) error {
		u, err := s.st.User(ctx, id)
		if err != nil {
			return err
		}
		if u.Status != store.UserInvited {
			return &store.ConflictError{Msg: "only an invited user can be sent a new invitation"}
		}
		s.mailInvite(ctx, id, actor(c).UserID)
		return nil
	})
}

// userChange runs one change to user :id and goes back to the list with
// its flash message. Keeping the last active admin is told as such; other
// refusals go through the error table.
func (s *Server) userChange(c echo.Context, done string, change func(context.Context, int64) error) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	err = change(c.Request().Context(), id)
	if errors.Is(err, store.ErrLastAdmin) {
		p, lerr := s.usersData(c)
		if lerr != nil {
			return lerr
		}
		p.Flash, p.FlashError = s.t(c, "flash.last_admin"), true
		return s.renderWeb(c, http.StatusConflict, "users", p.Lang, p)
	}
	if err != nil {
		return err
	}
	s.flash(c, done)
	return redirect(c, "/admin/settings/users")
}

type settingsData struct {
	webPage
	Security store.SecuritySettings
}

func (s *Server) settingsPage(c echo.Context) error {
	p := settingsData{webPage: s.page(c, "settings.title", "settings")}
	var err error
	if p.Security, err = s.st.SecuritySettings(c.Request().Context()); err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "settings", p.Lang, p)
}
