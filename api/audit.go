package api

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// auditActions names the actions of routes whose path does not say them
// (see routeAction).
var auditActions = map[string]string{
	"/admin/signin":                             "auth.signin",
	"/admin/signout":                            "auth.signout",
	"/admin/forgot":                             "auth.reset_requested",
	"/admin/password/:token":                    "auth.password_set",
	"/admin/account":                            "account.update",
	"/admin/account/password":                   "account.password",
	"/admin/account/sessions/:id/end":           "session.end",
	"/admin/settings/users":                     "user.invite",
	"/api/v1/subscribers/:id/erase":             "subscriber.erase",
	"/api/v1/inbound":                           "inbound.receive",
	"/admin/settings/security":                  "settings.security",
	"/api/v1/settings/security":                 "settings.security",
	"/admin/account/twofactor":                  "account.twofactor",
	"/admin/account/twofactor/off":              "account.twofactor_off",
	"/admin/account/twofactor/codes":            "account.recovery_codes",
	"/admin/settings/users/:id/twofactor/reset": "user.twofactor_reset",
	"/api/v1/users/:id/twofactor":               "user.twofactor_reset",
	"/admin/media/:id":                          "media.update",
}

// routeAction derives the audit action and object of a route: the first
// path segment (singular) is the object type, and the verb is the last
// segment or the method's (create, update, delete).
func routeAction(method, route string) (action, objectType string) {
	rest := strings.TrimPrefix(strings.TrimPrefix(route, "/api/v1"), "/admin")
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	if len(segs) > 1 && segs[0] == "settings" {
		segs = segs[1:]
	}
	objectType = strings.TrimSuffix(segs[0], "s")
	if a, ok := auditActions[route]; ok {
		typ, _, _ := strings.Cut(a, ".")
		return a, typ
	}
	verb := map[string]string{http.MethodPost: "create", http.MethodPatch: "update", http.MethodPut: "update",
		http.MethodDelete: "delete"}[method]
	if last := segs[len(segs)-1]; len(segs) > 1 && !strings.HasPrefix(last, ":") {
		verb = last
	}
	return objectType + "." + verb, objectType
}

// isWrite reports whether method changes something.
func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut || method == http.MethodDelete
}

// audited gives every write request to /api/v1 and /admin an audit entry:
// the store appends it in the transaction of the request's write, or this
// middleware when the request succeeds without one (a test mail). Reads
// that hand out data (exports) set one up themselves (auditRead).
func (s *Server) audited(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p := c.Path()
		if !isWrite(r.Method) || !(strings.HasPrefix(p, "/api/v1/") || strings.HasPrefix(p, "/admin/")) ||
			p == "/api/v1/*" || p == "/admin/*" {
			return next(c)
		}
		action, typ := routeAction(r.Method, p)
		ctx, a := store.StartAudit(r.Context(), action, typ, c.Param("id"))
		a.SetOrigin(c.RealIP(), r.UserAgent(), c.Response().Header().Get(echo.HeaderXRequestID))
		chunked := false // an upload: several transactions, undone on failure
		switch p {
		case "/api/v1/inbound", "/admin/campaigns/:id/preview":
			// A bounce that changed nothing, a live preview (posted at
			// every pause in typing, never written) leave no row.
			a.OnlyIfWritten()
		case "/api/v1/imports", "/admin/imports":
			// An upload is stored in chunks, a transaction each, and
			// deleted again when a later one fails: its row waits for
			// the end, so a refused upload leaves neither.
			a.Defer()
			chunked = true
		}
		c.SetRequest(r.WithContext(ctx))
		err := next(c)
		status := c.Response().Status
		if err != nil {
			status = errorStatus(err)
		}
		if _, aerr := s.st.FinishAudit(ctx, status); aerr != nil {
			s.log.Error("append audit row", "action", action, "err", aerr)
			if err == nil && !c.Response().Committed {
				return aerr
			}
		}
		if n := a.Commits(); n > 1 && !chunked {
			// A failure after the first commit would have left part of
			// the action: such a request runs in one transaction
			// (store.Atomic).
			s.log.Error("request committed its action in several transactions", "route", p, "commits", n)
		}
		if late := a.Late(); len(late) > 0 {
			// A handler recorded part of its action after the row was
			// written by an earlier transaction: the row misses it.
			s.log.Error("audit row misses what came after its transaction", "route", p, "late", late)
		}
		return err
	}
}

