package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/storsthlm/utskick/internal/s3media"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestMediaSweepDeletesOnlyUnusedOldObjects: of the bucket's objects,
// the one a row uses stays, an unused one goes (not with -dry-run, not
// while younger than the minimum age), and an object that is not a
// library key is not touched.
func TestMediaSweepDeletesOnlyUnusedOldObjects(t *testing.T) {
	be := s3mem.New()
	if err := be.CreateBucket("bilder"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	defer srv.Close()
	b, err := s3media.Open(s3media.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: "bilder", Region: "us-east-1",
		AccessKey: "k", SecretKey: "s", Prefix: "utskick/", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	used, orphan := key("used"), key("orphan")
	for _, k := range []string{used, orphan} {
		if err := b.Put(ctx, k, "image/png", []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := be.PutObject("bilder", "utskick/LÄSMIG.txt", nil, strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t)
	if err := st.CreateMedia(ctx, &store.Media{Name: "a.png", ContentType: "image/png", Width: 1, Height: 1, Size: 64, SHA256: used, Storage: store.MediaInS3}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(48 * time.Hour)
	var out bytes.Buffer
	if n, _, err := sweepMedia(ctx, st, b, 24*time.Hour, false, time.Now(), &out); err != nil || n != 0 {
		t.Fatalf("young objects swept: %d %v", n, err)
	}
	if n, _, err := sweepMedia(ctx, st, b, 24*time.Hour, true, later, &out); err != nil || n != 1 || !strings.Contains(out.String(), orphan) {
		t.Fatalf("dry run: %d %v\n%s", n, err, out.String())
	}
	if ok, _ := b.Exists(ctx, orphan); !ok {
		t.Fatal("the dry run deleted")
	}
	if n, size, err := sweepMedia(ctx, st, b, 24*time.Hour, false, later, &out); err != nil || n != 1 || size != 64 {
		t.Fatalf("sweep: %d %d %v", n, size, err)
	}
	if ok, _ := b.Exists(ctx, orphan); ok {
		t.Error("the unused object stayed")
	}
	if ok, _ := b.Exists(ctx, used); !ok {
		t.Error("the used object went")
	}
	if _, err := be.HeadObject("bilder", "utskick/LÄSMIG.txt"); err != nil {
		t.Errorf("an object that is not the library's went: %v", err)
	}
}
