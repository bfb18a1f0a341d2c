package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/csvimport"
	"github.com/storsthlm/utskick/store/storetest"
)

// expectRejected sends a request that must fail with code and field and
// leave the database as it was.
func (a *testAPI) expectRejected(name string, code int, field string, send func() *httptest.ResponseRecorder) {
	a.t.Helper()
	a.t.Run(name, func(t *testing.T) {
		before := a.counts()
		rec := send()
		if rec.Code != code {
			t.Fatalf("status %d, want %d: %s", rec.Code, code, rec.Body)
		}
		var eb errBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" {
			t.Fatalf("error body %q: %v", rec.Body, err)
		}
		if eb.Field != field {
			t.Fatalf("field %q, want %q (%s)", eb.Field, field, eb.Error)
		}
		if after := a.counts(); !reflect.DeepEqual(before, after) {
			t.Fatalf("a rejected request changed the database:\nbefore %v\nafter  %v", before, after)
		}
	})
}

func TestSuppressionsAPI(t *testing.T) {
	a := newTestAPI(t)
	list := a.seedList("bus", "")
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d],"consent_basis":"x"}`, list), &sub)

	var sp store.Suppression
	a.ok(201, "POST", "/api/v1/suppressions", `{"email":" Anna@Example.se ","reason":"complaint","note":"called us"}`, &sp)
	if sp.Email != "anna@example.se" || sp.Reason != store.SuppressComplaint {
		t.Fatalf("created %+v", sp)
	}
	// Adding again keeps the first reason and says so with 200.
	a.ok(200, "POST", "/api/v1/suppressions", `{"email":"anna@example.se"}`, &sp)
	if sp.Reason != store.SuppressComplaint {
		t.Fatalf("second add changed the reason to %s", sp.Reason)
	}
	var pg struct{ Items []store.Suppression }
	a.ok(200, "GET", "/api/v1/suppressions?reason=complaint", "", &pg)
	if len(pg.Items) != 1 {
		t.Fatalf("list: %+v", pg)
	}
	a.ok(200, "GET", "/api/v1/suppressions?email=ANNA@example.se", "", &pg)
	if len(pg.Items) != 1 {
		t.Fatalf("lookup: %+v", pg)
	}
	// The suppression is in the person's history, with who did it.
	var evs struct{ Items []store.Event }
	a.ok(200, "GET", fmt.Sprintf("/api/v1/subscribers/%d/events", sub.ID), "", &evs)
	if !slices.ContainsFunc(evs.Items, func(e store.Event) bool {
		return e.Kind == store.EventSuppressed && e.Source == "api" && e.TokenID != nil && e.Data["reason"] == "complaint"
	}) {
		t.Fatalf("no suppression event: %+v", evs.Items)
	}

	bad := []struct {
		name, method, path, body string
		code                     int
		field                    string
	}{
		{"no email", "POST", "/api/v1/suppressions", `{"reason":"manual"}`, 400, "email"},
		{"bad email", "POST", "/api/v1/suppressions", `{"email":"Anna <anna@example.se>"}`, 400, "email"},
		{"bad reason", "POST", "/api/v1/suppressions", `{"email":"b@example.se","reason":"annoying"}`, 400, "reason"},
		{"erased is not for staff", "POST", "/api/v1/suppressions", `{"email":"b@example.se","reason":"erased"}`, 400, "reason"},
		{"unknown field", "POST", "/api/v1/suppressions", `{"email":"b@example.se","why":"x"}`, 400, "why"},
		{"delete without email", "DELETE", "/api/v1/suppressions", ``, 400, "email"},
		{"delete bad email", "DELETE", "/api/v1/suppressions?email=nope", ``, 400, "email"},
		{"delete unknown", "DELETE", "/api/v1/suppressions?email=b@example.se", ``, 404, ""},
		{"list bad reason", "GET", "/api/v1/suppressions?reason=x", ``, 400, "reason"},
	}
	for _, tc := range bad {
		a.expectRejected(tc.name, tc.code, tc.field, func() *httptest.ResponseRecorder { return a.do(tc.method, tc.path, a.admin, tc.body) })
	}
	if rec := a.do("POST", "/api/v1/suppressions", a.viewer, `{"email":"c@example.se"}`); rec.Code != 403 {
		t.Fatalf("viewer adds a suppression: %d", rec.Code)
	}
	a.ok(204, "DELETE", "/api/v1/suppressions?email=anna@example.se", "", nil)
	if ok, _ := a.st.IsSuppressed(context.Background(), "anna@example.se"); ok {
		t.Fatal("still suppressed")
	}
}

// multipartBody builds an upload: fields in order, then the file (if not
// nil), then trailing fields.
func multipartBody(t *testing.T, fields [][2]string, file []byte, after ...[2]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		mw.WriteField(f[0], f[1])
	}
	if file != nil {
		w, _ := mw.CreateFormFile("file", "medlemmar.csv")
		w.Write(file)
	}
	for _, f := range after {
		mw.WriteField(f[0], f[1])
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func (a *testAPI) upload(ct string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/api/v1/imports", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+a.editor)
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	return rec
}

func TestImportUploadIsStoredInChunksAndQueued(t *testing.T) {
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, _ redis.UniversalClient) { d.ImportMaxBytes = 4 << 20 })
	list := a.seedList("bus", "")
	var file bytes.Buffer
	file.WriteString("email,name,kommun\n")
	for i := 0; file.Len() < 2500<<10; i++ { // more than two 1 MiB chunks
		fmt.Fprintf(&file, "person%06d@example.org,Person %d,Solna\n", i, i)
	}
	ct, body := multipartBody(t, [][2]string{{"mode", "subscribe"}, {"list_ids", fmt.Sprint(list)}, {"consent_basis", "members' register"}}, file.Bytes())
	rec := a.upload(ct, body)
	if rec.Code != 202 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var imp store.Import
	json.Unmarshal(rec.Body.Bytes(), &imp)
	if imp.Status != store.ImportQueued || imp.Size != int64(file.Len()) || imp.Filename != "medlemmar.csv" || imp.TokenID == nil {
		t.Fatalf("import %+v", imp)
	}
	got, err := io.ReadAll(a.st.ImportFile(context.Background(), imp.ID))
	if err != nil || !bytes.Equal(got, file.Bytes()) {
		t.Fatalf("stored file differs (%d bytes, want %d): %v", len(got), file.Len(), err)
	}
	if a.counts()["import_chunks"] != 3 {
		t.Fatalf("chunks: %v", a.counts())
	}
	if tasks := a.tasks(queue.QueueDefault); !slices.Equal(tasks, []string{queue.TypeImportRun}) {
		t.Fatalf("queued %v", tasks)
	}
	var again store.Import
	a.ok(200, "GET", fmt.Sprintf("/api/v1/imports/%d", imp.ID), "", &again)
	if again.ID != imp.ID {
		t.Fatalf("get: %+v", again)
	}

	csvOK := []byte("email\nanna@example.se\n")
	// cutBody is the upload of file with its last n bytes lost.
	cutBody := func(n int) func() *httptest.ResponseRecorder {
		return func() *httptest.ResponseRecorder {
			ct, body := multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}}, file.Bytes())
			return a.upload(ct, bytes.NewReader(body.Bytes()[:body.Len()-n]))
		}
	}
	reqs := []struct {
		name  string
		send  func() *httptest.ResponseRecorder
		code  int
		field string
	}{
		{"not multipart", func() *httptest.ResponseRecorder { return a.do("POST", "/api/v1/imports", a.editor, `{"file":"x"}`) }, 400, "body"},
		{"no file", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}}, nil))
		}, 400, "file"},
		{"no email column", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}}, []byte("namn,adress\nA,a@b.se\n")))
		}, 400, "file"},
		{"empty file", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}}, []byte{}))
		}, 400, "file"},
		{"bad attribute column", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}}, []byte("email,bad column\n")))
		}, 400, "file"},
		{"unknown list", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprintf("%d,999", list)}}, csvOK))
		}, 400, "list_ids[1]"},
		{"no lists to subscribe to", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, nil, csvOK))
		}, 400, "list_ids"},
		{"bad mode", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"mode", "merge"}}, csvOK))
		}, 400, "mode"},
		{"bad overwrite", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}, {"overwrite", "maybe"}}, csvOK))
		}, 400, "overwrite"},
		{"consent basis with suppress", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"mode", "suppress"}, {"consent_basis", "x"}}, csvOK))
		}, 400, "consent_basis"},
		{"unknown option", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}, {"dry_run", "true"}}, csvOK))
		}, 400, "dry_run"},
		{"option after the file", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}}, csvOK, [2]string{"overwrite", "true"}))
		}, 400, "overwrite"},
		// A body cut short on the way (a client or proxy that gave up)
		// is refused whole, even where the CSV up to the cut would parse.
		{"no closing boundary", cutBody(4), 400, "body"}, // "--\r\n"
		{"no closing boundary line", cutBody(len("--") + 60 + len("--\r\n")), 400, "body"},
		{"cut inside the file", cutBody(file.Len() / 3), 400, "body"},
		{"cut inside an option", func() *httptest.ResponseRecorder {
			ct, body := multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}, {"consent_basis", "members' register"}}, nil)
			return a.upload(ct, bytes.NewReader(body.Bytes()[:body.Len()-30]))
		}, 400, "body"},
		{"option over 4 KiB", func() *httptest.ResponseRecorder {
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}, {"consent_basis", strings.Repeat("x", 5000)}}, csvOK))
		}, 400, "consent_basis"},
		{"too large", func() *httptest.ResponseRecorder {
			big := bytes.Repeat([]byte("someone@example.org\n"), 300_000) // 6 MB > 4 MiB
			return a.upload(multipartBody(t, [][2]string{{"list_ids", fmt.Sprint(list)}}, append([]byte("email\n"), big...)))
		}, 413, ""},
	}
	for _, tc := range reqs {
		a.expectRejected(tc.name, tc.code, tc.field, tc.send)
	}
}

func TestImportRejectsReportIsCSV(t *testing.T) {
	a := newTestAPI(t)
	list := a.seedList("bus", "")
	ctx := context.Background()
	imp := &store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{list}, ConsentBasis: "x"}
	if err := a.st.CreateImport(ctx, imp); err != nil {
		t.Fatal(err)
	}
	a.st.QueueImport(ctx, imp.ID, 10)
	imp, _ = a.st.StartImport(ctx, imp.ID)
	rows := []store.ImportRow{
		{Line: 2, Raw: "=HYPERLINK(\"x\")", Invalid: "missing @"},
		{Line: 3, Email: "a@example.se"}, {Line: 4, Email: "a@example.se"},
	}
	if _, err := a.st.ApplyImportBatch(ctx, imp, rows, store.ImportCheckpoint{Line: 4}); err != nil {
		t.Fatal(err)
	}
	rec := a.do("GET", fmt.Sprintf("/api/v1/imports/%d/rejects.csv", imp.ID), a.viewer, "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("report: %d %s", rec.Code, rec.Header())
	}
	recs, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"line", "email", "reason", "detail"},
		{"2", "'=HYPERLINK(\"x\")", "invalid_address", "missing @"},
		{"4", "a@example.se", "duplicate", "same address as line 3"}}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("report\n%q\nwant\n%q", recs, want)
	}
	if rec := a.do("GET", "/api/v1/imports/999/rejects.csv", a.viewer, ""); rec.Code != 404 {
		t.Fatalf("unknown import: %d", rec.Code)
	}
}

func TestSubscribersCSVExport(t *testing.T) {
	a := newTestAPI(t)
	bus := a.seedList("bus", "")
	nytt := a.seedList("senaste-nytt", "")
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","name":"=cmd|' /C calc'!A0","attributes":{"kommun":"Solna"},"lists":[%d],"consent_basis":"x"}`, bus), nil)
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"bo@example.se","attributes":{"roll":"ordf"},"lists":[%d]}`, nytt), nil)

	rec := a.do("GET", "/api/v1/subscribers.csv", a.viewer, "")
	recs, err := csv.NewReader(rec.Body).ReadAll()
	if rec.Code != 200 || err != nil {
		t.Fatalf("export: %d %v", rec.Code, err)
	}
	if !slices.Equal(recs[0], []string{"email", "name", "language", "created_at", "lists", "kommun", "roll"}) || len(recs) != 3 {
		t.Fatalf("export:\n%q", recs)
	}
	if recs[1][0] != "anna@example.se" || recs[1][1] != "'=cmd|' /C calc'!A0" || recs[1][4] != "bus:confirmed" || recs[1][5] != "Solna" {
		t.Fatalf("row %q", recs[1])
	}
	rec = a.do("GET", fmt.Sprintf("/api/v1/subscribers.csv?list_id=%d", nytt), a.viewer, "")
	recs, _ = csv.NewReader(rec.Body).ReadAll()
	if len(recs) != 2 || recs[1][0] != "bo@example.se" || recs[1][4] != store.SubUnconfirmed || recs[0][8] != "roll" {
		t.Fatalf("list export:\n%q", recs)
	}
	// What an export writes, an import reads back: the header passes.
	if _, _, err := csvimport.ReadHeader(strings.NewReader(strings.Join(recs[0], ",") + "\n")); err != nil {
		t.Fatalf("export header is not importable: %v", err)
	}
	a.expectRejected("unknown list", 400, "list_id", func() *httptest.ResponseRecorder {
		return a.do("GET", "/api/v1/subscribers.csv?list_id=999", a.viewer, "")
	})
	a.expectRejected("status without list", 400, "status", func() *httptest.ResponseRecorder {
		return a.do("GET", "/api/v1/subscribers.csv?status=confirmed", a.viewer, "")
	})
}

func TestGDPRExportAndErase(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	list := a.seedList("bus", `,"visibility":"public"`)
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","name":"Anna","lists":[%d],"consent_basis":"signed up at the fair"}`, list), &sub)
	var other store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", `{"email":"nils@example.se"}`, &other)
	var camp store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"Nyheter","body":"b","list_ids":[%d]}`, list), &camp)
	c, err := a.st.ScheduleCampaign(ctx, camp.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.st.MaterializeDeliveries(ctx, camp.ID, c.Revision); err != nil {
		t.Fatal(err)
	}
	// A public action, so the record holds an IP and a user agent.
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID, CampaignID: camp.ID})
	a.form("/unsubscribe/"+tok, "List-Unsubscribe=One-Click")

	var pd store.PersonalData
	a.ok(200, "GET", fmt.Sprintf("/api/v1/subscribers/%d/export", sub.ID), "", &pd)
	if pd.Subscriber.Email != "anna@example.se" || len(pd.Subscriptions) != 1 || pd.Subscriptions[0].ListSlug != "bus" ||
		len(pd.Deliveries) != 1 || pd.Deliveries[0].Subject != "Nyheter" || len(pd.Events) < 3 {
		t.Fatalf("export %+v", pd)
	}
	statsBefore, _ := a.st.CampaignStats(ctx, camp.ID)
	eventsBefore := a.counts()["events"]

	var out map[string]any
	a.ok(200, "POST", fmt.Sprintf("/api/v1/subscribers/%d/erase", sub.ID), "", &out)
	if rec := a.do("GET", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), a.admin, ""); rec.Code != 404 {
		t.Fatalf("erased subscriber still there: %d", rec.Code)
	}
	// Counts stay; the link to the person goes.
	statsAfter, _ := a.st.CampaignStats(ctx, camp.ID)
	if statsAfter.Recipients != statsBefore.Recipients || statsAfter.Unsubscribed != statsBefore.Unsubscribed || statsAfter.Unsubscribed != 1 {
		t.Fatalf("stats changed: %+v → %+v", statsBefore, statsAfter)
	}
	if n := a.counts()["events"]; n != eventsBefore+1 {
		t.Fatalf("events %d, want %d (all kept, one erasure event added)", n, eventsBefore+1)
	}
	evs, _, _ := a.st.Events(ctx, store.EventQuery{Limit: 1000})
	for _, ev := range evs {
		if ev.SubscriberID != nil && *ev.SubscriberID > 0 && *ev.SubscriberID == sub.ID || ev.IP != "" || ev.UserAgent != "" ||
			strings.Contains(fmt.Sprint(ev.Data), "anna") || strings.Contains(fmt.Sprint(ev.Data), "fair") {
			t.Fatalf("event still personal after erasure: %+v", ev)
		}
	}
	var rows struct{ Items []store.DeliveryRow }
	a.ok(200, "GET", fmt.Sprintf("/api/v1/campaigns/%d/deliveries", camp.ID), "", &rows)
	if len(rows.Items) != 1 || rows.Items[0].SubscriberID != nil || strings.Contains(rows.Items[0].Email, "anna") {
		t.Fatalf("delivery after erasure: %+v", rows.Items)
	}
	// Only the keyed hash stays, as an erased suppression.
	var pg struct{ Items []store.Suppression }
	a.ok(200, "GET", "/api/v1/suppressions?email=anna@example.se", "", &pg)
	if len(pg.Items) != 1 || pg.Items[0].Reason != store.SuppressErased || pg.Items[0].Email != "" {
		t.Fatalf("suppression after erasure: %+v", pg.Items)
	}
	// Staff cannot add her back, with a consent basis or without (an
	// opt-in mail would contact her too), nor turn someone else's
	// record into hers, nor send her a test: 409s that say why.
	for _, tc := range []struct{ name, method, path, body, field string }{
		{"staff adds her back", "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d],"consent_basis":"signed up at the fair"}`, list), "email"},
		{"staff adds her back without lists", "POST", "/api/v1/subscribers", `{"email":"Anna@Example.se"}`, "email"},
		{"staff moves another record to her address", "PATCH", fmt.Sprintf("/api/v1/subscribers/%d", other.ID), `{"email":"anna@example.se"}`, "email"},
		{"test send to her", "POST", fmt.Sprintf("/api/v1/campaigns/%d/test", camp.ID), `{"emails":["nils@example.se","anna@example.se"]}`, "emails[1]"},
	} {
		a.expectRejected(tc.name, 409, tc.field, func() *httptest.ResponseRecorder {
			return a.do(tc.method, tc.path, a.admin, tc.body)
		})
		if rec := a.do(tc.method, tc.path, a.admin, tc.body); !strings.Contains(rec.Body.String(), "erased") {
			t.Fatalf("%s: the refusal does not name the erasure: %s", tc.name, rec.Body)
		}
	}
	a.expectRejected("erase again", 404, "", func() *httptest.ResponseRecorder {
		return a.do("POST", fmt.Sprintf("/api/v1/subscribers/%d/erase", sub.ID), a.admin, "")
	})
	a.expectRejected("erase bad id", 400, "id", func() *httptest.ResponseRecorder {
		return a.do("POST", "/api/v1/subscribers/x/erase", a.admin, "")
	})
	a.expectRejected("export unknown", 404, "", func() *httptest.ResponseRecorder {
		return a.do("GET", fmt.Sprintf("/api/v1/subscribers/%d/export", sub.ID), a.admin, "")
	})

	// She comes back through the public form and confirms: that is her
	// own consent, so the erased suppression is lifted.
	a.form("/subscribe/bus", "email=anna@example.se")
	again, err := a.st.SubscriberByEmail(ctx, "anna@example.se")
	if err != nil || a.subscription(again.ID, list) != store.SubUnconfirmed {
		t.Fatalf("resubscribe after erasure: %v", err)
	}
	// Until she confirms, staff cannot confirm for her.
	a.expectRejected("staff confirms her before she does", 409, "lists", func() *httptest.ResponseRecorder {
		return a.do("PATCH", fmt.Sprintf("/api/v1/subscribers/%d", again.ID), a.admin,
			fmt.Sprintf(`{"lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"phone call"}`, list))
	})
	ctok := a.sign.ConfirmToken(links.Confirm{SubscriberID: again.ID, Issued: a.now, ListIDs: []int64{list}})
	if rec := a.form("/confirm/"+ctok, "action=confirm"); rec.Code != 200 {
		t.Fatalf("confirm: %d", rec.Code)
	}
	if ok, _ := a.st.IsSuppressed(ctx, "anna@example.se"); ok || a.subscription(again.ID, list) != store.SubConfirmed {
		t.Fatal("her own confirmation did not bring her back")
	}
}

