package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
)

type editorWalkResult struct {
	flowResult
	UploadErrors   []string `json:"uploadErrors"`
	AltRefused     bool     `json:"altRefused"`
	AfterReload    string   `json:"afterReload"`
	PreviewSV      string   `json:"previewSV"`
	PreviewEN      string   `json:"previewEN"`
	PreviewImages  int      `json:"previewImages"`
	ConflictShown  string   `json:"conflictShown"`
	ConflictMine   string   `json:"conflictMine"`
	Confirmation   string   `json:"confirmation"`
	KeyboardFocus  []string `json:"keyboardFocus"`
	CalendarHasIt  bool     `json:"calendarHasIt"`
	CampaignID     int64    `json:"campaignId"`
	PreviewDarkBg  string   `json:"previewDarkBg"`
	PreviewLightBg string   `json:"previewLightBg"`
}

// seedIssue is what the walk writes, taken from seed 003 at test time:
// the editorial's kicker, headline, signature and two paragraphs, and
// one article's kicker, headline and first paragraph.
type seedIssue struct {
	Kicker, Headline, Signature string
	Paras                       []string
	ArticleKicker, ArticleHead  string
	ArticlePara                 string
}

func readSeedIssue(t *testing.T) seedIssue {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "seeds", "003_*.txt"))
	if len(files) == 0 {
		t.Skip("seed 003 not found in ../../shared/seeds")
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s := seedIssue{Kicker: lines[1], Headline: lines[2], Signature: lines[3]}
	long := 0
	for i := 4; i < len(lines); i++ {
		if len(lines[i]) > 100 {
			long++
			if len(s.Paras) < 2 {
				s.Paras = append(s.Paras, lines[i])
			}
			continue
		}
		// The first two short lines after the editorial's four long
		// paragraphs: the article's kicker and headline.
		if long >= 4 && s.ArticleKicker == "" && i+2 < len(lines) && len(lines[i+1]) < 100 && len(lines[i+2]) > 100 && !strings.HasPrefix(lines[i], "Trevlig") {
			s.ArticleKicker, s.ArticleHead, s.ArticlePara = lines[i], lines[i+1], lines[i+2]
			break
		}
	}
	if len(s.Paras) < 2 || s.ArticleHead == "" {
		t.Fatalf("seed 003 has not the expected shape: %+v", s)
	}
	return s
}

// nextDSTDay is the day after the next change of Swedish time after now.
func nextDSTDay(now time.Time) time.Time {
	loc := mailtemplates.Stockholm()
	d := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, loc)
	_, off := d.Zone()
	for i := 0; i < 400; i++ {
		d = d.AddDate(0, 0, 1)
		if _, o := d.Zone(); o != off {
			return d.AddDate(0, 0, 1)
		}
	}
	panic("no DST change within a year")
}

