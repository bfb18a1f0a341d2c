package worker_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// upload stores file as an import the way the API does, in small chunks
// so that rows straddle chunk boundaries.
func upload(t *testing.T, st *store.Store, imp store.Import, file string) *store.Import {
	t.Helper()
	ctx := context.Background()
	if err := st.CreateImport(ctx, &imp); err != nil {
		t.Fatal(err)
	}
	for i, seq := 0, 0; i < len(file); i, seq = i+7, seq+1 {
		if err := st.AppendImportChunk(ctx, imp.ID, seq, []byte(file[i:min(i+7, len(file))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.QueueImport(ctx, imp.ID, int64(len(file))); err != nil {
		t.Fatal(err)
	}
	return &imp
}

func (e *env) runImport(t *testing.T, id int64) *store.Import {
	t.Helper()
	err := e.h.Process(context.Background(), queue.NewImportTask(id))
	imp, gerr := e.st.Import(context.Background(), id)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if err != nil && imp.Status != store.ImportFailed {
		t.Fatalf("import task: %v", err)
	}
	return imp
}

func rejects(t *testing.T, st *store.Store, id int64) []string {
	t.Helper()
	var out []string
	err := st.ImportRejects(context.Background(), id, func(r store.ImportReject) error {
		out = append(out, fmt.Sprintf("%d %s %s", r.Line, r.Reason, r.Email))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func status(t *testing.T, st *store.Store, email string, list int64) string {
	t.Helper()
	sub, err := st.SubscriberByEmail(context.Background(), email)
	if err != nil {
		return "none"
	}
	for _, m := range sub.Subscriptions {
		if m.ListID == list {
			return m.Status
		}
	}
	return ""
}

func TestImportSubscribeReportsRejectsAndRerunChangesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, nil)
		a := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt"}
		b := &store.List{Slug: "bus", Name: "BUS"}
		st.CreateList(ctx, a)
		st.CreateList(ctx, b)
		left := &store.Subscriber{Email: "left@example.se"}
		st.CreateSubscriber(ctx, left, []store.SubscriptionInput{{ListID: a.ID, Status: store.SubUnsubscribed}, {ListID: b.ID, Status: store.SubUnsubscribed}}, store.Actor{})
		if _, err := st.Suppress(ctx, "bounced@example.se", store.SuppressHardBounce, "", store.Actor{}); err != nil {
			t.Fatal(err)
		}
		// Swedish Excel: BOM, semicolons, Swedish column names, a quoted
		// name over two lines, an attribute column.
		file := "\ufeffE-post;Namn;Språk;kommun\r\n" +
			"anna@example.se;Anna Andersson;sv;Solna\r\n" + // 2
			"inte-en-adress;X;;\r\n" + // 3 invalid
			" ANNA@Example.SE ;Anna igen;;\r\n" + // 4 duplicate of 2
			"bo@exämple.se;\"Bo\nBosson\";en;\r\n" + // 5-6: IDN domain, name on two lines
			"left@example.se;Lämnat;;\r\n" + // 7 unsubscribed before
			"bounced@example.se;;;\r\n" + // 8 suppressed
			"cia@example.se;Cia;sv;Nacka;extra\r\n" // 9 bad row
		imp := upload(t, st, store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{a.ID, b.ID},
			ConsentBasis: "paper form at the fair, 2026-11-20"}, file)
		imp = e.runImport(t, imp.ID)
		if imp.Status != store.ImportDone || imp.Created != 2 || imp.Updated != 0 || imp.Skipped != 5 || imp.Unchanged != 0 || imp.Progress != 1 {
			t.Fatalf("import: %+v", imp)
		}
		want := []string{
			"3 invalid_address inte-en-adress",
			"4 duplicate anna@example.se",
			"7 unsubscribed left@example.se",
			"8 suppressed ", // no address in the report
			"9 bad_row cia@example.se",
		}
		if got := rejects(t, st, imp.ID); !reflect.DeepEqual(got, want) {
			t.Fatalf("rejects:\n%q\nwant\n%q", got, want)
		}
		anna, err := st.SubscriberByEmail(ctx, "anna@example.se")
		if err != nil || anna.Name != "Anna Andersson" || anna.Attributes["kommun"] != "Solna" {
			t.Fatalf("anna: %+v %v", anna, err)
		}
		bo, err := st.SubscriberByEmail(ctx, "bo@xn--exmple-cua.se")
		if err != nil || bo.Name != "Bo Bosson" || bo.Language != "en" {
			t.Fatalf("bo: %+v %v", bo, err)
		}
		if status(t, st, "anna@example.se", a.ID) != store.SubConfirmed || status(t, st, "left@example.se", a.ID) != store.SubUnsubscribed ||
			status(t, st, "left@example.se", b.ID) != store.SubUnsubscribed || status(t, st, "bounced@example.se", a.ID) != "none" {
			t.Fatal("subscriptions not as the file and the earlier choices say")
		}
		// The consent record names the import, the line and the basis.
		evs, _, _ := st.Events(ctx, store.EventQuery{SubscriberID: anna.ID})
		var found bool
		for _, ev := range evs {
			if ev.Kind == store.EventConfirmed && ev.Source == "import" && ev.Data["consent_basis"] == "paper form at the fair, 2026-11-20" &&
				fmt.Sprint(ev.Data["import_id"]) == fmt.Sprint(imp.ID) && fmt.Sprint(ev.Data["line"]) == "2" {
				found = true
			}
		}
		if !found {
			t.Fatalf("no consent event for the import: %+v", evs)
		}
		// The upload and the seen-set are gone once done.
		counts, _ := st.RowCounts(ctx)
		if counts["import_chunks"] != 0 || counts["import_seen"] != 0 {
			t.Fatalf("leftovers: %v", counts)
		}

		// The same file again changes nothing.
		before, _ := st.RowCounts(ctx)
		again := e.runImport(t, upload(t, st, store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{a.ID, b.ID},
			ConsentBasis: "paper form at the fair, 2026-11-20"}, file).ID)
		after, _ := st.RowCounts(ctx)
		if again.Created != 0 || again.Updated != 0 || again.Unchanged != 2 || again.Skipped != 5 {
			t.Fatalf("second run: %+v", again)
		}
		for _, tbl := range []string{"subscribers", "subscriptions", "events", "suppressions"} {
			if before[tbl] != after[tbl] {
				t.Errorf("second run changed %s: %d → %d", tbl, before[tbl], after[tbl])
			}
		}
	})
}

func TestErasedAddressInALaterImportIsSkippedAsSuppressed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, nil)
		l := &store.List{Slug: "bus", Name: "BUS"}
		st.CreateList(ctx, l)
		sub := &store.Subscriber{Email: "dora@example.se", Name: "Dora"}
		st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed, ConsentBasis: "x"}}, store.Actor{})
		if err := st.EraseSubscriber(ctx, sub.ID, store.Actor{Source: "api"}); err != nil {
			t.Fatal(err)
		}
		imp := e.runImport(t, upload(t, st, store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{l.ID}, ConsentBasis: "old list"},
			"email,name\nDora@Example.se ,Dora\nerik@example.se,Erik\n").ID)
		if imp.Created != 1 || imp.Skipped != 1 {
			t.Fatalf("import: %+v", imp)
		}
		if got := rejects(t, st, imp.ID); !slices.Equal(got, []string{"2 suppressed "}) {
			t.Fatalf("rejects %q", got)
		}
		if _, err := st.SubscriberByEmail(ctx, "dora@example.se"); err == nil {
			t.Fatal("the erased address came back")
		}
	})
}

