package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
)

const editorBody = ":::article{kicker=\"Nytt\"}\n## Rubrik\n\nHej {{ first_name | default \"vän\" }}!\n:::\n"

// editorSetup is a signed-in editor, a list with three confirmed
// subscribers (one on it twice over two lists, one suppressed) and a
// draft.
func editorSetup(t testing.TB) (*webTest, *browser, *store.Campaign, [2]int64) {
	t.Helper()
	w := newWebTest(t, nil)
	ctx := context.Background()
	w.user("redaktor@example.se", store.RoleEditor, "ett långt lösenord")
	b := w.browser()
	b.signIn("redaktor@example.se", "ett långt lösenord")
	var lists [2]int64
	for i, slug := range []string{"nytt", "bus"} {
		l := &store.List{Slug: slug, Name: strings.ToUpper(slug), Language: "sv", Optin: store.OptinDouble}
		if err := w.st.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
		lists[i] = l.ID
	}
	for i, email := range []string{"a@kommun.example.se", "b@kommun.example.se", "c@kommun.example.se"} {
		in := []store.SubscriptionInput{{ListID: lists[0], Status: store.SubConfirmed, ConsentBasis: "test"}}
		if i == 0 {
			in = append(in, store.SubscriptionInput{ListID: lists[1], Status: store.SubConfirmed, ConsentBasis: "test"})
		}
		if err := w.st.CreateSubscriber(ctx, &store.Subscriber{Email: email, Language: "sv"}, in, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.st.Suppress(ctx, "c@kommun.example.se", store.SuppressManual, "test", store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	c := &store.Campaign{Name: "Mars", Subject: "Senaste nytt i mars", Body: editorBody, ListIDs: []int64{lists[0], lists[1]}}
	if err := w.st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	return w, b, c, lists
}

func sendQuery(id int64, date, clock, fold string) string {
	return fmt.Sprintf("/admin/campaigns/%d/send?%s", id, url.Values{"when": {"later"}, "date": {date}, "time": {clock}, "fold": {fold}}.Encode())
}

// TestEditorSchedulesSwedishTimeAcrossDSTAtTheRightInstant: 08:00 on the
// day after each change of 2026 is stored as the UTC instant Stockholm's
// offset of that day gives (UTC+2 after the spring change, UTC+1 after
// the autumn one), through the confirmation page that names the lists
// and counts each person once and none of the suppressed.
func TestEditorSchedulesSwedishTimeAcrossDSTAtTheRightInstant(t *testing.T) {
	for _, tc := range []struct {
		date string
		want time.Time
	}{
		{"2026-03-30", time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC)},
		{"2026-10-26", time.Date(2026, 10, 26, 7, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.date, func(t *testing.T) {
			w, b, c, _ := editorSetup(t)
			rec := b.get(sendQuery(c.ID, tc.date, "08:00", ""))
			wantStatus(t, rec, http.StatusOK)
			page := rec.Body.String()
			for _, want := range []string{"NYTT, BUS", `<strong id="recipients">2</strong>`, tc.want.Format(time.RFC3339), "kl. 08:00"} {
				if !strings.Contains(page, want) {
					t.Errorf("confirmation lacks %q", want)
				}
			}
			rec = b.post(fmt.Sprintf("/admin/campaigns/%d/send", c.ID), url.Values{"when": {"later"}, "date": {tc.date}, "time": {"08:00"}})
			wantRedirect(t, rec, "/admin/campaigns?status=scheduled")
			got, err := w.st.Campaign(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != store.CampaignScheduled || got.SendAt == nil || !got.SendAt.Equal(tc.want) {
				t.Fatalf("stored %s at %v, want scheduled at %v", got.Status, got.SendAt, tc.want)
			}
		})
	}
}

// TestEditorRefusesATimeThatDoesNotExistInSpring: 02:30 on 29 March 2026
// never happens in Sweden; the page says so and nothing is scheduled.
func TestEditorRefusesATimeThatDoesNotExistInSpring(t *testing.T) {
	w, b, c, _ := editorSetup(t)
	rec := b.get(sendQuery(c.ID, "2026-03-29", "02:30", ""))
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), "Klockan 02:30 finns inte den 29 mars 2026") {
		t.Errorf("no message about the missing hour:\n%s", rec.Body)
	}
	if strings.Contains(rec.Body.String(), `id="confirm-send"`) {
		t.Error("a nonexistent time can still be confirmed")
	}
	rec = b.post(fmt.Sprintf("/admin/campaigns/%d/send", c.ID), url.Values{"when": {"later"}, "date": {"2026-03-29"}, "time": {"02:30"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	got, _ := w.st.Campaign(context.Background(), c.ID)
	if got.Status != store.CampaignDraft {
		t.Fatalf("campaign is %s after a refused time", got.Status)
	}
}

// TestEditorSaysWhenAnAutumnTimeHappensTwice: 02:30 on 25 October 2026
// happens twice; the first (summer time) is taken unless the second is
// chosen, and the page says which.
func TestEditorSaysWhenAnAutumnTimeHappensTwice(t *testing.T) {
	w, b, c, _ := editorSetup(t)
	rec := b.get(sendQuery(c.ID, "2026-10-25", "02:30", ""))
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "finns två gånger") || !strings.Contains(rec.Body.String(), "2026-10-25T00:30:00Z") {
		t.Errorf("the doubled hour is not said:\n%s", rec.Body)
	}
	rec = b.post(fmt.Sprintf("/admin/campaigns/%d/send", c.ID), url.Values{"when": {"later"}, "date": {"2026-10-25"}, "time": {"02:30"}, "fold": {"second"}})
	wantRedirect(t, rec, "/admin/campaigns")
	got, _ := w.st.Campaign(context.Background(), c.ID)
	if want := time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC); got.SendAt == nil || !got.SendAt.Equal(want) {
		t.Fatalf("send_at %v, want %v (the second 02:30)", got.SendAt, want)
	}
}

// TestEditorDraftWithoutListsSavesButCannotBeSent: a draft may have no
// lists; sending it names the missing field.
func TestEditorDraftWithoutListsSavesButCannotBeSent(t *testing.T) {
	w, b, _, _ := editorSetup(t)
	b.get("/admin/campaigns/new")
	rec := b.post("/admin/campaigns/new", url.Values{"name": {"April"}, "subject": {"Nytt i april"}, "body": {editorBody}})
	wantRedirect(t, rec, "/admin/campaigns/")
	id, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rec.Header().Get("Location"), "/admin/campaigns/"), "/edit"), 10, 64)
	got, err := w.st.Campaign(context.Background(), id)
	if err != nil || len(got.ListIDs) != 0 {
		t.Fatalf("draft %v lists %v", err, got)
	}
	rec = b.get(fmt.Sprintf("/admin/campaigns/%d/send?when=now", id))
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `id="list_ids-error">Välj minst en lista`) {
		t.Errorf("missing lists not named:\n%s", rec.Body)
	}
	rec = b.post(fmt.Sprintf("/admin/campaigns/%d/send", id), url.Values{"when": {"now"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	// The API says the same through the same function.
	if err := func() error { _, err := w.st.ScheduleCampaign(context.Background(), id, time.Time{}); return err }(); err == nil {
		t.Fatal("a campaign without lists was scheduled")
	}
}

// TestEditorAutosaveConflictKeepsBothTexts: two people edit the same
// revision; the second save is refused with the first's text shown, and
// the first's text is what is stored. Saving again from the revision now
// current is the deliberate choice to replace it.
func TestEditorAutosaveConflictKeepsBothTexts(t *testing.T) {
	w, anna, c, lists := editorSetup(t)
	w.user("bo@example.se", store.RoleEditor, "ett annat långt lösenord")
	bo := w.browser()
	bo.signIn("bo@example.se", "ett annat långt lösenord")
	edit := fmt.Sprintf("/admin/campaigns/%d/edit", c.ID)
	anna.get(edit)
	bo.get(edit)
	form := func(body string, rev int) url.Values {
		return url.Values{"name": {c.Name}, "subject": {c.Subject}, "body": {body}, "revision": {strconv.Itoa(rev)},
			"list_ids": {strconv.FormatInt(lists[0], 10)}}
	}
	auto := fmt.Sprintf("/admin/campaigns/%d/autosave", c.ID)
	rec := anna.post(auto, form(editorBody+"\nAnnas rad\n", c.Revision))
	wantStatus(t, rec, http.StatusOK)
	var ok struct {
		Saved    bool
		Revision int
	}
	json.Unmarshal(rec.Body.Bytes(), &ok)
	if !ok.Saved || ok.Revision != c.Revision+1 {
		t.Fatalf("first save: %s", rec.Body)
	}
	rec = bo.post(auto, form(editorBody+"\nBos rad\n", c.Revision))
	wantStatus(t, rec, http.StatusConflict)
	var conflict struct {
		Conflict bool
		Message  string
		Theirs   struct {
			Body     string
			Revision int
		}
	}
	json.Unmarshal(rec.Body.Bytes(), &conflict)
	if !conflict.Conflict || !strings.Contains(conflict.Theirs.Body, "Annas rad") || !strings.Contains(conflict.Message, "Någon annan") {
		t.Fatalf("conflict answer: %s", rec.Body)
	}
	got, _ := w.st.Campaign(context.Background(), c.ID)
	if !strings.Contains(got.Body, "Annas rad") || strings.Contains(got.Body, "Bos rad") {
		t.Fatalf("stored body after the conflict:\n%s", got.Body)
	}
	// Without scripts: the form keeps Bo's text and shows Anna's.
	rec = bo.post(edit, form(editorBody+"\nBos rad\n", c.Revision))
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if page := rec.Body.String(); !strings.Contains(page, "Bos rad") || !strings.Contains(page, "Annas rad") || !strings.Contains(page, `id="conflict"`) {
		t.Fatalf("the no-script conflict page lacks a text:\n%s", page)
	}
	rec = bo.post(auto, form(editorBody+"\nBos rad\n", conflict.Theirs.Revision))
	wantStatus(t, rec, http.StatusOK)
	got, _ = w.st.Campaign(context.Background(), c.ID)
	if !strings.Contains(got.Body, "Bos rad") {
		t.Fatal("a deliberate save over the other version did not apply")
	}
}

// TestEditorPreviewIsFramableSandboxedAndInert: the preview the editor
// frames may be framed by the workspace only, runs nothing, switches the
// mail's dark rules, and follows the reader's language.
func TestEditorPreviewIsFramableSandboxedAndInert(t *testing.T) {
	_, b, c, _ := editorSetup(t)
	b.get(fmt.Sprintf("/admin/campaigns/%d/edit", c.ID))
	rec := b.get(fmt.Sprintf("/admin/campaigns/%d/preview?lang=en&scheme=dark&as=a@kommun.example.se", c.ID))
	wantStatus(t, rec, http.StatusOK)
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "script-src") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("preview policy %q", csp)
	}
	html := rec.Body.String()
	if strings.Contains(html, "prefers-color-scheme: dark") || !strings.Contains(html, "min-width: 0px") {
		t.Error("dark preview does not force the dark rules")
	}
	if !strings.Contains(html, "Unsubscribe") {
		t.Error("an English reader does not get the English footer")
	}
	if strings.Contains(html, "/unsubscribe/") && !strings.Contains(rec.Header().Get("X-Utskick-Preview"), "inert") {
		t.Error("preview does not say its links are inert")
	}
	rec = b.get(fmt.Sprintf("/admin/campaigns/%d/preview?format=text&lang=sv", c.ID))
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "RUBRIK") && !strings.Contains(rec.Body.String(), "Rubrik") {
		t.Errorf("text part: %s", rec.Body)
	}
}

