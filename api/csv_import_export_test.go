package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/csvimport"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestImportUploadIsStoredInChunksAndQueued(t *testing.T) {
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, _ redis.UniversalClient) { d.Limits.ImportMaxBytes = 4 << 20 })
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
