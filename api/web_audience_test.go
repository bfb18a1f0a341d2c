package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// audience signs in an editor on a fresh app.
func audience(t *testing.T) (*webTest, *browser) {
	t.Helper()
	w := newWebTest(t, nil)
	w.user("redaktor@example.se", store.RoleEditor, "ett långt lösenord")
	b := w.browser()
	b.signIn("redaktor@example.se", "ett långt lösenord")
	return w, b
}

func (w *webTest) list(slug, name string) *store.List {
	w.t.Helper()
	l := &store.List{Slug: slug, Name: name, Language: "sv", Optin: store.OptinDouble, Visibility: store.VisibilityPublic}
	if err := w.st.CreateList(context.Background(), l); err != nil {
		w.t.Fatal(err)
	}
	return l
}

func wantBody(t *testing.T, rec *httptest.ResponseRecorder, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(rec.Body.String(), s) {
			t.Errorf("page lacks %q\n%s", s, rec.Body)
		}
	}
}

// TestAudienceScreensSayWhatToDoFirst opens every audience screen on an
// empty database: each answers 200 with its empty state.
func TestAudienceScreensSayWhatToDoFirst(t *testing.T) {
	_, b := audience(t)
	for path, want := range map[string]string{
		"/admin/lists":        "Börja med att skapa en lista",
		"/admin/subscribers":  "Det finns inga prenumeranter ännu",
		"/admin/imports":      "Inga importer ännu",
		"/admin/suppressions": "Spärrlistan är tom",
		"/admin/lists/new":    "Skapa listan",
	} {
		rec := b.get(path)
		wantStatus(t, rec, http.StatusOK)
		wantBody(t, rec, want)
	}
}

