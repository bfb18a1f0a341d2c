package s3media_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/storsthlm/utskick/internal/s3media"
)

func fakeS3(t *testing.T, bucket string) (*httptest.Server, *s3mem.Backend) {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	return srv, be
}

func open(t *testing.T, srv *httptest.Server, bucket string) *s3media.Bucket {
	t.Helper()
	b, err := s3media.Open(s3media.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: bucket, Region: "us-east-1",
		AccessKey: "utskick", SecretKey: "utskick-secret", Prefix: "media/", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// TestBucketPutGetDeleteUnderThePrefix: an object written is read back
// byte for byte from prefix+key, a deleted one is fs.ErrNotExist, and
// deleting it again is no error.
func TestBucketPutGetDeleteUnderThePrefix(t *testing.T) {
	srv, be := fakeS3(t, "bilder")
	b := open(t, srv, "bilder")
	ctx := context.Background()
	if err := b.Check(ctx); err != nil {
		t.Fatal(err)
	}
	data := []byte("\x89PNG not really")
	k := key(data)
	if err := b.Put(ctx, k, "image/png", data); err != nil {
		t.Fatal(err)
	}
	if obj, err := be.HeadObject("bilder", "media/"+k); err != nil || obj.Size != int64(len(data)) {
		t.Fatalf("object under the prefix: %+v %v", obj, err)
	}
	rc, err := b.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != string(data) {
		t.Fatalf("read %q", got)
	}
	if ok, err := b.Exists(ctx, k); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if err := b.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, k); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("get after delete: %v, want fs.ErrNotExist", err)
	}
	if err := b.Delete(ctx, k); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := b.Put(ctx, "../etc/passwd", "image/png", data); err == nil {
		t.Fatal("a key that is not a SHA-256 was taken")
	}
}

// TestBucketDownOrMissingIsUnavailable: a server that does not answer
// and a bucket that does not exist are ErrUnavailable, not a missing
// object.
func TestBucketDownOrMissingIsUnavailable(t *testing.T) {
	srv, _ := fakeS3(t, "bilder")
	ctx := context.Background()
	if err := open(t, srv, "finns-inte").Check(ctx); !errors.Is(err, s3media.ErrUnavailable) {
		t.Fatalf("missing bucket: %v", err)
	}
	b := open(t, srv, "bilder")
	srv.Close()
	k := key([]byte("x"))
	if err := b.Put(ctx, k, "image/png", []byte("x")); !errors.Is(err, s3media.ErrUnavailable) {
		t.Fatalf("put to a stopped server: %v", err)
	}
	if _, err := b.Get(ctx, k); !errors.Is(err, s3media.ErrUnavailable) || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("get from a stopped server: %v", err)
	}
}

// TestOpenRefusesAnEndpointWithAScheme: the TLS setting says the scheme.
func TestOpenRefusesAnEndpointWithAScheme(t *testing.T) {
	if _, err := s3media.Open(s3media.Config{Endpoint: "https://s3.example.se", Bucket: "b"}); err == nil {
		t.Fatal("took a URL as endpoint")
	}
	if _, err := s3media.Open(s3media.Config{Endpoint: "s3.example.se"}); err == nil {
		t.Fatal("took no bucket")
	}
}
