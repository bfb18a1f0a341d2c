package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/internal/s3media"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

type mediaJSON struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Title   string `json:"title"`
	Alt     string `json:"alt"`
	Storage string `json:"storage"`
	SHA256  string `json:"sha256"`
	URL     string `json:"url"`
	UsedBy  []struct {
		ID     int64  `json:"id"`
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"used_by"`
}

func (a *testAPI) uploadMedia(name string, data []byte) mediaJSON {
	a.t.Helper()
	var m mediaJSON
	want(a.t, uploadImage(a.srv, "/api/v1/media", a.editor, name, data), http.StatusCreated, &m)
	return m
}

// public fetches an image at its public URL, as a mail client would.
func (a *testAPI) public(u string, header ...string) *httptest.ResponseRecorder {
	a.t.Helper()
	req := httptest.NewRequest(http.MethodGet, strings.TrimPrefix(u, "http://news.example.se"), nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	return rec
}

// mediaCampaign makes a campaign whose body shows the image at u, and
// schedules it unless draft.
func mediaCampaign(t *testing.T, st *store.Store, name, u string, draft bool) *store.Campaign {
	t.Helper()
	ctx := context.Background()
	l := &store.List{Slug: strings.ToLower(name), Name: name, Language: "sv", Optin: store.OptinDouble}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	c := &store.Campaign{Name: name, Subject: "Nytt", Body: "# Hej\n\n![Karta](" + u + ")\n", ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if !draft {
		if _, err := st.ScheduleCampaign(ctx, c.ID, time.Now().Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestMediaRenameAndAltKeepTheURLAndAreAudited: a rename changes the
// title only; the file name in the public URL stays and the image is
// still served there; the change is one audit row with before and after;
// an empty title is a 400 naming title that changes nothing.
func TestMediaRenameAndAltKeepTheURLAndAreAudited(t *testing.T) {
	a := newTestAPI(t)
	m := a.uploadMedia("Karta Solna.png", testPNG(t, 30, 20, false))
	if m.Title != "Karta Solna" || m.Name != "karta-solna.png" || m.Storage != "db" {
		t.Fatalf("uploaded %+v", m)
	}
	path := fmt.Sprintf("/api/v1/media/%d", m.ID)
	var got mediaJSON
	a.ok(http.StatusOK, "PATCH", path, `{"title":"  Karta över Solna ","alt":"Karta med lokalerna"}`, &got)
	if got.Title != "Karta över Solna" || got.Alt != "Karta med lokalerna" || got.URL != m.URL || got.Name != m.Name {
		t.Fatalf("after rename %+v, URL was %s", got, m.URL)
	}
	if rec := a.public(m.URL); rec.Code != http.StatusOK {
		t.Fatalf("the old URL after a rename: %d", rec.Code)
	}
	rows, _, err := a.st.AuditLog(context.Background(), store.AuditQuery{Action: "media.update"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("audit rows %+v %v", rows, err)
	}
	if ch := fmt.Sprint(rows[0].Changes); !strings.Contains(ch, "Karta Solna") || !strings.Contains(ch, "Karta över Solna") {
		t.Errorf("audit changes %s", ch)
	}
	for _, body := range []string{`{"title":"   "}`, `{}`, `{"alt":"` + strings.Repeat("x", 301) + `"}`, `{"name":"ny.png"}`} {
		rec := a.do("PATCH", path, a.editor, body)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("PATCH %s: %d %s", body, rec.Code, rec.Body)
		}
	}
	a.ok(http.StatusOK, "GET", path, "", &got)
	if got.Title != "Karta över Solna" || got.Alt != "Karta med lokalerna" {
		t.Fatalf("a refused edit changed %+v", got)
	}
	if rec := a.do("PATCH", path, a.viewer, `{"title":"X"}`); rec.Code != http.StatusForbidden {
		t.Fatalf("viewer rename: %d", rec.Code)
	}
}

// TestMediaDeleteIsRefusedWhileAMailedCampaignLinksToIt: a scheduled
// campaign's image is a 409 naming it and stays served; an image that
// only a draft uses is listed with the draft, then deleted, and its URL
// answers 404.
func TestMediaDeleteIsRefusedWhileAMailedCampaignLinksToIt(t *testing.T) {
	a := newTestAPI(t)
	kept := a.uploadMedia("karta.png", testPNG(t, 30, 20, false))
	gone := a.uploadMedia("omslag.png", testPNG(t, 20, 30, false))
	mediaCampaign(t, a.st, "Decembernumret", kept.URL, false)
	mediaCampaign(t, a.st, "Utkastet", kept.URL, true)
	draft := mediaCampaign(t, a.st, "Januariutkast", gone.URL, true)

	rec := a.do("DELETE", fmt.Sprintf("/api/v1/media/%d", kept.ID), a.editor, "")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "Decembernumret") || strings.Contains(rec.Body.String(), "Utkastet") {
		t.Fatalf("delete of a scheduled campaign's image: %d %s", rec.Code, rec.Body)
	}
	if rec := a.public(kept.URL); rec.Code != http.StatusOK {
		t.Fatalf("the refused image is not served: %d", rec.Code)
	}
	var got mediaJSON
	a.ok(http.StatusOK, "GET", fmt.Sprintf("/api/v1/media/%d", gone.ID), "", &got)
	if len(got.UsedBy) != 1 || got.UsedBy[0].ID != draft.ID || got.UsedBy[0].Status != "draft" {
		t.Fatalf("used_by %+v", got.UsedBy)
	}
	a.ok(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/v1/media/%d", gone.ID), "", nil)
	if rec := a.public(gone.URL); rec.Code != http.StatusNotFound {
		t.Fatalf("a deleted image is served: %d", rec.Code)
	}
	if rec := a.do("DELETE", fmt.Sprintf("/api/v1/media/%d", gone.ID), a.editor, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("second delete: %d", rec.Code)
	}
	rows, _, _ := a.st.AuditLog(context.Background(), store.AuditQuery{Action: "media.delete"})
	if len(rows) != 1 || rows[0].ObjectID != fmt.Sprint(gone.ID) {
		t.Fatalf("audit of the delete: %+v", rows)
	}
}

// TestMediaScreensRenameAndDeleteAfterNamingTheDrafts: the image's page
// renames it; its delete page names the draft that uses it and deletes
// on the button; for an image in a scheduled campaign the page says why
// not and has no button, and a forged post is refused the same way.
func TestMediaScreensRenameAndDeleteAfterNamingTheDrafts(t *testing.T) {
	w, b, mars, _ := editorSetup(t)
	ctx := context.Background()
	up := func(name string) *store.Media {
		m := &store.Media{Name: name, ContentType: "image/png", Width: 2, Height: 2, Size: 3, SHA256: strings.Repeat("a", 64), Data: []byte("png")}
		if err := w.st.CreateMedia(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := up("karta.png")
	u := fmt.Sprintf("%s/media/%d/karta.png", webBase, m.ID)
	if _, err := w.st.UpdateCampaign(ctx, mars.ID, store.CampaignPatch{Body: ptr(mars.Body + "\n\n![Karta](" + u + ")\n")}); err != nil {
		t.Fatal(err)
	}
	page := b.get(fmt.Sprintf("/admin/media/%d", m.ID))
	wantStatus(t, page, http.StatusOK)
	rec := b.post(fmt.Sprintf("/admin/media/%d", m.ID), url.Values{"title": {""}, "alt": {"Karta"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `id="title-error">Skriv ett namn.`) {
		t.Fatalf("no error by the name:\n%s", rec.Body)
	}
	rec = b.post(fmt.Sprintf("/admin/media/%d", m.ID), url.Values{"title": {"Karta över Solna"}, "alt": {"Karta med lokalerna"}})
	wantStatus(t, rec, http.StatusSeeOther)
	if got, _ := w.st.MediaInfo(ctx, m.ID); got.Title != "Karta över Solna" || got.Alt != "Karta med lokalerna" || got.Name != "karta.png" {
		t.Fatalf("after the form: %+v", got)
	}
	conf := b.get(fmt.Sprintf("/admin/media/%d/delete", m.ID))
	wantStatus(t, conf, http.StatusOK)
	if body := conf.Body.String(); !strings.Contains(body, ">Mars</a>") || !strings.Contains(body, "Ta bort Karta över Solna") {
		t.Fatalf("the confirmation does not name the draft:\n%s", body)
	}
	rec = b.post(fmt.Sprintf("/admin/media/%d/delete", m.ID), url.Values{})
	wantStatus(t, rec, http.StatusSeeOther)
	if _, err := w.st.MediaInfo(ctx, m.ID); err == nil {
		t.Fatal("not deleted")
	}
	rows, _, _ := w.st.AuditLog(ctx, store.AuditQuery{ObjectType: "media"})
	if len(rows) != 2 || rows[0].Action != "media.delete" || rows[1].Action != "media.update" {
		t.Fatalf("audit rows %+v", rows)
	}

	// In a scheduled campaign: no button, and a post is a 409.
	n := up("omslag.png")
	mediaCampaign(t, w.st, "Aprilnumret", fmt.Sprintf("%s/media/%d/omslag.png", webBase, n.ID), false)
	conf = b.get(fmt.Sprintf("/admin/media/%d/delete", n.ID))
	wantStatus(t, conf, http.StatusConflict)
	if body := conf.Body.String(); !strings.Contains(body, "Aprilnumret") || strings.Contains(body, `class="danger"`) {
		t.Fatalf("the refusal:\n%s", body)
	}
	rec = b.post(fmt.Sprintf("/admin/media/%d/delete", n.ID), url.Values{})
	wantStatus(t, rec, http.StatusConflict)
	if _, err := w.st.MediaInfo(ctx, n.ID); err != nil {
		t.Fatalf("deleted despite the campaign: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// fakeBucket is gofakes3 on loopback and the s3media.Bucket over it.
func fakeBucket(t *testing.T) (*httptest.Server, *s3mem.Backend, *s3media.Bucket) {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket("utskick"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	b, err := s3media.Open(s3media.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: "utskick", Region: "us-east-1",
		AccessKey: "utskick", SecretKey: "hemligt-hemligt", Prefix: "media/", PathStyle: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return srv, be, b
}

// TestMediaInAnS3BucketIsStreamedThroughTheAPI: with a bucket, an upload
// writes the object (named by its hash) and a row without bytes; the
// public URL serves the object's bytes with the same cache headers and
// ETag as from the database; two rows with the same bytes share one
// object, which goes with the last of them.
func TestMediaInAnS3BucketIsStreamedThroughTheAPI(t *testing.T) {
	_, be, bucket := fakeBucket(t)
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, _ redis.UniversalClient) { d.MediaBucket = bucket })
	data := testPNG(t, 40, 30, false)
	m := a.uploadMedia("karta.png", data)
	if m.Storage != "s3" {
		t.Fatalf("stored in %q", m.Storage)
	}
	row, err := a.st.MediaFile(context.Background(), m.ID)
	if err != nil || len(row.Data) != 0 {
		t.Fatalf("the row keeps %d bytes (%v)", len(row.Data), err)
	}
	obj, err := be.HeadObject("utskick", "media/"+m.SHA256)
	if err != nil || obj.Size != int64(row.Size) {
		t.Fatalf("object: %+v %v", obj, err)
	}
	rec := a.public(m.URL)
	wantStatus(t, rec, http.StatusOK)
	sum := sha256.Sum256(rec.Body.Bytes())
	if hex.EncodeToString(sum[:]) != m.SHA256 || rec.Header().Get("Content-Type") != "image/png" ||
		rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || rec.Header().Get("ETag") != `"`+m.SHA256+`"` ||
		rec.Header().Get("Content-Length") != fmt.Sprint(row.Size) {
		t.Fatalf("served %d bytes with %v", rec.Body.Len(), rec.Header())
	}
	if rec := a.public(m.URL, "If-None-Match", `"`+m.SHA256+`"`); rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation: %d", rec.Code)
	}
	// The same bytes under another name: a second row, one object.
	twin := a.uploadMedia("karta kopia.png", data)
	if twin.ID == m.ID || twin.SHA256 != m.SHA256 {
		t.Fatalf("twin %+v", twin)
	}
	a.ok(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/v1/media/%d", m.ID), "", nil)
	if _, err := be.HeadObject("utskick", "media/"+m.SHA256); err != nil {
		t.Fatalf("the twin's object went with the first row: %v", err)
	}
	if rec := a.public(twin.URL); rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), mustGet(t, a, twin.URL)) {
		t.Fatalf("twin: %d", rec.Code)
	}
	a.ok(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/v1/media/%d", twin.ID), "", nil)
	if _, err := be.HeadObject("utskick", "media/"+m.SHA256); err == nil {
		t.Fatal("the object outlived its last row")
	}
}

func mustGet(t *testing.T, a *testAPI, u string) []byte {
	t.Helper()
	rec := a.public(u)
	b, _ := io.ReadAll(rec.Body)
	return b
}

// TestMediaWithTheBucketDownIsA503AndWritesNothing: with the S3 server
// stopped, an upload, the image's URL and a delete each answer 503 (not
// 500); no row is written and none is deleted. Images kept in the
// database before the bucket was configured are still served. The
// library's upload form and the delete page say it in Swedish.
func TestMediaWithTheBucketDownIsA503AndWritesNothing(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	old := &store.Media{Name: "gammal.png", ContentType: "image/png", Width: 2, Height: 2, Size: 3, SHA256: strings.Repeat("b", 64), Data: []byte("png")}
	if err := st.CreateMedia(ctx, old); err != nil {
		t.Fatal(err)
	}
	srv, _, bucket := fakeBucket(t)
	a := newTestAPIOpts(t, st, func(d *api.Deps, _ redis.UniversalClient) { d.MediaBucket = bucket })
	m := a.uploadMedia("karta.png", testPNG(t, 30, 20, false))
	srv.Close()

	rec := uploadImage(a.srv, "/api/v1/media", a.editor, "omslag.png", testPNG(t, 20, 30, false))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "media storage") {
		t.Fatalf("upload with the bucket down: %d %s", rec.Code, rec.Body)
	}
	if ms, _, _ := st.MediaList(ctx, 0, 10); len(ms) != 2 {
		t.Fatalf("%d rows after a refused upload, want 2", len(ms))
	}
	// From the library's page, the reason is by the file field.
	w := newWebTest(t, func(d *api.Deps) { d.MediaBucket = bucket })
	w.user("redaktor@example.se", store.RoleEditor, "ett långt lösenord")
	br := w.browser()
	br.signIn("redaktor@example.se", "ett långt lösenord")
	br.get("/admin/media")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "omslag.png")
	fw.Write(testPNG(t, 20, 30, false))
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/admin/media?csrf="+br.csrf, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	rec = br.do(req)
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), `id="file-error">Bildlagringen svarar inte just nu.`) {
		t.Fatalf("no reason by the field:\n%s", rec.Body)
	}
	s3row := &store.Media{Name: "karta.png", ContentType: "image/png", Width: 30, Height: 20, Size: 10, SHA256: m.SHA256, Storage: store.MediaInS3}
	if err := w.st.CreateMedia(ctx, s3row); err != nil {
		t.Fatal(err)
	}
	br.get(fmt.Sprintf("/admin/media/%d/delete", s3row.ID))
	rec = br.post(fmt.Sprintf("/admin/media/%d/delete", s3row.ID), url.Values{})
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), "Bildlagringen svarar inte just nu. Ingenting är ändrat") {
		t.Fatalf("the delete page does not say why:\n%s", rec.Body)
	}
	if _, err := w.st.MediaInfo(ctx, s3row.ID); err != nil {
		t.Fatalf("deleted although the bucket did not answer: %v", err)
	}
	rec = a.public(m.URL)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Header().Get("Cache-Control"), "max-age") || rec.Header().Get("ETag") != "" {
		t.Fatalf("serving with the bucket down: %d %v", rec.Code, rec.Header())
	}
	if rec := a.do("DELETE", fmt.Sprintf("/api/v1/media/%d", m.ID), a.editor, ""); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("delete with the bucket down: %d %s", rec.Code, rec.Body)
	}
	if _, err := st.MediaInfo(ctx, m.ID); err != nil {
		t.Fatalf("the row went although the bucket did not answer: %v", err)
	}
	if rec := a.public(fmt.Sprintf("/media/%d/gammal.png", old.ID)); rec.Code != http.StatusOK || rec.Body.String() != "png" {
		t.Fatalf("an image in the database: %d", rec.Code)
	}
}

// endlessBucket serves every key as size bytes made on the fly, so that
// a served image that is buffered shows in the allocations.
type endlessBucket struct{ size int64 }

func (endlessBucket) Put(context.Context, string, string, []byte) error { return nil }
func (b endlessBucket) Get(context.Context, string) (io.ReadCloser, error) {
	return io.NopCloser(io.LimitReader(zeros{}, b.size)), nil
}
func (endlessBucket) Exists(context.Context, string) (bool, error) { return true, nil }
func (endlessBucket) Delete(context.Context, string) error         { return nil }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// countingWriter is a client that reads the body and keeps nothing.
type countingWriter struct {
	h http.Header
	n int64
}

func (w *countingWriter) Header() http.Header         { return w.h }
func (w *countingWriter) WriteHeader(int)             {}
func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// TestMediaFromTheBucketIsStreamedNotBuffered: serving a 64 MB object
// allocates a small fraction of it: the bytes go from the bucket to the
// client in chunks.
func TestMediaFromTheBucketIsStreamedNotBuffered(t *testing.T) {
	const size = 64 << 20
	st := storetest.Open(t)
	a := newTestAPIOpts(t, st, func(d *api.Deps, _ redis.UniversalClient) { d.MediaBucket = endlessBucket{size} })
	m := &store.Media{Name: "stor.png", ContentType: "image/png", Width: 1, Height: 1, Size: size, SHA256: strings.Repeat("d", 64), Storage: store.MediaInS3}
	if err := st.CreateMedia(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	w := &countingWriter{h: http.Header{}}
	req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/media/%d/stor.png", m.ID), nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a.srv.Server.ServeHTTP(w, req) // past the test's checking recorder, which keeps bodies
	runtime.ReadMemStats(&after)
	if w.n != size {
		t.Fatalf("served %d bytes, want %d", w.n, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("serving %d MB allocated %d KB", size>>20, alloc>>10)
	} else {
		t.Logf("serving %d MB allocated %d KB", size>>20, alloc>>10)
	}
}
