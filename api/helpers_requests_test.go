package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http/httptest"
	"reflect"
	"testing"
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
