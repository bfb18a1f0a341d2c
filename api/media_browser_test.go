package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/store"
)

type mediaWalkResult struct {
	flowResult
	UploadedURL      string `json:"uploadedURL"`
	ServedStatus     int    `json:"servedStatus"`
	TitleErrorTied   bool   `json:"titleErrorTied"`
	RenamedURL       string `json:"renamedURL"`
	DraftNamed       bool   `json:"draftNamed"`
	DeleteFlash      string `json:"deleteFlash"`
	RefusedStatus    int    `json:"refusedStatus"`
	RefusedNames     bool   `json:"refusedNames"`
	RefusedHasButton bool   `json:"refusedHasButton"`
}

// TestMediaLibraryInChromium runs the real server on 127.0.0.1 with its
// media library in an S3 bucket (gofakes3, also on loopback) and lets
// api/pages/a11y/media.mjs walk it as an editor: upload, rename (a
// mistake first), the delete confirmation naming a draft, the delete,
// and the refusal for a scheduled campaign's image. Every page is
// checked with axe-core in light and dark; with UTSKICK_TEST_SCREENSHOTS
// set it writes media-*.png there.
func TestMediaLibraryInChromium(t *testing.T) {
	b := needBrowser(t)
	_, be, bucket := fakeBucket(t)
	lv := startLiveServer(t, liveOptions{Deps: func(d *api.Deps) { d.MediaBucket = bucket }})
	st := lv.Store
	ctx := context.Background()
	addStaff(t, st, &store.User{Email: "redaktor@example.se", Name: "Rut Redaktör", Role: store.RoleEditor, Lang: "sv"}, pw)

	// Two images from before the bucket, in the database: one in a
	// draft, one in a scheduled campaign.
	img := func(name string, w, h int) *store.Media {
		data := testPNG(t, w, h, false)
		m := &store.Media{Name: name, ContentType: "image/png", Width: w, Height: h, Size: len(data), SHA256: fmt.Sprintf("%064x", w*1000+h), Data: data}
		if err := st.CreateMedia(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	draftImg, sentImg := img("karta-solna.png", 320, 200), img("omslag-april.png", 300, 180)
	mediaCampaign(t, st, "Majutkast", fmt.Sprintf("%s/media/%d/%s", lv.BaseURL, draftImg.ID, draftImg.Name), true)
	mediaCampaign(t, st, "Aprilnumret", fmt.Sprintf("%s/media/%d/%s", lv.BaseURL, sentImg.ID, sentImg.Name), false)

	file := filepath.Join(t.TempDir(), "Utsikt från Söder.png")
	if err := os.WriteFile(file, testPNG(t, 640, 400, true), 0o600); err != nil {
		t.Fatal(err)
	}
	var res mediaWalkResult
	b.walk(t, "media.mjs", lv.BaseURL, 3*time.Minute, &res, "IMAGE="+file,
		fmt.Sprintf("DRAFT_IMAGE=%d", draftImg.ID), fmt.Sprintf("SENT_IMAGE=%d", sentImg.ID))
	checkedLightAndDark(t, &res, "media", "media-uploaded", "media-one", "media-one-errors", "media-one-saved", "media-delete", "media-delete-refused")

	if res.ServedStatus != http.StatusOK || !strings.HasPrefix(res.UploadedURL, lv.BaseURL+"/media/") {
		t.Errorf("uploaded image at %q answered %d", res.UploadedURL, res.ServedStatus)
	}
	if res.RenamedURL != res.UploadedURL {
		t.Errorf("the rename moved the image from %s to %s", res.UploadedURL, res.RenamedURL)
	}
	ms, _, _ := st.MediaList(ctx, 0, 10)
	var up *store.Media
	for i := range ms {
		if ms[i].Storage == store.MediaInS3 {
			up = &ms[i]
		}
	}
	if up == nil || up.Title != "Utsikt från Söder" || up.Alt != "Stockholm i kvällsljus sett från Södermalm" {
		t.Fatalf("the uploaded image in the library: %+v", up)
	}
	if _, err := be.HeadObject("utskick", "media/"+up.SHA256); err != nil {
		t.Errorf("the upload is not in the bucket: %v", err)
	}
	if !res.TitleErrorTied {
		t.Error("the empty name's error is not tied to its field")
	}
	if !res.DraftNamed || !strings.Contains(res.DeleteFlash, "borttagen") {
		t.Errorf("delete: draft named %v, flash %q", res.DraftNamed, res.DeleteFlash)
	}
	if _, err := st.MediaInfo(ctx, draftImg.ID); err == nil {
		t.Error("the draft's image is still there")
	}
	if res.RefusedStatus != http.StatusConflict || !res.RefusedNames || res.RefusedHasButton {
		t.Errorf("refusal: status %d, names the campaign %v, has a button %v", res.RefusedStatus, res.RefusedNames, res.RefusedHasButton)
	}
	if _, err := st.MediaInfo(ctx, sentImg.ID); err != nil {
		t.Errorf("the scheduled campaign's image went: %v", err)
	}
}
