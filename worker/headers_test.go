package worker_test

import (
	"bufio"
	"context"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// Issue 10 item 16: a subject made long by a 3,000-character attribute
// gave a 3,082-character header line; the server refused it (554) and the
// delivery counted as a permanent failure. Sent through the real sending
// path to the embedded SMTP capture on loopback, every message is
// accepted, every header line is within RFC 5322's 78 characters, and the
// headers parse back to the subject, capped, and the recipient.
func TestLongHeaderValuesAreFoldedAndCapped(t *testing.T) {
	st := storetest.Open(t)
	e := newEnv(t, st, nil)
	ctx := context.Background()
	l := &store.List{Slug: "nytt", Name: "Nytt", Language: "sv", Optin: store.OptinSingle}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	words := strings.Repeat("Lång kommunnamn-text ", 150)[:3000]
	values := map[string]struct{ name, kommun string }{
		"words@example.org":     {"Anna Svensson", strings.Repeat("Kommunen ", 334)[:3000]},
		"swedish@example.org":   {"Åsa Öberg", words},
		"oneword@example.org":   {"Bo", strings.Repeat("x", 3000)},
		"longname@example.org":  {strings.Repeat("Långt", 40), "Solna"},
		"asciiname@example.org": {strings.Repeat("N", 200), "Solna"},
	}
	for email, v := range values {
		s := &store.Subscriber{Email: email, Name: v.name, Language: "sv", Attributes: store.Attributes{"kommun": v.kommun}}
		if err := st.CreateSubscriber(ctx, s, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubConfirmed}}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	c := &store.Campaign{Name: "n", Subject: "Nyheter för {{ attr.kommun }}", Body: "Hej {{ name }}!", ListIDs: []int64{l.ID}}
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	e.schedule(t, c.ID)
	stats := e.waitSent(t, c.ID, 30*time.Second)
	if stats.Sent != int64(len(values)) || stats.Failed != 0 {
		t.Fatalf("stats %+v: the capture refused some", stats)
	}
	files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
	if len(files) != len(values) {
		t.Fatalf("%d messages captured, want %d", len(files), len(values))
	}
	dec := new(mime.WordDecoder)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
		sc := bufio.NewScanner(strings.NewReader(head))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if n := len(strings.TrimRight(sc.Text(), "\r")); n > 78 && !strings.HasPrefix(sc.Text(), "DKIM-Signature") {
				t.Errorf("%s: a %d-character header line: %.90s…", filepath.Base(f), n, sc.Text())
			}
		}
		m, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		to, err := mail.ParseAddress(m.Header.Get("To"))
		if err != nil {
			t.Fatalf("To %q: %v", m.Header.Get("To"), err)
		}
		v, ok := values[to.Address]
		if !ok {
			t.Fatalf("unknown recipient %q", to.Address)
		}
		if to.Name != v.name {
			t.Errorf("To name %q, want %q", to.Name, v.name)
		}
		subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("Subject %q: %v", m.Header.Get("Subject"), err)
		}
		want := "Nyheter för " + v.kommun
		if len([]rune(want)) > mailtemplates.MaxSubjectChars {
			r := []rune(want)[:mailtemplates.MaxSubjectChars-1]
			want = strings.TrimRight(string(r), " ") + "…"
		}
		if subj != want {
			t.Errorf("%s: subject %q,\nwant %q", to.Address, subj, want)
		}
	}
}
