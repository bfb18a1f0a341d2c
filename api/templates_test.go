package api_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
)

func busTemplate(t *testing.T) (string, map[string]string) {
	t.Helper()
	src, err := os.ReadFile("../mailtemplates/testdata/templates/bus.html")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../mailtemplates/testdata/templates/bus.theme.json")
	if err != nil {
		t.Fatal(err)
	}
	var theme map[string]string
	if err := json.Unmarshal(b, &theme); err != nil {
		t.Fatal(err)
	}
	return string(src), theme
}

func countTemplates(t *testing.T, st *store.Store) int {
	ts, err := st.Templates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(ts)
}

func TestTemplatesAPI(t *testing.T) {
	ts := newTestServer(t)
	src, theme := busTemplate(t)

	// Rejected templates write nothing.
	bad := []struct {
		name  string
		body  map[string]any
		field string
		msg   string
	}{
		{"no unsubscribe", map[string]any{"name": "x", "html": strings.ReplaceAll(src, `href="{{.UnsubscribeURL}}"`, `href="https://example.se"`)}, "html", "unsubscribe"},
		{"parse error", map[string]any{"name": "x", "html": `<html lang="sv">{{.Content`}, "html", "unclosed action"},
		{"bad colour", map[string]any{"name": "x", "html": src, "theme": map[string]string{"accent": "grön"}}, "theme.accent", "colour"},
		{"contrast", map[string]any{"name": "x", "html": src, "theme": map[string]string{"muted": "#cccccc"}}, "theme.muted", "4.5:1"},
		{"unknown theme key", map[string]any{"name": "x", "html": src, "theme": map[string]string{"colour": "#000000"}}, "colour", "not a known field"},
		{"no html", map[string]any{"name": "x"}, "html", "required"},
	}
	for _, tc := range bad {
		msg := wantField(t, ts.do("POST", "/api/v1/templates", tc.body), tc.field)
		if !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %q does not mention %q", tc.name, msg, tc.msg)
		}
	}
	if n := countTemplates(t, ts.st); n != 0 {
		t.Fatalf("%d templates after rejected requests", n)
	}

	var tp store.Template
	want(t, ts.do("POST", "/api/v1/templates", map[string]any{"name": "BUS", "html": src, "theme": theme}), http.StatusCreated, &tp)
	src = strings.TrimSpace(src)
	if tp.HTML != src || tp.Theme["accent"] != "#2e6b3a" {
		t.Fatalf("created %+v", tp)
	}
	stored, _ := ts.st.Template(context.Background(), tp.ID)
	if !strings.Contains(stored.CompiledHTML, `<h1 class="brand" style="font-family:Georgia, serif;`) {
		t.Fatal("the stored template's <style> rules are not inlined")
	}
	want(t, ts.do("POST", "/api/v1/templates", map[string]any{"name": "BUS", "html": src}), http.StatusConflict, nil)

	// A PATCH that breaks it is refused and changes nothing.
	wantField(t, ts.do("PATCH", "/api/v1/templates/"+itoa(tp.ID), map[string]any{"theme": map[string]string{"text": "#eeeeee"}}), "theme.text")
	if got, _ := ts.st.Template(context.Background(), tp.ID); got.Theme["text"] != theme["text"] || got.UpdatedAt != stored.UpdatedAt {
		t.Fatal("a refused PATCH changed the template")
	}
	var upd store.Template
	want(t, ts.do("PATCH", "/api/v1/templates/"+itoa(tp.ID), map[string]any{"description": "BUS-utskicket"}), http.StatusOK, &upd)
	if upd.Description != "BUS-utskicket" || upd.HTML != src {
		t.Fatalf("patched %+v", upd)
	}

	// Preview with sample data.
	rec := ts.do("POST", "/api/v1/templates/"+itoa(tp.ID)+"/preview", map[string]any{"name": "Bo <b>", "reader_language": "en"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Hej Bo!") || !strings.Contains(rec.Body.String(), "#2e6b3a") ||
		!strings.Contains(rec.Body.String(), "Unsubscribe") || strings.Contains(rec.Body.String(), "<b>") {
		t.Fatalf("preview %d:\n%s", rec.Code, rec.Body.String())
	}
	wantField(t, ts.do("POST", "/api/v1/templates/"+itoa(tp.ID)+"/preview", map[string]any{"body": "Hej {{ nmae }}"}), "body")
	rec = ts.do("POST", "/api/v1/templates/"+itoa(tp.ID)+"/preview", map[string]any{"format": "text"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "KALENDARIUM") {
		t.Fatalf("text preview %d:\n%s", rec.Code, rec.Body.String())
	}

	// A list chooses it; then it cannot be deleted.
	wantField(t, ts.do("POST", "/api/v1/lists", map[string]any{"slug": "bus", "name": "BUS", "template_id": 999}), "template_id")
	var l store.List
	want(t, ts.do("POST", "/api/v1/lists", map[string]any{"slug": "bus", "name": "BUS nyhetsbrev", "template_id": tp.ID, "archive": true, "visibility": "public"}), http.StatusCreated, &l)
	if l.TemplateID == nil || *l.TemplateID != tp.ID || !l.Archive {
		t.Fatalf("list %+v", l)
	}
	want(t, ts.do("DELETE", "/api/v1/templates/"+itoa(tp.ID), nil), http.StatusConflict, nil)

	// The campaign preview is in the list's look.
	var camp store.Campaign
	want(t, ts.do("POST", "/api/v1/campaigns", map[string]any{"name": "okt", "subject": "BUS – oktober", "body": "Hej {{ name }}!\n\n:::article{kicker=\"Nytt\"}\n## Rubrik\nText.\n:::\n", "list_ids": []int64{l.ID}}), http.StatusCreated, &camp)
	rec = ts.do("GET", "/api/v1/campaigns/"+itoa(camp.ID)+"/preview?format=html", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `class="brand"`) || !strings.Contains(rec.Body.String(), "/archive/bus/"+itoa(camp.ID)) {
		t.Fatalf("campaign preview not in the BUS layout:\n%s", rec.Body.String())
	}

	// Back to the built-in layout, then delete.
	want(t, ts.do("PATCH", "/api/v1/lists/"+itoa(l.ID), map[string]any{"template_id": 0}), http.StatusOK, &l)
	if l.TemplateID != nil {
		t.Fatal("template_id 0 did not clear the template")
	}
	want(t, ts.do("DELETE", "/api/v1/templates/"+itoa(tp.ID), nil), http.StatusNoContent, nil)
}

func TestCampaignBodyErrorsAreNamed(t *testing.T) {
	ts := newTestServer(t)
	msg := wantField(t, ts.do("POST", "/api/v1/campaigns", map[string]any{"name": "n", "subject": "s", "body": "Intro\n\n:::artikel{}\n## H\n:::\n"}), "body")
	if !strings.Contains(msg, "line 3") || !strings.Contains(msg, "artikel") {
		t.Fatalf("message %q", msg)
	}
	msg = wantField(t, ts.do("POST", "/api/v1/campaigns", map[string]any{"name": "n", "subject": "Hej {{ förnamn }}", "body": "b"}), "subject")
	if !strings.Contains(msg, "förnamn") {
		t.Fatalf("message %q", msg)
	}
	if cs, _, _ := ts.st.Campaigns(context.Background(), store.CampaignQuery{}); len(cs) != 0 {
		t.Fatal("a rejected campaign was stored")
	}
}

func TestLintAndSendRefusal(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	var l store.List
	want(t, ts.do("POST", "/api/v1/lists", map[string]any{"slug": "senaste-nytt", "name": "Senaste nytt"}), http.StatusCreated, &l)
	var camp store.Campaign
	body := "Hej!\n\n![](https://example.se/bild.jpg)\n\n[Klicka här](http://example.se/x)\n"
	want(t, ts.do("POST", "/api/v1/campaigns", map[string]any{"name": "n", "subject": "Nyheter", "body": body, "list_ids": []int64{l.ID}}), http.StatusCreated, &camp)

	var rep struct {
		Findings []struct{ Code, Severity string }
		Blocking bool
	}
	want(t, ts.do("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/lint", nil), http.StatusOK, &rep)
	got := map[string]bool{}
	for _, f := range rep.Findings {
		got[f.Code] = true
	}
	for _, c := range []string{"missing_alt", "vague_link_text", "insecure_link", "dkim_off", "image_heavy"} {
		if !got[c] {
			t.Errorf("lint lacks %s: %+v", c, rep.Findings)
		}
	}
	if rep.Blocking {
		t.Fatal("advice is blocking")
	}
	wantField(t, ts.do("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/lint?check_links=maybe", nil), "check_links")

	// A template that lost its unsubscribe link (edited in the database,
	// or saved before the check existed) stops the send.
	broken := &store.Template{Name: "trasig", HTML: "x", CompiledHTML: `<html lang="sv"><body>{{.Content}}</body></html>`}
	if err := ts.st.CreateTemplate(ctx, broken); err != nil {
		t.Fatal(err)
	}
	want(t, ts.do("PATCH", "/api/v1/lists/"+itoa(l.ID), map[string]any{"template_id": broken.ID}), http.StatusOK, nil)
	var refusal struct {
		Error    string
		Findings []struct {
			Code     string
			Blocking bool
		}
	}
	want(t, ts.do("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/send", nil), http.StatusConflict, &refusal)
	if !strings.Contains(refusal.Error, "unsubscribe") || refusal.Findings[0].Code != "missing_unsubscribe" || !refusal.Findings[0].Blocking {
		t.Fatalf("refusal %+v", refusal)
	}
	if c, _ := ts.st.Campaign(ctx, camp.ID); c.Status != store.CampaignDraft {
		t.Fatalf("refused campaign is %s", c.Status)
	}

	// With the built-in layout it goes, and the advice comes along.
	want(t, ts.do("PATCH", "/api/v1/lists/"+itoa(l.ID), map[string]any{"template_id": 0}), http.StatusOK, nil)
	var sent struct {
		Status string
		Lint   []struct{ Code string }
	}
	want(t, ts.do("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/send", nil), http.StatusAccepted, &sent)
	if sent.Status != store.CampaignScheduled || len(sent.Lint) == 0 {
		t.Fatalf("send answer %+v", sent)
	}
}

func TestPublicArchive(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	var l, private store.List
	want(t, ts.do("POST", "/api/v1/lists", map[string]any{"slug": "senaste-nytt", "name": "Senaste nytt", "archive": true, "visibility": "public"}), http.StatusCreated, &l)
	want(t, ts.do("POST", "/api/v1/lists", map[string]any{"slug": "intern", "name": "Internt"}), http.StatusCreated, &private)
	sub := &store.Subscriber{Email: "anna@example.org", Name: "Anna Svensson", Language: "sv"}
	if err := ts.st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed}, {ListID: private.ID, Status: store.SubConfirmed}}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	mk := func(subject string, lists []int64, send bool) *store.Campaign {
		var c store.Campaign
		want(t, ts.do("POST", "/api/v1/campaigns", map[string]any{"name": subject, "subject": subject, "preheader": "Kort om numret",
			"body": "Hej {{ first_name | default \"läsare\" }}!\n\n:::article{kicker=\"Nytt\" more=\"https://example.se/a\"}\n## Rubrik\nText.\n:::\n", "list_ids": lists}), http.StatusCreated, &c)
		if send {
			sc, err := ts.st.ScheduleCampaign(ctx, c.ID, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.st.MaterializeDeliveries(ctx, c.ID, sc.Revision); err != nil {
				t.Fatal(err)
			}
		}
		return &c
	}
	sent := mk("Senaste nytt {{ first_name | default \"för alla\" }} – mars", []int64{l.ID}, true)
	draft := mk("Utkast", []int64{l.ID}, false)
	other := mk("Internt brev", []int64{private.ID}, true)

	get := func(path string) *httptestRecorder { return (*httptestRecorder)(ts.do("GET", path, nil)) }
	idx := get("/archive/senaste-nytt")
	if idx.Code != 200 || !strings.Contains(idx.Body.String(), "Senaste nytt för alla – mars") ||
		strings.Contains(idx.Body.String(), "Utkast") || !strings.Contains(idx.Body.String(), "/archive/senaste-nytt/feed.atom") {
		t.Fatalf("index %d:\n%s", idx.Code, idx.Body.String())
	}
	issue := get("/archive/senaste-nytt/" + itoa(sent.ID))
	page := issue.Body.String()
	if issue.Code != 200 || !strings.Contains(page, "Hej läsare!") || !strings.Contains(page, `href="https://nyhetsbrev.example.se/subscribe/senaste-nytt"`) {
		t.Fatalf("issue %d:\n%s", issue.Code, page)
	}
	for _, personal := range []string{"/unsubscribe/", "/preferences/", "Anna", "anna@example.org"} {
		if strings.Contains(page, personal) {
			t.Errorf("the archive page holds %q", personal)
		}
	}
	if !strings.Contains(issue.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Error("no CSP on the issue page")
	}
	for _, path := range []string{"/archive/senaste-nytt/" + itoa(draft.ID), "/archive/senaste-nytt/" + itoa(other.ID), "/archive/intern", "/archive/intern/" + itoa(other.ID), "/archive/finns-inte"} {
		if rec := get(path); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, rec.Code)
		}
	}

	feed := get("/archive/senaste-nytt/feed.atom")
	var f struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string   `xml:"title"`
		Entries []struct {
			Title   string `xml:"title"`
			ID      string `xml:"id"`
			Summary string `xml:"summary"`
			Link    struct {
				Href string `xml:"href,attr"`
			} `xml:"link"`
		} `xml:"entry"`
	}
	if feed.Code != 200 || !strings.HasPrefix(feed.Header().Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("feed %d %s", feed.Code, feed.Header().Get("Content-Type"))
	}
	if err := xml.Unmarshal(feed.Body.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 1 || f.Entries[0].Link.Href != "https://nyhetsbrev.example.se/archive/senaste-nytt/"+itoa(sent.ID) || f.Entries[0].Summary != "Kort om numret" {
		t.Fatalf("feed %+v", f)
	}

	// The mail itself links to the archive copy ("view in browser").
	rec := ts.do("GET", "/api/v1/campaigns/"+itoa(sent.ID)+"/preview?format=text&subscriber_id="+itoa(sub.ID), nil)
	if !strings.Contains(rec.Body.String(), "Visa i webbläsaren: https://nyhetsbrev.example.se/archive/senaste-nytt/"+itoa(sent.ID)) ||
		!strings.Contains(rec.Body.String(), "Hej Anna!") {
		t.Fatalf("preview:\n%s", rec.Body.String())
	}
}
