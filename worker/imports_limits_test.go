package worker_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// uploadBig stores file as an import in 64 KiB chunks (upload's 7-byte
// chunks would be thousands of rows for a file this size).
func uploadBig(t *testing.T, st *store.Store, imp store.Import, file string) *store.Import {
	t.Helper()
	ctx := context.Background()
	if err := st.CreateImport(ctx, &imp); err != nil {
		t.Fatal(err)
	}
	for i, seq := 0, 0; i < len(file); i, seq = i+64<<10, seq+1 {
		if err := st.AppendImportChunk(ctx, imp.ID, seq, []byte(file[i:min(i+64<<10, len(file))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.QueueImport(ctx, imp.ID, int64(len(file))); err != nil {
		t.Fatal(err)
	}
	return &imp
}

// TestImportRejectsOverlongRowsAndGoesOn: a cell, a row or a row's
// attributes past the limits is one rejected row with its line and the
// reason; the rows after it are imported with their right line numbers.
func TestImportRejectsOverlongRowsAndGoesOn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, nil)
		l := &store.List{Slug: "bus", Name: "BUS"}
		st.CreateList(ctx, l)
		var f strings.Builder
		cols := []string{"email", "name", "kommun"}
		for i := range 20 {
			cols = append(cols, fmt.Sprintf("a%02d", i))
		}
		f.WriteString(strings.Join(cols, ",") + "\n")
		empty := strings.Repeat(",", 20)
		f.WriteString("anna@example.se,Anna,Solna" + empty + "\n") // 2
		// 3: a quoted name of 70 KiB over 700 lines.
		f.WriteString("bo@example.se,\"" + strings.Repeat(strings.Repeat("b", 99)+"\n", 700) + "\",Nacka" + empty + "\n")
		f.WriteString("cia@example.se,Cia,Täby" + empty + "\n") // 704
		// 705: 20 attributes of 1000 characters: more than 16 KiB.
		f.WriteString("dan@example.se,Dan,Kista" + strings.Repeat(","+strings.Repeat("d", 1000), 20) + "\n")
		// 706: every cell under 64 KiB, the row over 256 KiB.
		f.WriteString("eva@example.se,Eva,Lund" + strings.Repeat(","+strings.Repeat("e", 60<<10), 5) + strings.Repeat(",", 15) + "\n")
		f.WriteString("fia@example.se,Fia,Umeå" + empty + "\n") // 707
		imp := e.runImport(t, uploadBig(t, st, store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{l.ID}, ConsentBasis: "x"}, f.String()).ID)
		if imp.Status != store.ImportDone || imp.Created != 3 || imp.Skipped != 3 || imp.RowsRead != 6 {
			t.Fatalf("import: %+v", imp)
		}
		var got []string
		if err := st.ImportRejects(ctx, imp.ID, func(r store.ImportReject) error {
			got = append(got, fmt.Sprintf("%d %s %s: %s", r.Line, r.Reason, r.Email, r.Detail))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"3 too_long bo@example.se: column 2 is longer than 64 KiB",
			"705 too_long dan@example.se: the attribute columns hold more than 16 KiB",
			"706 too_long eva@example.se: the row is longer than 256 KiB",
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rejects:\n%q\nwant\n%q", got, want)
		}
		evs, _, _ := st.Events(ctx, store.EventQuery{})
		lines := map[string]string{}
		for _, ev := range evs {
			if ev.Kind == store.EventConfirmed && ev.SubscriberID != nil {
				sub, _ := st.Subscriber(ctx, *ev.SubscriberID)
				lines[sub.Email] = fmt.Sprint(ev.Data["line"])
			}
		}
		if !reflect.DeepEqual(lines, map[string]string{"anna@example.se": "2", "cia@example.se": "704", "fia@example.se": "707"}) {
			t.Fatalf("lines of the imported rows: %v", lines)
		}
	})
}

// TestImportSetsTrackingConsentOnTrackedLists: the tracking_consent
// column is each row's answer, kept on the import's lists that track;
// an existing subscription takes it only when the import overwrites.
func TestImportSetsTrackingConsentOnTrackedLists(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, nil)
		tracked := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", TrackClicks: true}
		plain := &store.List{Slug: "bus", Name: "BUS"}
		st.CreateList(ctx, tracked)
		st.CreateList(ctx, plain)
		no := false
		old := &store.Subscriber{Email: "old@example.se"}
		if err := st.CreateSubscriber(ctx, old, []store.SubscriptionInput{{ListID: tracked.ID, Status: store.SubConfirmed,
			ConsentBasis: "form", TrackingConsent: &no}}, store.Actor{}); err != nil {
			t.Fatal(err)
		}
		consent := func(email string, list int64) string {
			sub, err := st.SubscriberByEmail(ctx, email)
			if err != nil {
				return "none"
			}
			for _, m := range sub.Subscriptions {
				if m.ListID == list {
					return fmt.Sprint(m.TrackingConsent)
				}
			}
			return "not on the list"
		}
		file := "email;Spårning\nja@example.se;Ja\nnej@example.se;nej\ntom@example.se;\nold@example.se;yes\nkanske@example.se;kanske\n"
		imp := e.runImport(t, upload(t, st, store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{tracked.ID, plain.ID},
			ConsentBasis: "member register"}, file).ID)
		if imp.Created != 3 || imp.Skipped != 1 || imp.Updated != 1 {
			t.Fatalf("import: %+v", imp)
		}
		if got := rejects(t, st, imp.ID); !reflect.DeepEqual(got, []string{"6 bad_value kanske@example.se"}) {
			t.Fatalf("rejects %q", got)
		}
		for _, c := range []struct {
			email string
			list  *store.List
			want  string
		}{
			{"ja@example.se", tracked, "true"},
			{"ja@example.se", plain, "false"}, // the list does not track: no answer kept
			{"nej@example.se", tracked, "false"},
			{"tom@example.se", tracked, "false"},
			{"old@example.se", tracked, "false"}, // existing, and no overwrite
			{"old@example.se", plain, "false"},
		} {
			if got := consent(c.email, c.list.ID); got != c.want {
				t.Errorf("%s on %s: tracking consent %s, want %s", c.email, c.list.Slug, got, c.want)
			}
		}
		// With overwrite the file's answer replaces the old one, recorded
		// as a tracking consent event with the import and line.
		imp = e.runImport(t, upload(t, st, store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{tracked.ID},
			ConsentBasis: "member register", Overwrite: true}, file).ID)
		if imp.Updated != 1 || imp.Unchanged != 3 {
			t.Fatalf("overwrite import: %+v", imp)
		}
		if got := consent("old@example.se", tracked.ID); got != "true" {
			t.Fatalf("old@example.se: tracking consent %s after an overwrite import", got)
		}
		evs, _, _ := st.Events(ctx, store.EventQuery{SubscriberID: old.ID})
		var found bool
		for _, ev := range evs {
			if ev.Kind == store.EventTrackingConsent && ev.Source == "import" && ev.Data["tracking_consent"] == true &&
				fmt.Sprint(ev.Data["line"]) == "5" && fmt.Sprint(ev.Data["import_id"]) == fmt.Sprint(imp.ID) {
				found = true
			}
		}
		if !found {
			t.Fatalf("no tracking consent event: %+v", evs)
		}
		// The same file once more changes nothing.
		if again := e.runImport(t, upload(t, st, store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{tracked.ID},
			ConsentBasis: "member register", Overwrite: true}, file).ID); again.Updated != 0 || again.Unchanged != 4 {
			t.Fatalf("third import: %+v", again)
		}
	})
}
