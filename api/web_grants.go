package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type grantsData struct {
	webPage
	Person *store.User
	Lists  []store.List
	Roles  []string
	// Has is list id → role → held.
	Has map[int64]map[string]bool
}

// Held reports whether the person holds role on list id (for the boxes).
func (p grantsData) Held(listID int64, role string) bool { return p.Has[listID][role] }

func (s *Server) grantsData(c echo.Context, id int64) (grantsData, error) {
	ctx := c.Request().Context()
	u, err := s.st.User(ctx, id)
	if err != nil {
		return grantsData{}, err
	}
	ls, err := s.st.Lists(ctx)
	if err != nil {
		return grantsData{}, err
	}
	gs, err := s.st.Grants(ctx, id)
	if err != nil {
		return grantsData{}, err
	}
	p := grantsData{webPage: s.page(c, "perm.grants_title", "settings"), Person: u, Lists: ls,
		Roles: store.GrantRoles, Has: map[int64]map[string]bool{}}
	p.Title = s.t(c, "perm.grants_title") + ": " + u.DisplayName()
	for _, g := range gs {
		if p.Has[g.ListID] == nil {
			p.Has[g.ListID] = map[string]bool{}
		}
		p.Has[g.ListID][g.Role] = true
	}
	return p, nil
}

// usersGrantsPage is GET /admin/settings/users/:id/grants: a box per list
// and list role.
func (s *Server) usersGrantsPage(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := s.grantsData(c, id)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "grants", p.Lang, p)
}

// usersGrantsSave is POST /admin/settings/users/:id/grants: the ticked
// boxes (fields "list-<id>" with the roles as values) become the user's
// grants, through the store function of PUT /api/v1/users/{id}/grants.
func (s *Server) usersGrantsSave(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := s.grantsData(c, id)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	m := map[int64][]string{}
	for _, l := range p.Lists {
		for _, r := range form["list-"+strconv.FormatInt(l.ID, 10)] {
			if !store.ValidGrant(r) {
				p.Errors = map[string]string{"list-" + strconv.FormatInt(l.ID, 10): s.t(c, "perm.grants_err_role")}
				return s.renderWeb(c, http.StatusUnprocessableEntity, "grants", p.Lang, p)
			}
			m[l.ID] = append(m[l.ID], r)
		}
	}
	if _, err := s.st.SetGrants(c.Request().Context(), id, m); err != nil {
		return err
	}
	s.flash(c, "perm.grants_saved")
	return redirect(c, "/admin/settings/users")
}