func TestImportModesUnsubscribeAndSuppress(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		f := seed(t, st, 6)
		a := f.lists[0]
		imp := e.runImport(t, upload(t, st, store.Import{Mode: store.ImportUnsubscribe, ListIDs: store.IDList{a.ID}},
			"email\nreader00000@example.org\nreader00002@example.org\nnobody@example.org\n").ID)
		// reader 0 is on a; reader 2 is not (every third is on both, 2 is on b only).
		if imp.Updated != 1 || imp.Unchanged != 1 || imp.Skipped != 1 || status(t, st, "reader00000@example.org", a.ID) != store.SubUnsubscribed {
			t.Fatalf("unsubscribe import: %+v", imp)
		}
		imp = e.runImport(t, upload(t, st, store.Import{Mode: store.ImportSuppress}, "email\nreader00001@example.org\nstranger@example.org\n").ID)
		if imp.Created != 2 {
			t.Fatalf("suppress import: %+v", imp)
		}
		for _, addr := range []string{"reader00001@example.org", "stranger@example.org"} {
			if ok := storetest.Suppressed(t, st, addr); !ok {
				t.Errorf("%s not suppressed", addr)
			}
		}
		imp = e.runImport(t, upload(t, st, store.Import{Mode: store.ImportSuppress}, "email\nstranger@example.org\n").ID)
		if imp.Unchanged != 1 || imp.Created != 0 {
			t.Fatalf("suppress again: %+v", imp)
		}
	})
}

