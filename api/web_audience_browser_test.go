package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

type audienceResult struct {
	flowResult
	Progress      []float64 `json:"progress"`      // the bar's values as the walk saw them
	RejectLines   int       `json:"rejectLines"`   // lines of the downloaded report, header included
	ViewerForms   []string  `json:"viewerForms"`   // write forms a viewer saw
	ViewerForged  int       `json:"viewerForged"`  // status of a viewer's forged POST
	SearchResults int       `json:"searchResults"` // rows found for the surname
}

// TestAudienceInChromium runs the server and a worker on 127.0.0.1 and
// lets api/pages/a11y/audience.mjs walk the audience screens as an
// editor: create the BUS list (a mistake first) → import a CSV of 20 000
// rows, watching the progress bar move → download the rejects → search
// a person → change their subscriptions → erase them; then as a viewer:
// no write controls, and a forged POST is refused. Every screen is
// checked with axe-core in light and dark. With UTSKICK_TEST_SCREENSHOTS
// set it writes docs/screenshots/audience-*.png.
func TestAudienceInChromium(t *testing.T) {
	b := needBrowser(t)
	ctx := context.Background()
	lv := startLiveServer(t, liveOptions{Worker: true, Deps: func(d *api.Deps) { d.Limits.ImportMaxBytes = 16 << 20 }})
	st := lv.Store
	for email, role := range map[string]string{"redaktor@example.se": store.RoleEditor, "lasare@example.se": store.RoleViewer} {
		addStaff(t, st, &store.User{Email: email, Name: strings.Split(email, "@")[0], Role: role}, "ett långt lösenord")
	}
	// A second list, for the edit of a person's subscriptions.
	if err := st.CreateList(ctx, &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Visibility: store.VisibilityPublic, Optin: store.OptinDouble}); err != nil {
		t.Fatal(err)
	}

	// The file: 20 000 people, three bad addresses and two repeats, so
	// that the report has five rows.
	csvPath := filepath.Join(t.TempDir(), "medlemmar.csv")
	var csv bytes.Buffer
	csv.WriteString("e-post;namn;kommun\n")
	first := []string{"Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Per", "Sara", "Anders"}
	last := []string{"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Gustafsson"}
	for i := range 20000 {
		fmt.Fprintf(&csv, "person%05d@kommun%02d.example.se;%s %s;Kommun %d\n", i, i%26, first[i%10], last[(i/10)%10], i%26)
	}
	csv.WriteString("Lena.Lindqvist@Solna.example.se;Lena Lindqvist;Solna\n")
	for _, bad := range []string{"inte-en-adress", "saknar@", "två@@example.se", "person00001@kommun01.example.se", "person00002@kommun02.example.se"} {
		fmt.Fprintf(&csv, "%s;Fel Rad;X\n", bad)
	}
	if err := os.WriteFile(csvPath, csv.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	var res audienceResult
	b.walk(t, "audience.mjs", lv.BaseURL, 4*time.Minute, &res, "CSV="+csvPath)
	checkedLightAndDark(t, &res, "lists-empty", "list-new", "list-errors", "list-sender-error", "list", "lists", "imports-empty", "import-review",
		"import-running", "import-done", "imports", "subscribers", "person", "person-saved", "erase", "subscribers-erased",
		"suppressions", "person-new", "viewer-lists", "viewer-list", "viewer-person", "viewer-imports")
	// The bar moved: a value strictly between the start and the end was
	// seen, and the values never went back.
	moved := false
	for i, p := range res.Progress {
		if p > 0 && p < 100 {
			moved = true
		}
		if i > 0 && p < res.Progress[i-1] {
			t.Errorf("the bar went back: %v", res.Progress)
		}
	}
	if !moved || len(res.Progress) == 0 || res.Progress[len(res.Progress)-1] != 100 {
		t.Errorf("progress seen %v: want it to move and end at 100", res.Progress)
	}
	if res.RejectLines != 6 {
		t.Errorf("the downloaded report has %d lines, want a header and 5 rejects", res.RejectLines)
	}
	if res.SearchResults != 1 {
		t.Errorf("search for the surname found %d rows", res.SearchResults)
	}
	if len(res.ViewerForms) > 0 {
		t.Errorf("a viewer saw write forms: %v", res.ViewerForms)
	}
	if res.ViewerForged != http.StatusForbidden {
		t.Errorf("a viewer's forged POST answered %d", res.ViewerForged)
	}

	// What the clicks did, in the database.
	bus, err := st.ListBySlug(ctx, "bus")
	if err != nil {
		t.Fatal(err)
	}
	full, _ := st.List(ctx, bus.ID)
	if full.Counts.Confirmed != 20000 || full.Name != "BUS" || full.Visibility != store.VisibilityPublic {
		t.Errorf("BUS after the import and the erasure: %+v", full)
	}
	if _, err := st.SubscriberByEmail(ctx, "lena.lindqvist@solna.example.se"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the erased person is still there: %v", err)
	}
	if ok := storetest.Suppressed(t, st, "lena.lindqvist@solna.example.se"); !ok {
		t.Error("the erased address is not suppressed")
	}
	if ok := storetest.Suppressed(t, st, "klagade@example.se"); !ok {
		t.Error("the address added on the suppression screen is not suppressed")
	}
	// Her subscription was changed in the browser before the erasure:
	// the event stays (without her) and names the editor.
	nytt, _ := st.ListBySlug(ctx, "senaste-nytt")
	editor, _ := st.UserByEmail(ctx, "redaktor@example.se")
	evs, _, err := st.Events(ctx, store.EventQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	edited := 0
	for _, ev := range evs {
		if ev.Kind == store.EventConfirmed && ev.ListID != nil && *ev.ListID == nytt.ID && ev.UserID != nil && *ev.UserID == editor.ID {
			edited++
		}
	}
	if edited != 1 {
		t.Errorf("%d confirmations on Senaste nytt by the editor, want 1", edited)
	}
}
