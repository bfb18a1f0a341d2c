package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// uploadImage posts data as the part "file" named name to path.
func uploadImage(srv http.Handler, path, token, name string, data []byte) *httptest.ResponseRecorder {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("file", name)
	w.Write(data)
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// testPNG is a w×h image with a gradient (so it does not compress to
// nothing) and, when exif is set, a text chunk as a camera would leave.
func testPNG(t *testing.T, w, h int, exif bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(40 + x*120/w), uint8(90 + y*100/h), 160, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if exif {
		// A tEXt chunk after the header; the decoder skips it, a
		// careless server would keep it.
		body := []byte("tEXtGPS\x0059.3293,18.0686")
		chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)-4))
		chunk = append(chunk, body...)
		chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(body))
		out = append(append(append([]byte{}, out[:33]...), chunk...), out[33:]...)
	}
	return out
}

// TestMediaUploadChecksContentStripsMetadataAndScales: an image is told
// by its bytes, re-encoded without what the camera added, scaled to the
// mail width once, and served at its public URL with a year's cache.
func TestMediaUploadChecksContentStripsMetadataAndScales(t *testing.T) {
	a := newTestAPIWith(t, storetest.Open(t))
	rec := uploadImage(a.srv, "/api/v1/media", a.editor, "Foto från Solna.png", testPNG(t, 2400, 600, true))
	if rec.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var m struct {
		ID            int64
		Name, URL     string
		Width, Height int
		ContentType   string `json:"content_type"`
	}
	json.Unmarshal(rec.Body.Bytes(), &m)
	if m.Width != 1200 || m.Height != 300 || m.ContentType != "image/png" || m.Name != "foto-fran-solna.png" {
		t.Fatalf("stored %+v, want 1200×300 PNG foto-fran-solna.png", m)
	}
	if !strings.HasPrefix(m.URL, "http://news.example.se/media/") {
		t.Fatalf("url %q not under the base URL", m.URL)
	}
	stored, err := a.st.MediaFile(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.Data, []byte("59.3293")) || bytes.Contains(stored.Data, []byte("tEXt")) {
		t.Fatal("the position in the upload's metadata survived")
	}
	// Served publicly, no token, cached for a year.
	req := httptest.NewRequest(http.MethodGet, strings.TrimPrefix(m.URL, "http://news.example.se"), nil)
	got := httptest.NewRecorder()
	a.srv.ServeHTTP(got, req)
	if got.Code != http.StatusOK || got.Header().Get("Content-Type") != "image/png" ||
		!strings.Contains(got.Header().Get("Cache-Control"), "max-age=31536000") || !bytes.Equal(got.Body.Bytes(), stored.Data) {
		t.Fatalf("serve: %d %v", got.Code, got.Header())
	}
	// A JPEG that says it is a PNG is still a JPEG.
	var jb bytes.Buffer
	jpeg.Encode(&jb, image.NewRGBA(image.Rect(0, 0, 40, 30)), nil)
	rec = uploadImage(a.srv, "/api/v1/media", a.editor, "bild.png", jb.Bytes())
	if rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), `"content_type":"image/jpeg"`) || !strings.Contains(rec.Body.String(), `"name":"bild.jpg"`) {
		t.Fatalf("jpeg named png: %d %s", rec.Code, rec.Body)
	}
	list := a.do(http.MethodGet, "/api/v1/media", a.viewer, "")
	if list.Code != http.StatusOK || strings.Count(list.Body.String(), `"url"`) != 2 {
		t.Fatalf("list: %d %s", list.Code, list.Body)
	}
}

// TestMediaUploadRefusesWhatIsNotAnImageAndSaysWhy: a text file named
// .png, a file over the size limit and a canvas over the pixel limit are
// 400s naming the file, and nothing is stored.
func TestMediaUploadRefusesWhatIsNotAnImageAndSaysWhy(t *testing.T) {
	a := newTestAPIWith(t, storetest.Open(t))
	// A PNG header claiming 20000×20000 pixels, 400 million: refused
	// before anything is decoded.
	huge := testPNG(t, 1, 1, false)
	copy(huge[16:24], []byte{0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20})
	binary.BigEndian.PutUint32(huge[29:33], crc32.ChecksumIEEE(huge[12:29]))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"rapport.png", []byte("Hej! Det här är text, ingen bild.\n"), "text/plain"},
		{"stor.jpg", bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0}, 9<<18), "larger than 8 MB"},
		{"jatte.png", huge, "million pixels"},
	} {
		rec := uploadImage(a.srv, "/api/v1/media", a.editor, tc.name, tc.data)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"file"`) || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want 400 on file saying %q", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
	ms, _, err := a.st.MediaList(context.Background(), 0, 10)
	if err != nil || len(ms) != 0 {
		t.Fatalf("refused uploads stored %d images (%v)", len(ms), err)
	}
	// A viewer cannot upload.
	if rec := uploadImage(a.srv, "/api/v1/media", a.viewer, "a.png", testPNG(t, 2, 2, false)); rec.Code != http.StatusForbidden {
		t.Fatalf("viewer upload: %d", rec.Code)
	}
	_ = store.RoleViewer
}

// TestMediaUploadFromTheWorkspaceSaysWhyInSwedish: the library page's
// form shows the refusal next to the file field.
func TestMediaUploadFromTheWorkspaceSaysWhyInSwedish(t *testing.T) {
	w, b, _, _ := editorSetup(t)
	b.get("/admin/media")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "protokoll.gif")
	fw.Write([]byte("%PDF-1.7 not an image"))
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/admin/media?csrf="+b.csrf, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := b.do(req)
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), `id="file-error">Filen är ingen bild i PNG, JPEG, GIF eller WebP (den är application/pdf).`) {
		t.Fatalf("no reason by the field:\n%s", rec.Body)
	}
	_ = w
}

// TestCampaignPatchWithAnOldRevisionIsRefused: the API's edit takes the
// revision it was made from, as the editor's autosave does; an edit from
// an older one is a 409 naming revision and changes nothing.
func TestCampaignPatchWithAnOldRevisionIsRefused(t *testing.T) {
	a := newTestAPI(t)
	var c struct {
		ID       int64
		Revision int
		Body     string
	}
	a.ok(201, "POST", "/api/v1/campaigns", `{"name":"Mars","subject":"Nytt","body":"Hej"}`, &c)
	path := "/api/v1/campaigns/" + itoa(c.ID)
	a.ok(200, "PATCH", path, `{"body":"Första","revision":`+strconv.Itoa(c.Revision)+`}`, &c)
	rec := a.do("PATCH", path, a.editor, `{"body":"Andra","revision":`+strconv.Itoa(c.Revision-1)+`}`)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `"field":"revision"`) {
		t.Fatalf("stale edit: %d %s", rec.Code, rec.Body)
	}
	a.ok(200, "GET", path, "", &c)
	if c.Body != "Första" {
		t.Fatalf("body %q after a refused edit", c.Body)
	}
	if rec := a.do("POST", "/api/v1/campaigns", a.editor, `{"name":"X","subject":"Y","body":"Z","revision":3}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("revision on create: %d %s", rec.Code, rec.Body)
	}
}