// TestEditorInChromium runs the real server and a worker sending to an
// SMTP capture on 127.0.0.1, and lets api/pages/a11y/editor.mjs write
// seed 003 as an editor would: upload two images (after two refused
// files), write the issue with the block toolbar and the image picker,
// watch autosave survive a reload, preview it for a Swedish and an
// English reader in light and dark, meet a colleague's conflicting
// edit, then by keyboard only send a test and schedule it for 08:00
// Swedish time on the day after the next DST change. Every screen is
// checked with axe-core in light and dark under its real CSP.
func TestEditorInChromium(t *testing.T) {
	b := needBrowser(t)
	seed := readSeedIssue(t)
	ctx := context.Background()
	lv := startLiveServer(t, liveOptions{Worker: true, Deps: func(d *api.Deps) { d.Now = time.Now }})
	st, baseURL := lv.Store, lv.BaseURL

	// Two lists with confirmed readers (one on both, one suppressed), and
	// two editors.
	nytt := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Language: "sv", Optin: store.OptinDouble, ReplyTo: "kommunikation@example.se"}
	bus := &store.List{Slug: "bus", Name: "BUS", Language: "sv", Optin: store.OptinDouble}
	for _, l := range []*store.List{nytt, bus} {
		if err := st.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		in := []store.SubscriptionInput{{ListID: nytt.ID, Status: store.SubConfirmed, ConsentBasis: "test"}}
		if i%4 == 0 {
			in = append(in, store.SubscriptionInput{ListID: bus.ID, Status: store.SubConfirmed, ConsentBasis: "test"})
		}
		lang := "sv"
		if i == 1 {
			lang = "en"
		}
		sub := &store.Subscriber{Email: fmt.Sprintf("person%02d@kommun.example.se", i), Name: fmt.Sprintf("Person %d", i), Language: lang,
			Attributes: store.Attributes{"kommun": "Solna"}}
		if err := st.CreateSubscriber(ctx, sub, in, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Suppress(ctx, "person11@kommun.example.se", store.SuppressManual, "test", store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ email, pw string }{{"redaktor@example.se", "ett långt lösenord"}, {"kollega@example.se", "ett annat långt lösenord"}} {
		addStaff(t, st, &store.User{Email: u.email, Name: strings.Split(u.email, "@")[0], Role: store.RoleEditor}, u.pw)
	}
	// The files to upload: two photos, a text file named .png and a
	// JPEG over the size limit.
	dir := t.TempDir()
	files := map[string][]byte{
		"kontoret.png":  testPNG(t, 1800, 900, true),
		"hemtjanst.png": testPNG(t, 900, 500, false),
		"protokoll.png": []byte("Protokoll fört vid styrelsemöte\n"),
		"jattestor.jpg": bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0}, 9<<18),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	day := nextDSTDay(time.Now())
	wantAt := time.Date(day.Year(), day.Month(), day.Day(), 8, 0, 0, 0, mailtemplates.Stockholm()).UTC()
	seedJSON, _ := json.Marshal(seed)

	var res editorWalkResult
	b.walk(t, "editor.mjs", baseURL, 4*time.Minute, &res,
		"FILES="+dir, "SEED="+string(seedJSON), "SCHEDULE_DATE="+day.Format("2006-01-02"), "SCHEDULE_MONTH="+day.Format("2006-01"))
	checkedLightAndDark(t, &res, "media-errors", "media", "campaigns", "editor-new", "editor-new-errors", "editor", "editor-conflict", "send", "calendar")

	// Refused uploads said why.
	if len(res.UploadErrors) != 2 || !strings.Contains(res.UploadErrors[0], "ingen bild") || !strings.Contains(res.UploadErrors[1], "större än 8 MB") {
		t.Errorf("upload errors %q", res.UploadErrors)
	}
	if !res.AltRefused {
		t.Error("an image was inserted without alt text")
	}
	// The campaign as the clicks left it.
	camp, err := st.Campaign(ctx, res.CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(camp.Body, baseURL+"/media/"); n != 2 {
		t.Errorf("body holds %d media library images, want 2:\n%s", n, camp.Body)
	}
	for _, want := range []string{":::editorial", ":::article", seed.Headline, seed.Paras[0][:60], seed.ArticleHead} {
		if !strings.Contains(camp.Body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	if !strings.Contains(res.AfterReload, "autosparad rad") {
		t.Errorf("autosaved text lost on reload: %q", res.AfterReload)
	}
	if !strings.Contains(res.PreviewSV, "Avsluta prenumeration") && !strings.Contains(res.PreviewSV, "avsluta") {
		t.Errorf("Swedish preview footer: %.300q", res.PreviewSV)
	}
	if !strings.Contains(res.PreviewEN, "nsubscribe") {
		t.Errorf("English preview footer: %.300q", res.PreviewEN)
	}
	if res.PreviewImages < 2 {
		t.Errorf("preview shows %d images, want 2", res.PreviewImages)
	}
	if res.PreviewDarkBg == res.PreviewLightBg {
		t.Errorf("dark and light previews have the same background %q", res.PreviewDarkBg)
	}
	if !strings.Contains(res.ConflictShown, "Någon annan") || !strings.Contains(res.ConflictMine, "kollegans rad") {
		t.Errorf("conflict: shown %q, own text %q", res.ConflictShown, res.ConflictMine)
	}
	if !strings.Contains(res.Confirmation, "Senaste nytt, BUS") || !strings.Contains(res.Confirmation, "11") {
		t.Errorf("confirmation does not name the lists and 11 recipients: %q", res.Confirmation)
	}
	if camp.Status != store.CampaignScheduled || camp.SendAt == nil || !camp.SendAt.Equal(wantAt) {
		t.Errorf("campaign %s at %v, want scheduled at %v (08:00 Swedish time on %s)", camp.Status, camp.SendAt, wantAt, day.Format("2006-01-02"))
	}
	if !res.CalendarHasIt {
		t.Error("the calendar does not show the scheduled issue")
	}
	// The test send reached the capture, signed off as a test.
	deadline := time.Now().Add(15 * time.Second)
	found := false
	for !found && time.Now().Before(deadline) {
		emls, _ := filepath.Glob(filepath.Join(lv.OutboxDir, "*.eml"))
		for _, f := range emls {
			raw, _ := os.ReadFile(f)
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err == nil && strings.Contains(msg.Header.Get("To"), "redaktor@example.se") {
				subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
				found = strings.HasPrefix(subj, "[TEST] ")
			}
		}
		if !found {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !found {
		t.Error("no [TEST] mail to redaktor@example.se in the outbox")
	}
	t.Logf("keyboard path: %s", strings.Join(res.KeyboardFocus, " → "))
}