// auditRead records a read that hands out personal data (an export) as
// an action of its own.
func (s *Server) auditRead(action, objectType string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if isHead(c) {
				return next(c) // a HEAD hands nothing out
			}
			ctx, a := store.StartAudit(c.Request().Context(), action, objectType, c.Param("id"))
			a.SetOrigin(c.RealIP(), c.Request().UserAgent(), c.Response().Header().Get(echo.HeaderXRequestID))
			for _, k := range []string{"list_id", "status"} {
				if v := c.QueryParam(k); v != "" {
					a.Note(k, v)
				}
			}
			c.SetRequest(c.Request().WithContext(ctx))
			err := next(c)
			status := c.Response().Status
			if err != nil {
				status = errorStatus(err)
			}
			if status < 400 {
				if _, aerr := s.st.FinishAudit(ctx, status); aerr != nil {
					s.log.Error("append audit row", "action", action, "err", aerr)
				}
			}
			return err
		}
	}
}

// errorStatus is the status the error handler will answer err with.
func errorStatus(err error) int {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he.Code
	}
	return statusCode(err)
}

// auditQuery reads the log's filters from the query string: user_id,
// token_id, object_type, object_id, action ("campaign." for a prefix),
// since and until (RFC 3339), before (cursor) and limit.
func auditQuery(c echo.Context, maxLimit int) (store.AuditQuery, error) {
	var q store.AuditQuery
	var err error
	if q.UserID, err = queryInt(c, "user_id", 0); err != nil {
		return q, err
	}
	if q.TokenID, err = queryInt(c, "token_id", 0); err != nil {
		return q, err
	}
	q.ObjectType, q.ObjectID, q.Action = c.QueryParam("object_type"), c.QueryParam("object_id"), c.QueryParam("action")
	q.RequestID = c.QueryParam("request_id")
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := c.QueryParam(f.name); v != "" {
			t, perr := time.Parse(time.RFC3339, v)
			if perr != nil {
				if d, derr := time.ParseInLocation("2006-01-02", v, stockholm); derr == nil {
					t = d
				} else {
					return q, fieldErr(f.name, "must be a time like 2026-01-31T12:00:00Z or a date 2026-01-31")
				}
			}
			*f.to = t
		}
	}
	var before int64
	before, q.Limit, err = keyset(c, "before", 100, maxLimit)
	q.Before = before
	return q, err
}

var stockholm = func() *time.Location {
	l, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.UTC
	}
	return l
}()

type auditPage struct {
	Data       []store.AuditRow `json:"data"`
	NextBefore int64            `json:"next_before,omitempty"`
}

// listAudit is GET /api/v1/audit (admin): the log, newest first, a page at
// a time (?before= the next_before of the previous page).
func (s *Server) listAudit(c echo.Context) error {
	q, err := auditQuery(c, 500)
	if err != nil {
		return err
	}
	rows, next, err := s.st.AuditLog(c.Request().Context(), q)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []store.AuditRow{}
	}
	return c.JSON(http.StatusOK, auditPage{Data: rows, NextBefore: next})
}

// exportAudit is GET /api/v1/audit.csv (and /admin/audit.csv): the rows
// the filters select, all pages, as CSV. It walks the log a page at a
// time, so a long export holds one page in memory.
func (s *Server) exportAudit(c echo.Context) error {
	q, err := auditQuery(c, 1000)
	if err != nil {
		return err
	}
	q.Limit = 1000
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="audit.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	w.Write([]string{"id", "created_at", "user_id", "token_id", "source", "ip", "user_agent", "action", "object_type", "object_id", "request_id", "changes"})
	for {
		rows, next, err := s.st.AuditLog(c.Request().Context(), q)
		if err != nil {
			return err
		}
		for _, r := range rows {
			ch, _ := json.Marshal(r.Changes)
			w.Write([]string{strconv.FormatInt(r.ID, 10), r.CreatedAt.UTC().Format(time.RFC3339), optID(r.UserID), optID(r.TokenID),
				r.Source, r.IP, csvSafe(r.UserAgent), r.Action, r.ObjectType, r.ObjectID, r.RequestID, csvSafe(string(ch))})
		}
		w.Flush()
		if err := w.Error(); err != nil || next == 0 {
			return err
		}
		q.Before = next
	}
}

func optID(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}
