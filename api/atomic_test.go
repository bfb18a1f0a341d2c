package api_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/store"
)

// failWrites makes the database refuse op (INSERT, UPDATE) on table
// when the trigger condition cond holds, through a second connection to
// the test's SQLite file: a fault in the second step of a request, in
// the database itself. The returned func lifts it.
func (w *webTest) failWrites(table, op, cond string) func() {
	w.t.Helper()
	db, err := gorm.Open(sqlite.Open(strings.TrimPrefix(w.dsn, "sqlite:")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		w.t.Fatal(err)
	}
	name := "fault_" + table
	if err := db.Exec("CREATE TRIGGER " + name + " BEFORE " + op + " ON " + table + " WHEN " + cond +
		" BEGIN SELECT RAISE(ABORT, 'injected fault'); END").Error; err != nil {
		w.t.Fatal(err)
	}
	return func() {
		if err := db.Exec("DROP TRIGGER " + name).Error; err != nil {
			w.t.Fatal(err)
		}
		if sdb, err := db.DB(); err == nil {
			sdb.Close()
		}
	}
}

// auditActions are the actions of the audit log, oldest first.
func (w *webTest) auditActions() []string {
	w.t.Helper()
	rows, _, err := w.st.AuditLog(context.Background(), store.AuditQuery{Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for i := len(rows) - 1; i >= 0; i-- {
		out = append(out, rows[i].Action)
	}
	return out
}

// TestImportStartThatCannotQueueLeavesTheUploadAsItWas: starting a
// reviewed upload sets its lists, mode and consent basis, then queues it.
// When the queueing fails, none of it stays (before, the lists and the
// starter were kept with no audit row), and the upload can be started
// again once the fault is gone.
func TestImportStartThatCannotQueueLeavesTheUploadAsItWas(t *testing.T) {
	w, b := audience(t)
	ctx := context.Background()
	bus := w.list("bus", "BUS")
	b.get("/admin/imports")
	rec := b.upload("/admin/imports", "medlemmar.csv", "namn;e-post\nAnna;anna@example.se\n")
	wantRedirect(t, rec, "/admin/imports/")
	loc := rec.Header().Get("Location")
	id, _ := strconv.ParseInt(strings.TrimPrefix(loc, "/admin/imports/"), 10, 64)
	before, err := w.st.Import(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rows := w.auditActions()

	lift := w.failWrites("imports", "UPDATE", "NEW.status = 'queued'")
	start := url.Values{"mode": {"subscribe"}, "list_ids": {strconv.FormatInt(bus.ID, 10)}, "consent_basis": {"medlemsregistret 2026"}}
	wantStatus(t, b.post(loc+"/start", start), http.StatusInternalServerError)
	after, err := w.st.Import(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != store.ImportUploading || after.Mode != before.Mode || !slices.Equal([]int64(after.ListIDs), []int64(before.ListIDs)) ||
		after.ConsentBasis != before.ConsentBasis || (after.UserID == nil) != (before.UserID == nil) {
		t.Errorf("a start that failed to queue changed the upload:\n was %+v\n now %+v", before, after)
	}
	if got := w.auditActions(); !slices.Equal(got, rows) {
		t.Errorf("audit rows of a start that changed nothing: %v, were %v", got, rows)
	}
	if n := len(w.queued()); n != 0 {
		t.Errorf("%d tasks queued by a failed start", n)
	}

	lift()
	wantRedirect(t, b.post(loc+"/start", start), loc)
	if imp, _ := w.st.Import(ctx, id); imp.Status != store.ImportQueued || !slices.Equal([]int64(imp.ListIDs), []int64{bus.ID}) {
		t.Errorf("import after the fault: %+v", imp)
	}
	if got := w.auditActions(); len(got) != len(rows)+1 || got[len(got)-1] != "import.start" {
		t.Errorf("audit rows after the start: %v", got)
	}
}

// TestSignInCodeWhoseSessionFailsKeepsTheRecoveryCode: the second step
// of a sign-in uses the code and makes the session. When the session
// cannot be made, the recovery code is still unused and there is no
// sign-in row (before, the code was spent for a sign-in that never
// happened); the same code signs in once the fault is gone.
func TestSignInCodeWhoseSessionFailsKeepsTheRecoveryCode(t *testing.T) {
	w := newWebTest(t, nil)
	ctx := context.Background()
	u := w.user("anna@example.se", store.RoleMember, pw)
	_, codes := w.enrolled(u)
	left, _ := w.st.RecoveryCodesLeft(ctx, u.ID)
	b := w.browser()
	b.get("/admin/signin")
	wantStatus(t, b.post("/admin/signin", url.Values{"email": {"anna@example.se"}, "password": {pw}}), http.StatusOK)
	rows := w.auditActions()

	lift := w.failWrites("sessions", "INSERT", "1")
	wantStatus(t, b.post("/admin/signin/code", url.Values{"code": {codes[0]}}), http.StatusInternalServerError)
	if n, _ := w.st.RecoveryCodesLeft(ctx, u.ID); n != left {
		t.Errorf("recovery codes left after a sign-in that failed: %d, was %d", n, left)
	}
	if got := w.auditActions(); !slices.Equal(got, rows) {
		t.Errorf("audit rows of a sign-in that failed: %v, were %v", got, rows)
	}

	lift()
	wantRedirect(t, b.post("/admin/signin/code", url.Values{"code": {codes[0]}}), "/admin/")
	if n, _ := w.st.RecoveryCodesLeft(ctx, u.ID); n != left-1 {
		t.Errorf("recovery codes left after the sign-in: %d, want %d", n, left-1)
	}
	if got := w.auditActions(); len(got) != len(rows)+1 || got[len(got)-1] != "auth.signin" {
		t.Errorf("audit rows after the sign-in: %v", got)
	}
}

// TestRefusedWebUploadLeavesNoImportAndNoRow: an upload is stored in
// chunks, a transaction each, and deleted when a later chunk is refused
// (here: the file is too large). Its audit row waits for the end, so the
// refused upload leaves no import and no row (before, a row said an
// import was made that no longer existed).
func TestRefusedWebUploadLeavesNoImportAndNoRow(t *testing.T) {
	w := newWebTest(t, func(d *api.Deps) { d.Limits.ImportMaxBytes = 3 << 19 })
	w.user("redaktor@example.se", store.RoleEditor, "ett långt lösenord")
	b := w.browser()
	b.signIn("redaktor@example.se", "ett långt lösenord")
	b.get("/admin/imports")
	rows := w.auditActions()
	var csv strings.Builder
	csv.WriteString("namn;e-post\n")
	for i := 0; csv.Len() < 5<<19; i++ {
		csv.WriteString("Anna Andersson;anna" + strconv.Itoa(i) + "@example.se\n")
	}
	wantStatus(t, b.upload("/admin/imports", "stor.csv", csv.String()), http.StatusUnprocessableEntity)
	if n := w.rowCounts()["imports"]; n != 0 {
		t.Errorf("%d imports after a refused upload", n)
	}
	if got := w.auditActions(); !slices.Equal(got, rows) {
		t.Errorf("audit rows of a refused upload: %v, were %v", got, rows)
	}
	wantRedirect(t, b.upload("/admin/imports", "liten.csv", "namn;e-post\nAnna;anna@example.se\n"), "/admin/imports/")
	if got := w.auditActions(); len(got) != len(rows)+1 || got[len(got)-1] != "import.create" {
		t.Errorf("audit rows after an upload: %v", got)
	}
}