// TestImportResumesAfterACrash applies the first rows as a dead run would
// have (committed, opt-ins not yet enqueued), then runs the task: nothing
// is applied twice and the missing opt-in mails are enqueued.
func TestImportResumesAfterACrash(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	e := newEnv(t, st, nil)
	l := &store.List{Slug: "bus", Name: "BUS"}
	st.CreateList(ctx, l)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 2500 {
		fmt.Fprintf(&b, "p%04d@example.org\n", i)
	}
	imp := upload(t, st, store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{l.ID}}, b.String())
	started, err := st.StartImport(ctx, imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows := []store.ImportRow{{Line: 2, Email: "p0000@example.org"}, {Line: 3, Email: "p0001@example.org"}}
	if _, err := st.ApplyImportBatch(ctx, started, rows, store.ImportCheckpoint{Line: 3, Bytes: 40}); err != nil {
		t.Fatal(err)
	}
	done := e.runImport(t, imp.ID)
	if done.Status != store.ImportDone || done.Created != 2500 || done.RowsRead != 2500 || done.Skipped != 0 {
		t.Fatalf("resumed import: %+v", done)
	}
	insp := asynq.NewInspectorFromRedisClient(e.rc.Client)
	tasks, err := insp.ListPendingTasks(e.queues.Critical, asynq.PageSize(5000))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2500 {
		t.Fatalf("%d opt-in tasks queued, want 2500 (one per new subscriber)", len(tasks))
	}
}

// TestOptinMailAtMostOncePerTenMinutes asks three times for the same
// confirmation; one mail goes out, over real SMTP.
func TestOptinMailAtMostOncePerTenMinutes(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	e := newEnv(t, st, nil)
	l := &store.List{Slug: "bus", Name: "BUS"}
	st.CreateList(ctx, l)
	sub := &store.Subscriber{Email: "eva@example.se"}
	st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubUnconfirmed}}, store.Actor{})
	e.start(t)
	for range 3 {
		if err := e.q.Enqueue(ctx, queue.NewOptinTask(queue.OptinPayload{SubscriberID: sub.ID, ListIDs: []int64{l.ID}})); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "one opt-in mail", 10*time.Second, func() bool { return e.outbox(t)["eva@example.se"] >= 1 })
	time.Sleep(time.Second) // the other two tasks run meanwhile
	if n := e.outbox(t)["eva@example.se"]; n != 1 {
		t.Fatalf("%d confirmation mails, want 1", n)
	}
	// A hard-bounced address gets no confirmation mail at all.
	st.Suppress(ctx, "fred@example.se", store.SuppressHardBounce, "", store.Actor{})
	fred := &store.Subscriber{Email: "fred@example.se"}
	st.CreateSubscriber(ctx, fred, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubUnconfirmed}}, store.Actor{})
	if err := e.h.Process(ctx, queue.NewOptinTask(queue.OptinPayload{SubscriberID: fred.ID, ListIDs: []int64{l.ID}})); err != nil {
		t.Fatal(err)
	}
	if n := e.outbox(t)["fred@example.se"]; n != 0 {
		t.Fatalf("suppressed address got %d confirmation mails", n)
	}
}