func TestUnsubscribeFromAllSuppressesAndUndoLifts(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	bus := a.seedList("bus", `,"visibility":"public","optin":"single"`)
	nytt := a.seedList("senaste-nytt", `,"visibility":"public"`)
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d,%d],"consent_basis":"x"}`, bus, nytt), &sub)

	// From the unsubscribe page of a mail.
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID})
	rec := a.form("/unsubscribe/"+tok, "action=unsubscribe_all")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `value="undo"`) {
		t.Fatalf("unsubscribe all: %d", rec.Code)
	}
	undo := undoToken(t, rec.Body.String())
	if sp, err := a.st.SuppressionOf(ctx, "anna@example.se"); err != nil || sp.Reason != store.SuppressUnsubscribedAll {
		t.Fatalf("no unsubscribed_all suppression: %v", err)
	}
	// Staff cannot put her back on a list, whatever basis they claim.
	a.expectRejected("staff re-confirms after unsubscribe all", 409, "lists", func() *httptest.ResponseRecorder {
		return a.do("PATCH", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), a.admin,
			fmt.Sprintf(`{"lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"phone call"}`, nytt))
	})
	// A stranger re-entering her address on a single opt-in form does
	// not put her back on the list: it waits for her own confirmation.
	suppressedAnswer := a.form("/subscribe/bus", "email=anna@example.se")
	if a.subscription(sub.ID, bus) != store.SubUnconfirmed {
		t.Fatalf("suppressed address subscribed by form without confirmation: %s", a.subscription(sub.ID, bus))
	}
	if tasks := a.tasks(queue.QueueCritical); !slices.Contains(tasks, queue.TypeSubscriberOptin) {
		t.Fatalf("no confirmation mail queued for the returning address: %v", tasks)
	}
	// ... and the page says what it says for anyone: no hint that the
	// address is suppressed.
	if plain := a.form("/subscribe/bus", "email=someone.new@example.se"); plain.Body.String() != suppressedAnswer.Body.String() {
		t.Fatal("the answer for a suppressed address differs from a new one's")
	}
	// Undo restores what she left and lifts the suppression.
	rec = a.form("/unsubscribe/"+tok, "action=undo&undo="+undo)
	if rec.Code != 200 || a.subscription(sub.ID, nytt) != store.SubConfirmed {
		t.Fatalf("undo: %d", rec.Code)
	}
	if ok, _ := a.st.IsSuppressed(ctx, "anna@example.se"); ok {
		t.Fatal("undo did not lift the suppression")
	}

	// The same from the preference page.
	ptok := a.sign.PreferencesToken(sub.ID)
	rec = a.form("/preferences/"+ptok, "action=unsubscribe_all")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `value="undo"`) || a.subscription(sub.ID, nytt) != store.SubUnsubscribed {
		t.Fatalf("preferences: unsubscribe all: %d", rec.Code)
	}
	undo = undoToken(t, rec.Body.String())
	if ok, _ := a.st.IsSuppressed(ctx, "anna@example.se"); !ok {
		t.Fatal("preferences: no suppression")
	}
	rec = a.form("/preferences/"+ptok, "action=undo&undo="+undo)
	if ok, _ := a.st.IsSuppressed(ctx, "anna@example.se"); rec.Code != 200 || ok || a.subscription(sub.ID, nytt) != store.SubConfirmed {
		t.Fatalf("preferences: undo: %d suppressed=%v", rec.Code, ok)
	}
	// Ticking a list again on the page also counts as her own choice.
	a.form("/preferences/"+ptok, "action=unsubscribe_all")
	a.form("/preferences/"+ptok, url.Values{"action": {"save"}, "lists": {fmt.Sprint(bus)}}.Encode())
	if ok, _ := a.st.IsSuppressed(ctx, "anna@example.se"); ok || a.subscription(sub.ID, bus) != store.SubConfirmed {
		t.Fatal("ticking a list did not bring her back")
	}
	// A staff suppression is not hers to lift.
	a.ok(201, "POST", "/api/v1/suppressions", `{"email":"bo@example.se","reason":"manual"}`, nil)
	var bo store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"bo@example.se","lists":[%d],"consent_basis":"x"}`, nytt), &bo)
	botok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: bo.ID})
	rec = a.form("/unsubscribe/"+botok, "action=unsubscribe")
	a.form("/unsubscribe/"+botok, "action=undo&undo="+undoToken(t, rec.Body.String()))
	if sp, err := a.st.SuppressionOf(ctx, "bo@example.se"); err != nil || sp.Reason != store.SuppressManual {
		t.Fatal("undo lifted a staff suppression")
	}
}

func TestRateLimitsAndNoEnumeration(t *testing.T) {
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, rc redis.UniversalClient) {
		d.Limiter = queue.NewLimiter(rc, "t:")
		d.RateIP = queue.Rate{N: 4, Per: time.Minute}
		d.RateAddress = queue.Rate{N: 2, Per: time.Hour}
	})
	list := a.seedList("bus", `,"visibility":"public"`)
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"known@example.se","lists":[%d],"consent_basis":"x"}`, list), nil)
	from := func(ip, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		if body == "" {
			req = httptest.NewRequest(http.MethodGet, path, nil)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = ip + ":40000"
		rec := httptest.NewRecorder()
		a.srv.ServeHTTP(rec, req)
		return rec
	}
	// The same answer for a subscribed and an unknown address.
	known := from("192.0.2.1", "/subscribe/bus", "email=known@example.se")
	unknown := from("192.0.2.2", "/subscribe/bus", "email=new@example.se")
	if known.Code != 200 || known.Code != unknown.Code || known.Body.String() != unknown.Body.String() {
		t.Fatalf("answers differ: %d vs %d", known.Code, unknown.Code)
	}
	// Per address, whatever the IP: the third try within the hour is
	// refused and writes nothing.
	from("192.0.2.3", "/subscribe/bus", "email=new@example.se")
	before := a.counts()
	queued := len(a.tasks(queue.QueueCritical))
	rec := from("192.0.2.4", "/subscribe/bus", "email=NEW@example.se")
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !reflect.DeepEqual(before, a.counts()) || len(a.tasks(queue.QueueCritical)) != queued {
		t.Fatalf("address limit: %d %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Per IP: the fifth request from one IP in a minute is refused; IPv6
	// counts per /64.
	for i := range 4 {
		if rec := from("198.51.100.7", "/subscribe/bus", ""); rec.Code != 200 {
			t.Fatalf("request %d: %d", i+1, rec.Code)
		}
	}
	if rec := from("198.51.100.7", "/subscribe/bus", ""); rec.Code != 429 || !strings.Contains(rec.Body.String(), `lang="sv"`) {
		t.Fatalf("IP limit: %d", rec.Code)
	}
	for i := range 5 {
		code := from(fmt.Sprintf("[2001:db8:1:2::%x]", i+1), "/subscribe/bus", "").Code
		if want := map[bool]int{true: 429, false: 200}[i == 4]; code != want {
			t.Fatalf("IPv6 request %d: %d, want %d", i+1, code, want)
		}
	}
	// Unsubscribing is never limited.
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"c@example.se","lists":[%d],"consent_basis":"x"}`, list), &sub)
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID})
	for i := range 10 {
		if rec := from("198.51.100.7", "/unsubscribe/"+tok, "List-Unsubscribe=One-Click"); rec.Code != 200 {
			t.Fatalf("one-click %d from a limited IP: %d", i+1, rec.Code)
		}
	}
}

// TestAddressErrorsInSwedish: every way an address can be wrong gets a
// Swedish message on the Swedish form, tied to the field, and the form
// writes nothing.
func TestAddressErrorsInSwedish(t *testing.T) {
	a := newTestAPI(t)
	a.seedList("bus", `,"visibility":"public"`)
	inputs := []string{"", "a\xff@x.se", strings.Repeat("a", 600), "Anna <anna@x.se>", "anna.example.se", "@x.se", "anna@",
		strings.Repeat("a", 60) + "@" + strings.Repeat("b.", 100) + "se",
		strings.Repeat("a", 65) + "@x.se", ".anna@x.se", "an..na@x.se", "åsa@x.se", "an na@x.se", "anna(x)@x.se", "a@b@x.se",
		"an,na@x.se", `"anna@x.se`, `"an\` + `"@x.se`, `"a"b"@x.se`, "anna@[192.0.2.1]", "anna@x..se", "anna@se",
		"anna@" + strings.Repeat("x", 64) + ".se", "anna@-x.se", "anna@x_y.se", "anna@x.123", "anna@xn--.se"}
	for _, in := range inputs {
		before := a.counts()
		rec := a.form("/subscribe/bus", url.Values{"email": {in}}.Encode())
		body := rec.Body.String()
		i := strings.Index(body, `id="email-error">`)
		if rec.Code != 422 || i < 0 {
			t.Fatalf("%q: %d, no error tied to the field", in, rec.Code)
		}
		msg := body[i+len(`id="email-error">`):]
		msg = msg[:strings.Index(msg, "<")]
		_, err := store.NormalizeEmail(in)
		var ae *store.AddressError
		if !errors.As(err, &ae) {
			t.Fatalf("%q: %v", in, err)
		}
		if in != "" && (strings.Contains(msg, ae.Reason) || !strings.HasPrefix(msg, "Ange en giltig e-postadress: ")) {
			t.Errorf("%q: message %q is not Swedish (reason %q)", in, msg, ae.Reason)
		}
		if !reflect.DeepEqual(before, a.counts()) {
			t.Fatalf("%q: the form wrote something", in)
		}
	}
}