// TestCampaignListAndCalendar: the list filters by status and search;
// the calendar puts a scheduled issue on its Swedish day and time.
func TestCampaignListAndCalendar(t *testing.T) {
	w, b, c, _ := editorSetup(t)
	ctx := context.Background()
	other := &store.Campaign{Name: "BUS oktober", Subject: "Barn och unga", Body: editorBody, ListIDs: c.ListIDs}
	if err := w.st.CreateCampaign(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.ScheduleCampaign(ctx, other.ID, time.Date(2026, 3, 31, 22, 30, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	rec := b.get("/admin/campaigns?q=bus")
	wantStatus(t, rec, http.StatusOK)
	if page := rec.Body.String(); !strings.Contains(page, "BUS oktober") || strings.Contains(page, ">Mars</a>") {
		t.Errorf("search for bus:\n%s", page)
	}
	rec = b.get("/admin/campaigns?status=draft")
	if page := rec.Body.String(); !strings.Contains(page, ">Mars</a>") || strings.Contains(page, "BUS oktober") {
		t.Errorf("drafts tab:\n%s", page)
	}
	// 22:30 UTC on 31 March is 00:30 on 1 April in Stockholm (UTC+2).
	rec = b.get("/admin/campaigns/calendar?month=2026-04")
	wantStatus(t, rec, http.StatusOK)
	page := rec.Body.String()
	i := strings.Index(page, "1 april 2026")
	if i < 0 || !strings.Contains(page[i:], `>00:30</time> <a href="/admin/campaigns/`+strconv.FormatInt(other.ID, 10)+`">BUS oktober`) {
		t.Errorf("calendar of April:\n%s", page)
	}
	rec = b.get("/admin/campaigns/calendar?month=2026-03")
	if strings.Contains(rec.Body.String(), "BUS oktober") {
		t.Error("the issue shows in March too")
	}
}
