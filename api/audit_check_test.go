package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// checkAudit holds every API test to the audit rule: a write to /api/v1
// (POST, PATCH, PUT, DELETE) that succeeds leaves exactly one audit row,
// of that request, naming the token it came through (and its user, for a
// user's token). The test of every documented operation reaches every
// write route with success (and the route test keeps routes and document
// equal), so a new write endpoint that is not audited fails there.
// A refused write leaves none unless it committed a change on the way.
func checkAudit(t testing.TB, st *store.Store, r *http.Request, res *http.Response) {
	t.Helper()
	switch r.Method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
	default:
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v1/") {
		return
	}
	rid := res.Header.Get(echo.HeaderXRequestID)
	if rid == "" {
		t.Errorf("%s %s: no request id", r.Method, r.URL.Path)
		return
	}
	ctx := context.Background()
	rows, _, err := st.AuditLog(ctx, store.AuditQuery{RequestID: rid, Limit: 10})
	if err != nil {
		t.Errorf("audit of %s %s: %v", r.Method, r.URL.Path, err)
		return
	}
	if res.StatusCode >= 400 {
		if len(rows) > 1 {
			t.Errorf("%s %s → %d: %d audit rows", r.Method, r.URL.Path, res.StatusCode, len(rows))
		}
		return
	}
	if r.URL.Path == "/api/v1/inbound" && len(rows) == 0 {
		return // an MTA's report that changed nothing
	}
	if len(rows) != 1 {
		t.Errorf("%s %s → %d: %d audit rows, want 1", r.Method, r.URL.Path, res.StatusCode, len(rows))
		return
	}
	row := rows[0]
	secret := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	tok, err := st.TokenBySecret(ctx, secret)
	if err != nil {
		t.Errorf("%s %s: token: %v", r.Method, r.URL.Path, err)
		return
	}
	if row.TokenID == nil || *row.TokenID != tok.ID || row.Source != "api" || row.Action == "" {
		t.Errorf("%s %s: audit row %+v, want token %d, source api", r.Method, r.URL.Path, row, tok.ID)
	}
	if (tok.UserID == nil) != (row.UserID == nil) || (tok.UserID != nil && *tok.UserID != *row.UserID) {
		t.Errorf("%s %s: audit row user %v, want the token's user %v", r.Method, r.URL.Path, row.UserID, tok.UserID)
	}
}
