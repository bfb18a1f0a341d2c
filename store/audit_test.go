package store_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestAuditLogHasNoUpdateOrDeletePathInCode scans the store's code: no
// statement updates or deletes audit_log rows, by SQL or through gorm's
// model. (audit_personal, the erasable side table, may be deleted from.)
func TestAuditLogHasNoUpdateOrDeletePathInCode(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`(?i)(update\s+audit_log\b|delete\s+from\s+audit_log\b|truncate\s+(table\s+)?audit_log\b|` +
		`Model\(&AuditRow\{\}\)\.Update|Delete\(&AuditRow\b|Delete\(&\[\]AuditRow|Save\(&row\)|Table\("audit_log"\)\.(Update|Delete))`)
	scanned := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scanned++
		for i, line := range strings.Split(string(b), "\n") {
			if bad.MatchString(line) {
				t.Errorf("%s:%d changes the audit log: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
	if scanned < 20 {
		t.Fatalf("scanned %d files: not the store package", scanned)
	}
}

// TestAuditLogRefusesUpdateAndDelete: the database itself refuses to
// change or remove a row (triggers), on SQLite and Postgres.
func TestAuditLogRefusesUpdateAndDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := st.AppendAudit(ctx, store.Actor{Source: "test", UserID: 7}, "auth.signin_failed", "user", "7", map[string]any{"email": "a@example.se"}); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{
			"UPDATE audit_log SET action = 'nothing'",
			"DELETE FROM audit_log",
		} {
			if err := store.DBForTest(st).WithContext(ctx).Exec(stmt).Error; err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
			}
		}
		rows, _, err := st.AuditLog(ctx, store.AuditQuery{})
		if err != nil || len(rows) != 1 || rows[0].Action != "auth.signin_failed" {
			t.Fatalf("rows = %+v, %v; want the one row unchanged", rows, err)
		}
	})
}

// TestErasureRemovesThePersonsValuesFromTheAuditLog: an address change
// is logged with its values; after the person's erasure the row is still
// there (who changed what, when) but the values are gone.
func TestErasureRemovesThePersonsValuesFromTheAuditLog(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	l := &store.List{Slug: "bus", Name: "BUS"}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	sub := &store.Subscriber{Email: "anna@example.se"}
	if _, err := st.StaffCreateSubscriber(ctx, sub, []store.ListChoice{{ListID: l.ID}}, "", store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	actx, _ := store.StartAudit(store.WithActor(ctx, store.Actor{Source: "api", TokenID: 1}), "subscriber.update", "subscriber", "")
	email := "anna.a@example.se"
	if _, err := st.StaffUpdateSubscriber(actx, sub.ID, store.SubscriberPatch{Email: &email}, nil, "", store.Actor{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	rows, _, err := st.AuditLog(ctx, store.AuditQuery{ObjectType: "subscriber"})
	if err != nil || len(rows) != 1 || !strings.Contains(toJSON(rows[0].Changes), "anna.a@example.se") {
		t.Fatalf("before erasure: %+v %v, want one row with the new address", rows, err)
	}
	if err := st.EraseSubscriber(ctx, sub.ID, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	rows, _, err = st.AuditLog(ctx, store.AuditQuery{ObjectType: "subscriber"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("after erasure: %+v %v, want the row kept", rows, err)
	}
	if s := toJSON(rows[0].Changes); strings.Contains(s, "anna") {
		t.Errorf("after erasure the audit row still holds the address: %s", s)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAuditReportsWhatCameAfterItsRow: what a request records after its
// row was appended by an earlier transaction is reported by Late, so
// that a handler that splits its action over transactions is seen.
func TestAuditReportsWhatCameAfterItsRow(t *testing.T) {
	st := storetest.Open(t)
	ctx, a := store.StartAudit(context.Background(), "list.create", "list", "")
	l := &store.List{Slug: "a", Name: "A"}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	if late := a.Late(); len(late) != 0 {
		t.Fatalf("late before anything came late: %v", late)
	}
	a.Note("after", "the row")
	if late := a.Late(); len(late) != 1 || late[0] != "after" {
		t.Errorf("late = %v, want [after]", late)
	}
}

// TestAtomicIsOneChangeWithItsRow: store calls run in Atomic commit
// together with the request's one audit row, appended at the end (so
// what they record after their own transaction is in it); an error of a
// later call undoes the earlier ones and leaves no row. Two calls
// outside Atomic are two commits, which the entry counts.
func TestAtomicIsOneChangeWithItsRow(t *testing.T) {
	st := storetest.Open(t)
	bg := context.Background()
	ctx, a := store.StartAudit(bg, "list.create", "list", "")
	err := st.Atomic(ctx, func(ctx context.Context) error {
		if err := st.CreateList(ctx, &store.List{Slug: "a", Name: "A"}); err != nil {
			return err
		}
		store.AuditOf(ctx).Note("second", "step")
		return st.CreateList(ctx, &store.List{Slug: "a", Name: "A again"}) // the slug is taken
	})
	if err == nil {
		t.Fatal("a second list with the same slug was made")
	}
	if ls, _ := st.ListsBrief(bg); len(ls) != 0 {
		t.Errorf("lists after the failed block: %+v", ls)
	}
	if rows, _, _ := st.AuditLog(bg, store.AuditQuery{}); len(rows) != 0 {
		t.Errorf("audit rows after the failed block: %+v", rows)
	}
	if n := a.Commits(); n != 0 {
		t.Errorf("commits after the failed block: %d", n)
	}

	ctx, a = store.StartAudit(bg, "list.create", "list", "")
	err = st.Atomic(ctx, func(ctx context.Context) error {
		if err := st.CreateList(ctx, &store.List{Slug: "a", Name: "A"}); err != nil {
			return err
		}
		store.AuditOf(ctx).Note("second", "step")
		return st.CreateList(ctx, &store.List{Slug: "b", Name: "B"})
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, _ := st.AuditLog(bg, store.AuditQuery{})
	if len(rows) != 1 || rows[0].Changes["second"] != "step" {
		t.Errorf("audit rows of the block: %+v", rows)
	}
	if late, n := a.Late(), a.Commits(); len(late) != 0 || n != 1 {
		t.Errorf("late %v, commits %d; want none and 1", late, n)
	}

	ctx, a = store.StartAudit(bg, "list.create", "list", "")
	for _, slug := range []string{"c", "d"} {
		if err := st.CreateList(ctx, &store.List{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.Commits(); n != 2 {
		t.Errorf("commits of two calls outside Atomic: %d, want 2", n)
	}
}
