package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
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
	PreviewFollows bool     `json:"previewFollows"`
	// The morning of the send.
	StatusBefore string         `json:"statusBefore"`
	StatusAfter  string         `json:"statusAfter"`
	CampaignPage string         `json:"campaignPage"`
	SentSeen     []int64        `json:"sentSeen"`
	Reloads      int            `json:"reloads"`
	Figures      map[string]int `json:"figures"`
	Charts       int            `json:"charts"`
	ChartTables  int            `json:"chartTables"`
}

// tuesdayAfterDST is the first Tuesday after the next change of Swedish
// time after now: the issue goes out on Tuesdays.
func tuesdayAfterDST(now time.Time) time.Time {
	d := nextDSTDay(now)
	for d.Weekday() != time.Tuesday {
		d = d.AddDate(0, 0, 1)
	}
	return d
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

// demoIssue has the shape of seed 003 in words of our own, for the
// screenshots in docs/.
func demoIssue() seedIssue {
	return seedIssue{
		Kicker:    "Direktören har ordet",
		Headline:  "Ett nytt år med gemensamma frågor",
		Signature: "Förbundsdirektören",
		Paras: []string{
			"Under hösten har medlemskommunerna arbetat tillsammans med flera frågor som ingen av dem kan lösa ensam, från kompetensförsörjning till digitala tjänster för invånarna.",
			"I det här numret berättar vi om vad nätverken har åstadkommit, vilka beslut styrelsen har fattat och vad som händer i vår. Hör gärna av dig med tips till nästa nummer.",
		},
		ArticleKicker: "Äldreomsorg",
		ArticleHead:   "Nätverket för hemtjänst samlas i mars",
		ArticlePara:   "Chefer och samordnare från kommunernas hemtjänst träffas för att dela erfarenheter av planering, bemanning och nya arbetssätt. Anmälan är öppen till slutet av februari.",
	}
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

// beforeSend is how far before the scheduled instant the walk moves the
// server's clock. The walk then signs in afresh and opens the campaign
// page, which must still say scheduled: three seconds were too few under
// the race detector on a loaded machine (the sign-in's password hash
// alone takes a while there), and the page already said sending.
const beforeSend = 10 * time.Second

// TestEditorInChromium runs the real server and a worker sending to an
// SMTP capture on 127.0.0.1, and lets api/pages/a11y/editor.mjs write
// seed 003 as an editor would: upload two images (after two refused
// files), write the issue with the block toolbar and the image picker,
// watch autosave survive a reload, preview it for a Swedish and an
// English reader in light and dark, meet a colleague's conflicting
// edit, then by keyboard only send a test and schedule it for 08:00
// Swedish time on the Tuesday after the next DST change. The server's
// clock (store, API and worker) starts on the Friday before; the walk
// has it moved to beforeSend ahead of the instant and watches the
// issue go out then, its progress and its report. Every screen is
// checked with axe-core in light and dark under its real CSP.
func TestEditorInChromium(t *testing.T) {
	b := needBrowser(t)
	seed := readSeedIssue(t)
	if os.Getenv("UTSKICK_TEST_SCREENSHOTS") != "" {
		// The documentation's pictures must not carry the seed's
		// sentences into the repository.
		seed = demoIssue()
	}
	ctx := context.Background()
	loc := mailtemplates.Stockholm()
	clock := &storetest.Clock{}
	// The Friday before the spring change of 2027 (28 March), 10:00.
	clock.Set(time.Date(2027, 3, 26, 10, 0, 0, 0, loc))
	day := tuesdayAfterDST(clock.Now())
	wantAt := time.Date(day.Year(), day.Month(), day.Day(), 8, 0, 0, 0, loc).UTC()
	var movedAt time.Time
	lv := startLiveServer(t, liveOptions{Worker: true, Now: clock.Now, SMTPDelay: 200 * time.Millisecond,
		WorkerConfig: func(c *worker.Config) { c.SMTP.Connections, c.Senders.Slots, c.Senders.BatchSize = 1, 1, 2 },
		Routes: func(lv *liveServer, mux *http.ServeMux) {
			// The morning of the send, shortly before it.
			mux.HandleFunc("/__test/clock", func(w http.ResponseWriter, r *http.Request) {
				clock.Set(wantAt.Add(-beforeSend))
				movedAt = time.Now()
				fmt.Fprint(w, clock.Now().In(loc).Format(time.RFC3339))
			})
		}})
	st, baseURL := lv.Store, lv.BaseURL

	// Two lists with confirmed readers (one on both, one suppressed), and
	// two editors.
	nytt := &store.List{Slug: "senaste-nytt", Name: "Senaste nytt", Language: "sv", Optin: store.OptinDouble, ReplyTo: "kommunikation@example.se",
		TrackOpens: true, TrackClicks: true}
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
	seedJSON, _ := json.Marshal(seed)

	var res editorWalkResult
	b.walk(t, "editor.mjs", baseURL, 4*time.Minute, &res,
		"FILES="+dir, "SEED="+string(seedJSON), "SCHEDULE_DATE="+day.Format("2006-01-02"), "SCHEDULE_MONTH="+day.Format("2006-01"))
	checkedLightAndDark(t, &res, "media-errors", "media", "campaigns", "editor-new", "editor-new-errors", "editor", "editor-conflict", "send", "calendar",
		"campaign-sent", "report")

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
	if !res.PreviewFollows {
		t.Error("the preview did not show text typed but not yet saved")
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
	// 08:00 on the Tuesday after the change is 06:00 UTC (summer time),
	// stored as that instant; the campaign went out at it, not before.
	if want := time.Date(2027, 3, 30, 6, 0, 0, 0, time.UTC); !wantAt.Equal(want) {
		t.Fatalf("the walk's instant is %v, want %v", wantAt, want)
	}
	if camp.SendAt == nil || !camp.SendAt.Equal(wantAt) {
		t.Errorf("campaign stored send_at %v, want %v (08:00 Swedish time on %s)", camp.SendAt, wantAt, day.Format("2006-01-02"))
	}
	if res.StatusBefore != "Schemalagd" || !strings.Contains(res.CampaignPage, "08:00") {
		t.Errorf("%v before the instant the campaign page says %q: %.300s", beforeSend, res.StatusBefore, res.CampaignPage)
	}
	if camp.Status != store.CampaignSent || res.StatusAfter != "Skickad" {
		t.Errorf("campaign %s, page says %q; want sent", camp.Status, res.StatusAfter)
	}
	if camp.StartedAt == nil || camp.StartedAt.Before(wantAt) || camp.StartedAt.After(wantAt.Add(10*time.Second)) {
		t.Errorf("campaign started at %v, want at %v (within the worker's reconcile period)", camp.StartedAt, wantAt)
	} else {
		t.Logf("went out %v after the instant (clock moved %v before it, by the wall clock at %s)", camp.StartedAt.Sub(wantAt), beforeSend, movedAt.Format("15:04:05"))
	}
	rows, _, err := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: camp.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	sentTo := map[string]bool{}
	for _, d := range rows {
		if d.Status != store.DeliverySent || d.SentAt == nil || d.SentAt.Before(wantAt) {
			t.Errorf("delivery %d to %s: %s at %v", d.ID, d.Email, d.Status, d.SentAt)
		}
		sentTo[d.Email] = true
	}
	if len(rows) != 11 || sentTo["person11@kommun.example.se"] {
		t.Errorf("%d deliveries (%v), want the 11 unsuppressed readers once each", len(rows), sentTo)
	}
	// The progress was watched moving: some figure between none and
	// all, then all.
	moving := false
	for _, n := range res.SentSeen {
		moving = moving || n > 0 && n < 11
	}
	if len(res.SentSeen) == 0 || res.SentSeen[len(res.SentSeen)-1] != 11 || !moving {
		t.Errorf("progress seen %v (%d reloads); want it watched up to 11", res.SentSeen, res.Reloads)
	}
	if res.Figures["recipients"] != 11 || res.Figures["delivered"] != 11 || res.Figures["failed"] != 0 {
		t.Errorf("report figures %v, want 11 recipients, 11 delivered", res.Figures)
	}
	// Sends over time, and opens and clicks (the list tracks them); the
	// clicks per link need links, which this issue has none of.
	if res.Charts < 2 || res.ChartTables != res.Charts {
		t.Errorf("report has %d charts and %d chart tables, want sends and opens/clicks, each with its table", res.Charts, res.ChartTables)
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
	// The capture holds the campaign's mail for each reader (the test
	// send besides): the deliveries went through SMTP.
	emls, _ := filepath.Glob(filepath.Join(lv.OutboxDir, "*.eml"))
	got := map[string]bool{}
	for _, f := range emls {
		raw, _ := os.ReadFile(f)
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			continue
		}
		subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if !strings.HasPrefix(subj, "[TEST] ") {
			if a, err := mail.ParseAddress(msg.Header.Get("To")); err == nil {
				got[a.Address] = true
			}
		}
	}
	for email := range sentTo {
		if !got[email] {
			t.Errorf("no campaign mail to %s in the SMTP capture", email)
		}
	}
	t.Logf("keyboard path: %s", strings.Join(res.KeyboardFocus, " → "))
}
