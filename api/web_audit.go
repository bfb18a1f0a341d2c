package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// auditFilter is the audit screen's filter form, as typed.
type auditFilter struct {
	UserID, ObjectType, ObjectID, Action, Since, Until string
}

type auditScreen struct {
	webPage
	F     auditFilter
	Users []store.User
	Names map[int64]string
	Rows  []store.AuditRow
	// Next is the URL of the next (older) page; empty on the last.
	Next string
	// CSV is the download of every row the filters select.
	CSV string
}

// auditPage is GET /admin/audit (admin): the audit log with the filters of
// GET /api/v1/audit, read by the same auditQuery, a page at a time.
func (s *Server) auditPage(c echo.Context) error {
	p := auditScreen{webPage: s.page(c, "perm.audit_title", "settings"), Names: map[int64]string{}}
	p.Errors = map[string]string{}
	p.F = auditFilter{UserID: c.QueryParam("user_id"), ObjectType: c.QueryParam("object_type"),
		ObjectID: c.QueryParam("object_id"), Action: c.QueryParam("action"),
		Since: c.QueryParam("since"), Until: c.QueryParam("until")}
	ctx := c.Request().Context()
	users, err := s.st.Users(ctx)
	if err != nil {
		return err
	}
	p.Users = users
	for _, u := range users {
		p.Names[u.ID] = u.DisplayName()
	}
	filters := url.Values{}
	for k, v := range map[string]string{"user_id": p.F.UserID, "object_type": p.F.ObjectType,
		"object_id": p.F.ObjectID, "action": p.F.Action, "since": p.F.Since, "until": p.F.Until} {
		if v != "" {
			filters.Set(k, v)
		}
	}
	q, err := auditQuery(c, 200)
	var fe *FieldError
	if errors.As(err, &fe) {
		key := "perm.audit_err_number"
		if fe.Field == "since" || fe.Field == "until" {
			key = "perm.audit_err_time"
		}
		p.Errors[fe.Field] = s.t(c, key)
		return s.renderWeb(c, http.StatusBadRequest, "audit", p.Lang, p)
	} else if err != nil {
		return err
	}
	q.Limit = 50
	if len(p.F.Until) == len("2006-01-02") && !q.Until.IsZero() {
		q.Until = q.Until.AddDate(0, 0, 1) // "to date" includes that day
	}
	rows, next, err := s.st.AuditLog(ctx, q)
	if err != nil {
		return err
	}
	p.Rows = rows
	p.CSV = "/admin/audit.csv"
	if len(filters) > 0 {
		p.CSV += "?" + filters.Encode()
	}
	if next != 0 {
		nf := url.Values{}
		for k, v := range filters {
			nf[k] = v
		}
		nf.Set("before", strconv.FormatInt(next, 10))
		p.Next = "/admin/audit?" + nf.Encode()
	}
	return s.renderWeb(c, http.StatusOK, "audit", p.Lang, p)
}

// Change is a row's before/after as compact JSON, for the table.
func (auditScreen) Change(m store.JSONMap) string {
	if len(m) == 0 {
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil {
		return ""
	}
	return string(b)
}

// UserName names the user of a row ("" when a token without a user acted).
func (p auditScreen) UserName(id *int64) string {
	if id == nil {
		return ""
	}
	if n, ok := p.Names[*id]; ok {
		return n
	}
	return "#" + strconv.FormatInt(*id, 10)
}
