package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

type flowResult struct {
	Pages []struct {
		Name, Scheme, Lang, URL string
		Passes, Violations      int
	} `json:"pages"`
	Violations []struct {
		Page, Scheme, ID, Impact, Help string
		Nodes                          []string
	} `json:"violations"`
	Steps  []string `json:"steps"`
	Errors []string `json:"errors"`
	CSP    []string `json:"csp"` // what the pages' Content-Security-Policy refused
	Focus  struct {
		ID, Outline, Width string
	} `json:"focus"`
	ErrorsTied bool `json:"errorsTied"`
}

// TestPagesInChromium runs the real server (API, public pages and a
// worker sending to the embedded SMTP capture) on 127.0.0.1 and lets
// api/pages/a11y/flow.mjs drive subscribe → confirm → preferences →
// unsubscribe → undo in headless Chromium, checking every page with
// axe-core. The confirmation link comes from the real opt-in mail.
func TestPagesInChromium(t *testing.T) {
	b := needBrowser(t)
	ctx := context.Background()
	var bus, nytt store.List
	// /__test/links hands the harness the confirmation link from the
	// opt-in mail in the capture, and the preference and unsubscribe
	// links a campaign mail's footer would carry.
	confirmRE := regexp.MustCompile(`https?://[^\s"<>]+/confirm/[a-z2-7]+`)
	lv := startLiveServer(t, liveOptions{Org: "Förbundet", Worker: true,
		Deps: func(d *api.Deps) { d.Inbound = inbound.New(d.Store, d.Signer, nil).HandleFunc(api.ErrNotMail) },
		Routes: func(lv *liveServer, mux *http.ServeMux) {
			mux.HandleFunc("/__test/links", func(w http.ResponseWriter, r *http.Request) {
				email := r.URL.Query().Get("email")
				deadline := time.Now().Add(15 * time.Second)
				for time.Now().Before(deadline) {
					files, _ := filepath.Glob(filepath.Join(lv.OutboxDir, "*.eml"))
					for _, f := range files {
						raw, _ := os.ReadFile(f)
						msg, err := mail.ReadMessage(bytes.NewReader(raw))
						if err != nil || !strings.Contains(msg.Header.Get("To"), email) {
							continue
						}
						body := strings.ReplaceAll(string(raw), "=\r\n", "") // quoted-printable soft breaks
						confirm := confirmRE.FindString(body)
						sub, err := lv.Store.SubscriberByEmail(r.Context(), email)
						if confirm == "" || err != nil {
							continue
						}
						// The list as the store has it: the test's own
						// copy is written after the server starts.
						bl, err := lv.Store.ListBySlug(r.Context(), "bus")
						if err != nil {
							continue
						}
						json.NewEncoder(w).Encode(map[string]any{
							"confirm":     confirm,
							"preferences": lv.BaseURL + "/preferences/" + lv.Signer.PreferencesToken(sub.ID),
							"unsubscribe": lv.BaseURL + "/unsubscribe/" + lv.Signer.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID}),
							"bus_id":      strconv.FormatInt(bl.ID, 10),
						})
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				http.Error(w, "no opt-in mail for "+email, http.StatusNotFound)
			})
		}})
	st := lv.Store
	for _, l := range []*store.List{
		{Slug: "bus", Name: "BUS", Description: "Nyheter om barn- och ungdomssatsningar.", Visibility: store.VisibilityPublic, Optin: store.OptinDouble},
		{Slug: "senaste-nytt", Name: "Senaste nytt", Visibility: store.VisibilityPublic, Optin: store.OptinDouble},
	} {
		if err := st.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	bl, _ := st.ListBySlug(ctx, "bus")
	nl, _ := st.ListBySlug(ctx, "senaste-nytt")
	bus, nytt = *bl, *nl

	var res flowResult
	b.walk(t, "flow.mjs", lv.BaseURL, 3*time.Minute, &res)
	checked := map[string]bool{}
	for _, p := range res.Pages {
		t.Logf("axe %-18s %-5s lang=%s passes=%d violations=%d", p.Name, p.Scheme, p.Lang, p.Passes, p.Violations)
		checked[p.Name] = true
		// Swedish by default; English when asked for, and for the person
		// once they chose English on the preference page.
		want := "sv"
		switch p.Name {
		case "subscribe-en", "unsubscribe", "unsubscribed-all", "undone":
			want = "en"
		}
		if p.Lang != want {
			t.Errorf("%s: lang=%q, want %q", p.Name, p.Lang, want)
		}
	}
	for _, name := range []string{"subscribe", "subscribe-errors", "check-inbox", "confirm", "confirmed", "preferences",
		"preferences-saved", "unsubscribe", "unsubscribed-all", "undone", "subscribe-en", "invalid-link"} {
		if !checked[name] {
			t.Errorf("page %s was not checked", name)
		}
	}
	if res.Focus.ID != "email" || res.Focus.Outline == "none" || res.Focus.Width == "0px" {
		t.Errorf("first Tab: focus %+v, want a visible outline on #email", res.Focus)
	}
	if !res.ErrorsTied {
		t.Error("form errors are not tied to their fields (aria-invalid, aria-describedby)")
	}

	// What the clicks did, in the database.
	sub, err := st.SubscriberByEmail(ctx, "testa.person@example.se")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, m := range sub.Subscriptions {
		got[m.ListID] = m.Status
	}
	if sub.Name != "Testa Person" || sub.Language != "en" || got[bus.ID] != store.SubUnsubscribed || got[nytt.ID] != store.SubConfirmed {
		t.Errorf("after the flow: name %q language %q lists %v", sub.Name, sub.Language, got)
	}
	if ok := storetest.Suppressed(t, st, sub.Email); ok {
		t.Error("undo left the address suppressed")
	}
	evs, _, _ := st.Events(ctx, store.EventQuery{SubscriberID: sub.ID})
	sources := map[string]bool{}
	for _, ev := range evs {
		sources[ev.Kind+"/"+ev.Source] = ev.IP != "" && ev.UserAgent != ""
	}
	for _, k := range []string{"subscribed/form", "confirmed/confirm-link", "unsubscribed/preferences", "unsubscribed/unsubscribe-page", "confirmed/unsubscribe-page"} {
		if !sources[k] {
			t.Errorf("no %s event with IP and user agent (have %v)", k, sources)
		}
	}
}