// TestListCreateEditWithErrorsAtTheField creates the BUS list through
// the form, refuses a bad slug with a Swedish message next to the field
// without writing, and edits every field.
func TestListCreateEditWithErrorsAtTheField(t *testing.T) {
	w, b := audience(t)
	b.get("/admin/lists/new")
	before := w.rowCounts()
	rec := b.post("/admin/lists", url.Values{"name": {"BUS"}, "slug": {"Bus lista"}, "language": {"sv"},
		"optin": {"double"}, "visibility": {"public"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, `id="slug-error"`, "Använd 1–64 tecken", `aria-describedby="slug-hint slug-error" aria-invalid="true"`, `value="BUS"`)
	w.unchanged(before)

	rec = b.post("/admin/lists", url.Values{"name": {"BUS"}, "slug": {"bus"}, "language": {"sv"}, "optin": {"double"},
		"visibility": {"public"}, "description": {"Barn och unga"}, "reply_to": {"bus@example.se"}, "archive": {"true"}})
	wantRedirect(t, rec, "/admin/lists/")
	l, err := w.st.ListBySlug(context.Background(), "bus")
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "BUS" || !l.Archive || l.ReplyTo != "bus@example.se" || l.Visibility != store.VisibilityPublic || l.TrackOpens {
		t.Fatalf("created %+v", l)
	}
	page := b.get(rec.Header().Get("Location"))
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Listan är skapad", webBase+"/subscribe/bus", `action=&#34;`+webBase+`/subscribe/bus&#34;`, "data-copy")

	// A taken slug is an error at the slug field too.
	rec = b.post("/admin/lists", url.Values{"name": {"Igen"}, "slug": {"bus"}, "language": {"sv"}, "optin": {"single"}, "visibility": {"private"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, "En annan lista har redan den kortadressen")

	id := strconv.FormatInt(l.ID, 10)
	rec = b.post("/admin/lists/"+id, url.Values{"name": {"BUS – barn och unga"}, "slug": {"bus"}, "language": {"en"},
		"optin": {"single"}, "visibility": {"private"}, "reply_to": {"Redaktionen <red@example.se>"}, "track_opens": {"true"}, "track_clicks": {"true"}})
	wantRedirect(t, rec, "/admin/lists/"+id)
	l, _ = w.st.List(context.Background(), l.ID)
	if l.Name != "BUS – barn och unga" || l.Language != "en" || l.Optin != "single" || l.Visibility != "private" ||
		l.Archive || !l.TrackOpens || !l.TrackClicks || l.ReplyTo != `"Redaktionen" <red@example.se>` || l.Description != "" {
		t.Fatalf("edited %+v", l)
	}
	page = b.get("/admin/lists/" + id)
	wantBody(t, page, "Listan är intern")
	if strings.Contains(page.Body.String(), webBase+"/subscribe/bus") {
		t.Error("a private list shows a subscribe link")
	}
	rec = b.post("/admin/lists/"+id, url.Values{"name": {"BUS"}, "slug": {"bus"}, "language": {"sv"}, "optin": {"single"},
		"visibility": {"private"}, "reply_to": {"inte en adress"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, `id="reply_to-error"`)

	lists := b.get("/admin/lists")
	wantBody(t, lists, ">BUS – barn och unga<", "/admin/subscribers.csv?list_id="+id)
}

// twin makes two subscribers alike but for the address, each on the
// lists with the given statuses.
func twin(t *testing.T, st *store.Store, email string, on map[int64]string) *store.Subscriber {
	t.Helper()
	var in []store.SubscriptionInput
	for id, status := range on {
		in = append(in, store.SubscriptionInput{ListID: id, Status: status, ConsentBasis: "x"})
	}
	sub := &store.Subscriber{Email: email, Name: "Tvilling", Language: "sv"}
	if err := st.CreateSubscriber(context.Background(), sub, in, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	return sub
}

func statuses(t *testing.T, st *store.Store, id int64) map[int64]string {
	t.Helper()
	sub, err := st.Subscriber(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for _, m := range sub.Subscriptions {
		out[m.ListID] = m.Status + "/" + m.ConsentBasis
	}
	return out
}

// TestPersonFormAndAPIFollowOneRule makes the same change to two equal
// people, one through the person form and one through PATCH
// /api/v1/subscribers/{id}, and requires the same statuses, consent
// records and opt-in mails. A rule changed in one of the two paths only
// (staff-confirmed needs a consent basis; a confirmed person stays
// confirmed) makes them differ.
func TestPersonFormAndAPIFollowOneRule(t *testing.T) {
	w, b := audience(t)
	ctx := context.Background()
	secret := store.NewTokenSecret()
	if _, err := w.st.CreateToken(ctx, "t", store.RoleEditor, secret); err != nil {
		t.Fatal(err)
	}
	bus, nytt := w.list("bus", "BUS"), w.list("nytt", "Senaste nytt")
	cases := []struct {
		name   string
		on     map[int64]string
		choice map[int64]string
		basis  string
		want   map[int64]string
	}{
		{"confirmed without a basis waits for the person", nil, map[int64]string{bus.ID: "confirmed"}, "",
			map[int64]string{bus.ID: "unconfirmed/"}},
		{"confirmed with a basis is confirmed", nil, map[int64]string{bus.ID: "confirmed"}, "telefon 3 mars",
			map[int64]string{bus.ID: "confirmed/telefon 3 mars"}},
		{"keeping a list keeps the confirmation", map[int64]string{bus.ID: "confirmed"}, map[int64]string{nytt.ID: "unsubscribed"}, "",
			map[int64]string{bus.ID: "confirmed/x", nytt.ID: "unsubscribed/"}},
		{"unsubscribing needs no basis", map[int64]string{bus.ID: "confirmed", nytt.ID: "unconfirmed"}, map[int64]string{bus.ID: "unsubscribed"}, "",
			map[int64]string{bus.ID: "unsubscribed/x", nytt.ID: "unconfirmed/x"}},
	}
	for i, tc := range cases {
		viaWeb := twin(t, w.st, fmt.Sprintf("webb%d@example.se", i), tc.on)
		viaAPI := twin(t, w.st, fmt.Sprintf("api%d@example.se", i), tc.on)
		queuedBefore := len(w.queued())

		form := url.Values{"email": {viaWeb.Email}, "name": {"Tvilling"}, "language": {"sv"}, "consent_basis": {tc.basis}}
		var refs []map[string]any
		for id, st := range tc.choice {
			form.Set("list-"+strconv.FormatInt(id, 10), st)
			refs = append(refs, map[string]any{"id": id, "status": st})
		}
		b.get("/admin/subscribers/" + strconv.FormatInt(viaWeb.ID, 10))
		wantRedirect(t, b.post("/admin/subscribers/"+strconv.FormatInt(viaWeb.ID, 10), form), "/admin/subscribers/")
		webMails := len(w.queued()) - queuedBefore

		body, _ := json.Marshal(map[string]any{"lists": refs, "consent_basis": tc.basis})
		req := httptest.NewRequest(http.MethodPatch, "/api/v1/subscribers/"+strconv.FormatInt(viaAPI.ID, 10), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		w.srv.ServeHTTP(rec, req)
		wantStatus(t, rec, http.StatusOK)
		apiMails := len(w.queued()) - queuedBefore - webMails

		gotWeb, gotAPI := statuses(t, w.st, viaWeb.ID), statuses(t, w.st, viaAPI.ID)
		if fmt.Sprint(gotWeb) != fmt.Sprint(gotAPI) || webMails != apiMails {
			t.Errorf("%s: web %v (%d opt-in mails), API %v (%d)", tc.name, gotWeb, webMails, gotAPI, apiMails)
		}
		if fmt.Sprint(gotWeb) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, gotWeb, tc.want)
		}
	}
}

// TestPersonPageShowsConsentHistoryAndEdits adds a person through the
// form, reads their page (subscriptions, basis, the history with who
// did it), and refuses bad attributes at the field.
func TestPersonPageShowsConsentHistoryAndEdits(t *testing.T) {
	w, b := audience(t)
	bus := w.list("bus", "BUS")
	b.get("/admin/subscribers/new")
	rec := b.post("/admin/subscribers", url.Values{"email": {"inte-en-adress"}, "language": {"sv"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, `id="email-error"`, "Skriv en giltig e-postadress")

	rec = b.post("/admin/subscribers", url.Values{"email": {"Anna.Berg@Example.se"}, "name": {"Anna Berg"}, "language": {"sv"},
		"lists": {strconv.FormatInt(bus.ID, 10)}, "consent_basis": {"anmälan på mässan 2026-03-01"}})
	wantRedirect(t, rec, "/admin/subscribers/")
	loc := rec.Header().Get("Location")
	page := b.get(loc)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "<h1>Anna Berg</h1>", "Bekräftad", "anmälan på mässan 2026-03-01", "Lades till", "redaktor", "(web)", "Radera personen")

	rec = b.post(loc, url.Values{"email": {"anna.berg@example.se"}, "name": {"Anna Berg"}, "language": {"en"}, "attributes": {"{inte json"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, `id="attributes-error"`, "JSON-objekt")
	rec = b.post(loc, url.Values{"email": {"anna.berg@example.se"}, "name": {"Anna Berg"}, "language": {"en"}, "attributes": {`{"kommun": "Solna"}`}})
	wantRedirect(t, rec, loc)
	wantBody(t, b.get(loc), "kommun", "Solna", "Uppgifter ändrades")

	// Search finds her by surname, first name and domain.
	for _, q := range []string{"berg", "Anna", "example", "anna.b"} {
		rec := b.get("/admin/subscribers?q=" + url.QueryEscape(q))
		wantBody(t, rec, "anna.berg@example.se")
	}
	rec = b.get("/admin/subscribers?q=solna")
	wantBody(t, rec, "Ingen träff")
	rec = b.get("/admin/subscribers?status=confirmed")
	wantStatus(t, rec, http.StatusBadRequest)
	wantBody(t, rec, `id="status-error"`)
	rec = b.get("/admin/subscribers?list=" + strconv.FormatInt(bus.ID, 10) + "&status=confirmed")
	wantBody(t, rec, "anna.berg@example.se")
	rec = b.get("/admin/subscribers?list=" + strconv.FormatInt(bus.ID, 10) + "&status=unsubscribed")
	wantBody(t, rec, "Ingen träff")
}

// TestSubscriberSearchPagesByKeyset walks 120 people in pages of 50 by
// the next link.
func TestSubscriberSearchPagesByKeyset(t *testing.T) {
	w, b := audience(t)
	bus := w.list("bus", "BUS")
	subs := make([]store.Subscriber, 120)
	for i := range subs {
		subs[i] = store.Subscriber{Email: fmt.Sprintf("p%03d@example.se", i), Name: "Person", Language: "sv"}
	}
	if err := w.st.InsertSubscribersBulk(context.Background(), subs, bus.ID, "test"); err != nil {
		t.Fatal(err)
	}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`)
	seen := 0
	path := "/admin/subscribers?q=person"
	for pages := 0; path != ""; pages++ {
		rec := b.get(path)
		wantStatus(t, rec, http.StatusOK)
		seen += strings.Count(rec.Body.String(), "@example.se</span>")
		path = ""
		if m := next.FindStringSubmatch(rec.Body.String()); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		if pages > 3 {
			t.Fatal("more than three pages")
		}
	}
	if seen != 120 {
		t.Fatalf("saw %d people over the pages, want 120", seen)
	}
}

// TestEraseNamesThePersonAndNeedsTheirAddress erases through the
// confirmation page, which names the person; a post for someone else's
// address erases nothing.
func TestEraseNamesThePersonAndNeedsTheirAddress(t *testing.T) {
	w, b := audience(t)
	sub := twin(t, w.st, "erik@example.se", nil)
	id := strconv.FormatInt(sub.ID, 10)
	page := b.get("/admin/subscribers/" + id + "/erase")
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Radera Tvilling (erik@example.se)?", "Det går inte att ångra")
	before := w.rowCounts()
	wantStatus(t, b.post("/admin/subscribers/"+id+"/erase", url.Values{"email": {"annan@example.se"}}), http.StatusBadRequest)
	w.unchanged(before)
	wantRedirect(t, b.post("/admin/subscribers/"+id+"/erase", url.Values{"email": {"erik@example.se"}}), "/admin/subscribers")
	if _, err := w.st.Subscriber(context.Background(), sub.ID); err == nil {
		t.Fatal("not erased")
	}
	wantBody(t, b.get("/admin/suppressions?email=erik%40example.se"), "Raderad (GDPR)")
}

// TestSuppressionsAddSearchRemove adds an address with a reason and a
// note, finds it, and lifts it.
func TestSuppressionsAddSearchRemove(t *testing.T) {
	w, b := audience(t)
	b.get("/admin/suppressions")
	rec := b.post("/admin/suppressions", url.Values{"email": {"fel"}, "reason": {"manual"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, `id="email-error"`)
	rec = b.post("/admin/suppressions", url.Values{"email": {"Stina@Example.se"}, "reason": {"complaint"}, "note": {"ringde och klagade"}})
	wantRedirect(t, rec, "/admin/suppressions?email=")
	page := b.get(rec.Header().Get("Location"))
	wantBody(t, page, "stina@example.se", "Anmälde skräppost", "ringde och klagade", "Häv spärren")
	wantBody(t, b.get("/admin/suppressions?reason=complaint"), "stina@example.se")
	wantBody(t, b.get("/admin/suppressions?reason=hard_bounce"), "Adressen är inte spärrad")
	wantRedirect(t, b.post("/admin/suppressions/remove", url.Values{"email": {"stina@example.se"}}), "/admin/suppressions")
	if ok := storetest.Suppressed(t, w.st, "stina@example.se"); ok {
		t.Fatal("still suppressed")
	}
}

// upload posts a CSV file as the upload form does: multipart, with the
// CSRF token in the query.
func (b *browser) upload(path, name, content string) *httptest.ResponseRecorder {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write([]byte(content))
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, path+"?csrf="+url.QueryEscape(b.csrf), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// TestImportReviewsColumnsBeforeItStarts uploads a file, sees its
// columns and first rows (a bad row marked) before anything is written
// to subscribers, then starts it with a list and a consent basis: the
// import is queued with the user who started it, and its task is on the
// queue.
func TestImportReviewsColumnsBeforeItStarts(t *testing.T) {
	w, b := audience(t)
	bus := w.list("bus", "BUS")
	b.get("/admin/imports")
	rec := b.upload("/admin/imports", "medlemmar.csv", "namn;e-post;kommun\nAnna;anna@example.se;Solna\nBertil;inte-en-adress;Nacka\n")
	wantRedirect(t, rec, "/admin/imports/")
	loc := rec.Header().Get("Location")
	review := b.get(loc)
	wantStatus(t, review, http.StatusOK)
	wantBody(t, review, "Kolumner i medlemmar.csv", "e-postadress", "egenskap", "anna@example.se", "Hoppas över: ogiltig adress", "Starta importen")
	if n := w.rowCounts()["subscribers"]; n != 0 {
		t.Fatalf("%d subscribers before the import started", n)
	}

	// Subscribe mode without a list is refused at the lists.
	rec = b.post(loc+"/start", url.Values{"mode": {"subscribe"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, `id="list_ids-error"`)

	rec = b.post(loc+"/start", url.Values{"mode": {"subscribe"}, "list_ids": {strconv.FormatInt(bus.ID, 10)}, "consent_basis": {"medlemsregistret 2026"}})
	wantRedirect(t, rec, loc)
	id, _ := strconv.ParseInt(strings.TrimPrefix(loc, "/admin/imports/"), 10, 64)
	imp, err := w.st.Import(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Status != store.ImportQueued || imp.UserID == nil || imp.Size == 0 || imp.ConsentBasis != "medlemsregistret 2026" || !slices.Equal([]int64(imp.ListIDs), []int64{bus.ID}) {
		t.Fatalf("import %+v", imp)
	}
	if ti, err := w.insp.GetTaskInfo(queue.DefaultQueues.Default, "import:"+strconv.FormatInt(id, 10)); err != nil || ti.Type != queue.TypeImportRun {
		t.Errorf("no import task queued: %v", err)
	}
	progress := b.get(loc)
	wantBody(t, progress, `<progress id="import-bar" max="100" value="0"`, "I kö", `data-import="`+loc+`/progress"`)
	js := b.get(loc + "/progress")
	wantStatus(t, js, http.StatusOK)
	var got store.Import
	if err := json.Unmarshal(js.Body.Bytes(), &got); err != nil || got.ID != id {
		t.Fatalf("progress JSON %s: %v", js.Body, err)
	}
	// Started once, its choices stand.
	wantStatus(t, b.post(loc+"/start", url.Values{"mode": {"suppress"}}), http.StatusConflict)
	wantBody(t, b.get("/admin/imports"), "medlemmar.csv", "I kö")

	// A file without an email column is told at the file field.
	rec = b.upload("/admin/imports", "fel.csv", "namn,kommun\nAnna,Solna\n")
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	wantBody(t, rec, `id="file-error"`, "no email column")
}

// TestViewerSeesNoWriteControlsAndForgedPostsAre403 reads every audience
// screen as a viewer (no form that writes), then forges each write with
// the viewer's own valid session and CSRF token: 403, nothing written.
func TestViewerSeesNoWriteControlsAndForgedPostsAre403(t *testing.T) {
	w := newWebTest(t, nil)
	w.user("lasare@example.se", store.RoleViewer, "ett långt lösenord")
	bus := w.list("bus", "BUS")
	sub := twin(t, w.st, "eva@example.se", map[int64]string{bus.ID: "confirmed"})
	if _, err := w.st.Suppress(context.Background(), "spam@example.se", store.SuppressManual, "", store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.signIn("lasare@example.se", "ett långt lösenord")
	lid, sid := strconv.FormatInt(bus.ID, 10), strconv.FormatInt(sub.ID, 10)
	postForm := regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	for _, path := range []string{"/admin/lists", "/admin/lists/" + lid, "/admin/subscribers", "/admin/subscribers/" + sid,
		"/admin/imports", "/admin/suppressions"} {
		rec := b.get(path)
		wantStatus(t, rec, http.StatusOK)
		for _, m := range postForm.FindAllStringSubmatch(rec.Body.String(), -1) {
			if m[1] != "/admin/signout" {
				t.Errorf("%s: a viewer sees a form posting to %s", path, m[1])
			}
		}
		for _, control := range []string{"/admin/lists/new", "/admin/subscribers/new", "/erase", `type="file"`} {
			if strings.Contains(rec.Body.String(), control) {
				t.Errorf("%s: a viewer sees %s", path, control)
			}
		}
	}
	b.get("/admin/lists")
	before := w.rowCounts()
	for _, path := range []string{"/admin/lists", "/admin/lists/" + lid, "/admin/lists/" + lid + "/delete", "/admin/subscribers",
		"/admin/subscribers/" + sid, "/admin/subscribers/" + sid + "/erase", "/admin/imports/1/start", "/admin/imports/1/discard",
		"/admin/suppressions", "/admin/suppressions/remove"} {
		rec := b.post(path, url.Values{"name": {"X"}, "slug": {"x"}, "email": {"eva@example.se"}, "mode": {"suppress"}})
		if rec.Code != http.StatusForbidden {
			t.Errorf("POST %s as a viewer: %d, want 403", path, rec.Code)
		}
	}
	if rec := b.upload("/admin/imports", "x.csv", "email\nny@example.se\n"); rec.Code != http.StatusForbidden {
		t.Errorf("upload as a viewer: %d", rec.Code)
	}
	for _, path := range []string{"/admin/lists/new", "/admin/subscribers/new", "/admin/subscribers/" + sid + "/erase"} {
		if rec := b.get(path); rec.Code != http.StatusForbidden {
			t.Errorf("GET %s as a viewer: %d, want 403", path, rec.Code)
		}
	}
	w.unchanged(before)
}
