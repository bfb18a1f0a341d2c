package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
)

// seedSizedBody is an issue as long as seed 003 (about 14 kB of text):
// each of its paragraphs in an article, read at test time; without the
// seed, the committed March issue three times over.
func seedSizedBody(tb testing.TB) string {
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "seeds", "003_*.txt"))
	var b strings.Builder
	if len(files) > 0 {
		raw, err := os.ReadFile(files[0])
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for _, l := range strings.Split(string(raw), "\n") {
			l = strings.TrimSpace(l)
			if len(l) < 100 {
				continue
			}
			n++
			fmt.Fprintf(&b, ":::article{kicker=\"Avsnitt %d\" image=\"https://nyhetsbrev.example.se/media/%d/bild.jpg\" alt=\"Bild %d\"}\n## Rubrik %d\n\nHej {{ first_name | default \"alla\" }}! %s\n:::\n\n", n, n, n, n, l)
		}
		return b.String()
	}
	raw, err := os.ReadFile(filepath.Join("..", "mailtemplates", "testdata", "issues", "senaste-nytt-mars.md"))
	if err != nil {
		tb.Fatal(err)
	}
	_, body, _ := strings.Cut(string(raw), "\n\n")
	return strings.Repeat(body+"\n", 3)
}

// BenchmarkEditorPreviewRefresh is one refresh of the editor's live
// preview for a seed-sized issue, through the whole server (session,
// routing, load, compose, render): the HTML the frame loads and the text
// part, of the saved draft (GET) and of the fields as typed (POST, what
// editor.js sends after a pause in typing: form parsing and the save's
// checks on top). The brief asks for under 30 ms of server time.
func BenchmarkEditorPreviewRefresh(b *testing.B) {
	w, br, c, lists := editorSetup(b)
	ctx := context.Background()
	body := seedSizedBody(b)
	if _, err := w.st.UpdateCampaign(ctx, c.ID, store.CampaignPatch{Body: &body}); err != nil {
		b.Fatal(err)
	}
	b.Logf("body: %d bytes", len(body))
	for _, format := range []string{"html", "text"} {
		path := fmt.Sprintf("/admin/campaigns/%d/preview?format=%s&lang=sv", c.ID, format)
		if rec := br.get(path); rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		b.Run(format, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			for b.Loop() {
				br.do(req.Clone(ctx))
			}
		})
	}
	br.get(fmt.Sprintf("/admin/campaigns/%d/edit", c.ID))
	form := editorFields("Mars", "Senaste nytt", body+"\nEtt stycke till.\n", lists[0], lists[1])
	form.Set("csrf", br.csrf)
	enc := form.Encode()
	for _, format := range []string{"html", "text"} {
		path := fmt.Sprintf("/admin/campaigns/%d/preview?format=%s&lang=sv", c.ID, format)
		post := func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(enc))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("Origin", webBase)
			return req
		}
		if rec := br.do(post()); rec.Code != http.StatusOK {
			b.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
		}
		b.Run("posted-"+format, func(b *testing.B) {
			for b.Loop() {
				br.do(post())
			}
		})
	}
}
