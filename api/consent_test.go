package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker/mailer"
)

// optinsQueued returns the list ids of every opt-in mail waiting in the
// queue, and empties it.
func (a *testAPI) optinsQueued() [][]int64 {
	a.t.Helper()
	ts, err := a.insp.ListPendingTasks(a.queues.Critical)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		a.t.Fatal(err)
	}
	var out [][]int64
	for _, ti := range ts {
		if ti.Type != queue.TypeSubscriberOptin {
			continue
		}
		var p queue.OptinPayload
		if err := json.Unmarshal(ti.Payload, &p); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, p.ListIDs)
	}
	if len(ts) > 0 {
		if _, err := a.insp.DeleteAllPendingTasks(a.queues.Critical); err != nil {
			a.t.Fatal(err)
		}
	}
	return out
}

func TestStaffPatchKeepsAConfirmedSubscriptionConfirmed(t *testing.T) {
	a := newTestAPI(t)
	one, two := a.seedList("senaste-nytt", ""), a.seedList("bus", "")
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d],"consent_basis":"paper form 2026-03-01"}`, one), &sub)
	if got := a.optinsQueued(); len(got) != 0 {
		t.Fatalf("opt-in mail for someone added with a consent basis: %v", got)
	}
	confirmedAt := func() string {
		t.Helper()
		s, err := a.st.Subscriber(context.Background(), sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range s.Subscriptions {
			if m.ListID == one && m.ConfirmedAt != nil {
				return m.ConfirmedAt.String()
			}
		}
		return ""
	}
	was := confirmedAt()
	path := fmt.Sprintf("/api/v1/subscribers/%d", sub.ID)

	// Naming the lists again, plus a new one, without a consent basis.
	a.ok(200, "PATCH", path, fmt.Sprintf(`{"lists":[%d,%d]}`, one, two), nil)
	if st := a.subscription(sub.ID, one); st != store.SubConfirmed || confirmedAt() != was {
		t.Fatalf("list %d: %s, confirmed at %q (was %q): a confirmed subscription was reset", one, st, confirmedAt(), was)
	}
	if st := a.subscription(sub.ID, two); st != store.SubUnconfirmed {
		t.Fatalf("new list without a consent basis: %s, want unconfirmed", st)
	}
	if got := a.optinsQueued(); !slices.EqualFunc(got, [][]int64{{two}}, slices.Equal) {
		t.Fatalf("opt-in mails %v, want one for list %d only", got, two)
	}

	// Only tracking consent, with the status the person already has.
	a.ok(200, "PATCH", path, fmt.Sprintf(`{"lists":[{"id":%d,"status":"confirmed","tracking_consent":true}]}`, one), nil)
	if st := a.subscription(sub.ID, one); st != store.SubConfirmed || confirmedAt() != was {
		t.Fatalf("tracking consent reset the subscription: %s", st)
	}
	if got := a.optinsQueued(); len(got) != 0 {
		t.Fatalf("opt-in mail after a tracking-consent change: %v", got)
	}
	s, _ := a.st.Subscriber(context.Background(), sub.ID)
	for _, m := range s.Subscriptions {
		if m.ListID == one && !m.TrackingConsent {
			t.Fatal("tracking consent not recorded")
		}
	}
}

// tokensIn returns the unsubscribe and preference tokens of the links in
// a rendered message or page.
func tokensIn(body string) (unsub, prefs []string) {
	for _, m := range regexp.MustCompile(`/unsubscribe/([a-z2-7]+)|unsubscribe\+([a-z2-7]+)@`).FindAllStringSubmatch(body, -1) {
		unsub = append(unsub, m[1]+m[2])
	}
	for _, m := range regexp.MustCompile(`/preferences/([a-z2-7]+)`).FindAllStringSubmatch(body, -1) {
		prefs = append(prefs, m[1])
	}
	return unsub, prefs
}

func TestNoStaffRoleGetsAPersonsWorkingLinks(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	list := a.seedList("senaste-nytt", `,"visibility":"public"`)
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","name":"Anna Berg","lists":[%d],"consent_basis":"paper form"}`, list), &sub)
	var camp store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"Hej {{ first_name }}","body":"# Nyheter\n\nText.","list_ids":[%d]}`, list), &camp)
	c, err := a.st.ScheduleCampaign(ctx, camp.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.st.MaterializeDeliveries(ctx, camp.ID, c.Revision); err != nil {
		t.Fatal(err)
	}
	// What the person's own mail carries, and what no staff answer may.
	secrets := []string{
		a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID, CampaignID: camp.ID}),
		a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID}),
		a.sign.PreferencesToken(sub.ID),
	}
	q := fmt.Sprintf("subscriber_id=%d", sub.ID)
	reads := []struct{ method, path, body string }{
		{"GET", fmt.Sprintf("/api/v1/campaigns/%d/preview?format=html&%s", camp.ID, q), ""},
		{"GET", fmt.Sprintf("/api/v1/campaigns/%d/preview?format=text&%s", camp.ID, q), ""},
		{"GET", fmt.Sprintf("/api/v1/campaigns/%d/preview?format=eml&%s", camp.ID, q), ""},
		{"POST", fmt.Sprintf("/api/v1/campaigns/%d/lint?%s", camp.ID, q), ""},
		{"GET", fmt.Sprintf("/api/v1/campaigns/%d", camp.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/campaigns/%d/deliveries", camp.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/campaigns/%d/stats", camp.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/subscribers/%d/events", sub.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/subscribers/%d/export", sub.ID), ""},
		{"GET", "/api/v1/subscribers.csv", ""},
		{"GET", fmt.Sprintf("/api/v1/subscribers.csv?list_id=%d", list), ""},
	}
	var previews strings.Builder
	for _, r := range reads {
		rec := a.do(r.method, r.path, a.viewer, r.body)
		if rec.Code != 200 {
			t.Fatalf("viewer %s %s: %d %s", r.method, r.path, rec.Code, rec.Body)
		}
		for _, s := range secrets {
			if strings.Contains(rec.Body.String(), s) {
				t.Errorf("viewer %s %s hands out the person's own token %s", r.method, r.path, s)
			}
		}
		if strings.Contains(r.path, "/preview") {
			previews.WriteString(rec.Body.String())
		}
	}
	if !strings.Contains(previews.String(), "Anna") {
		t.Fatal("the preview lost the person's personalisation")
	}
	// The preview's links exist, and act for nobody.
	unsub, prefs := tokensIn(previews.String())
	if len(unsub) == 0 || len(prefs) == 0 {
		t.Fatalf("no unsubscribe or preference links in the previews:\n%s", previews.String())
	}
	for _, tok := range unsub {
		u, err := a.sign.OpenUnsubscribe(tok)
		if err != nil || u.SubscriberID != 0 {
			t.Fatalf("preview unsubscribe token %s opens to %+v, %v", tok, u, err)
		}
		a.form("/unsubscribe/"+tok, "List-Unsubscribe=One-Click")
	}
	for _, tok := range prefs {
		a.form("/preferences/"+tok, "name=Mallory&language=en")
	}
	got, err := a.st.Subscriber(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Anna Berg" || got.Language != "sv" || a.subscription(sub.ID, list) != store.SubConfirmed {
		t.Fatalf("a preview's links changed the person: %+v", got)
	}
}

// clock is a store clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestUnsubscribeLinksActOnlyWithinTheirScope(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	a := newTestAPIWith(t, storetest.OpenDSN(t, storetest.SQLiteDSN(t), storetest.Options{Now: clk.now}))
	pub := a.seedList("senaste-nytt", `,"visibility":"public"`)
	other := a.seedList("bus", `,"visibility":"public"`)
	priv := a.seedList("styrelsen", "")
	var sub, bo store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d,%d,%d],"consent_basis":"x"}`, pub, other, priv), &sub)
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"bo@example.se","lists":[%d],"consent_basis":"x"}`, pub), &bo)
	var camp store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d]}`, pub), &camp)
	// Earlier she left the private list herself.
	a.ok(200, "PATCH", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), fmt.Sprintf(`{"lists":[{"id":%d,"status":"unsubscribed"}]}`, priv), nil)
	clk.add(time.Hour)
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID, CampaignID: camp.ID})
	unchanged := func(what string, want map[int64]string) {
		t.Helper()
		for l, st := range want {
			if got := a.subscription(sub.ID, l); got != st {
				t.Fatalf("%s: list %d is %s, want %s", what, l, got, st)
			}
		}
	}

	// The reproduction: an undo naming a list outside the link.
	a.form("/unsubscribe/"+tok, fmt.Sprintf("action=undo&lists=%d", priv))
	unchanged("undo naming a private list", map[int64]string{priv: store.SubUnsubscribed, pub: store.SubConfirmed})

	// The page's own undo restores what the page's unsubscribe ended, and
	// only that.
	rec := a.form("/unsubscribe/"+tok, "action=unsubscribe")
	unchanged("unsubscribe from the campaign's list", map[int64]string{pub: store.SubUnsubscribed, other: store.SubConfirmed})
	undo := undoToken(t, rec.Body.String())
	a.form("/unsubscribe/"+tok, fmt.Sprintf("action=undo&undo=%s&lists=%d", undo, priv))
	unchanged("undo", map[int64]string{pub: store.SubConfirmed, priv: store.SubUnsubscribed, other: store.SubConfirmed})

	// Another person's undo does nothing here, and hers nothing there.
	botok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: bo.ID, CampaignID: camp.ID})
	bounded := undoToken(t, a.form("/unsubscribe/"+botok, "action=unsubscribe").Body.String())
	clk.add(time.Minute)
	a.form("/unsubscribe/"+tok, "action=unsubscribe")
	if rec := a.form("/unsubscribe/"+tok, "action=undo&undo="+bounded); rec.Code != 400 {
		t.Fatalf("someone else's undo: %d, want 400", rec.Code)
	}
	unchanged("someone else's undo", map[int64]string{pub: store.SubUnsubscribed})
	if rec := a.form("/unsubscribe/"+botok, "action=undo&undo="+undo); rec.Code != 400 || a.subscription(bo.ID, pub) != store.SubUnsubscribed {
		t.Fatalf("her undo on his link: %d", rec.Code)
	}

	// An old undo cannot reverse a later unsubscribe.
	rec = a.form("/unsubscribe/"+tok, "action=undo&undo="+undo)
	unchanged("an undo replayed after a later unsubscribe", map[int64]string{pub: store.SubUnsubscribed})

	// With nothing of the campaign's left, the page's unsubscribe button
	// leaves the other lists alone.
	a.form("/unsubscribe/"+tok, "action=unsubscribe")
	unchanged("unsubscribe with nothing left in scope", map[int64]string{other: store.SubConfirmed})

	// The undo button expires.
	a.ok(200, "PATCH", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), fmt.Sprintf(`{"lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"x"}`, pub), nil)
	late := undoToken(t, a.form("/unsubscribe/"+tok, "action=unsubscribe").Body.String())
	clk.add(25 * time.Hour)
	a.form("/unsubscribe/"+tok, "action=undo&undo="+late)
	unchanged("an expired undo", map[int64]string{pub: store.SubUnsubscribed})
}

func TestReplyToFromTheCampaignOrItsList(t *testing.T) {
	a := newTestAPI(t)
	var l store.List
	a.ok(201, "POST", "/api/v1/lists", `{"slug":"bus","name":"BUS","reply_to":"Förbundets redaktion <Redaktionen@Example.se>"}`, &l)
	if l.ReplyTo != `"Förbundets redaktion" <redaktionen@example.se>` {
		t.Fatalf("list reply_to stored as %q", l.ReplyTo)
	}
	replyTo := func(campID int64) string {
		t.Helper()
		rec := a.do("GET", fmt.Sprintf("/api/v1/campaigns/%d/preview?format=eml", campID), a.viewer, "")
		if rec.Code != 200 {
			t.Fatalf("preview: %d %s", rec.Code, rec.Body)
		}
		m, err := mail.ReadMessage(strings.NewReader(rec.Body.String()))
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get("Reply-To") == "" {
			return ""
		}
		as, err := m.Header.AddressList("Reply-To")
		if err != nil || len(as) != 1 {
			t.Fatalf("Reply-To %q: %v", m.Header.Get("Reply-To"), err)
		}
		return as[0].String() // RFC 2047 for a name outside ASCII
	}
	var fromList, own store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d]}`, l.ID), &fromList)
	if got := replyTo(fromList.ID); got != `=?utf-8?q?F=C3=B6rbundets_redaktion?= <redaktionen@example.se>` {
		t.Fatalf("the list's Reply-To: %q", got)
	}
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d],"reply_to":"svar@example.se"}`, l.ID), &own)
	if own.ReplyTo != "svar@example.se" || replyTo(own.ID) != "<svar@example.se>" {
		t.Fatalf("the campaign's own Reply-To: %q, header %q", own.ReplyTo, replyTo(own.ID))
	}
	// A name that needs quoting, outside ASCII, survives the round trip.
	var quoted store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d],"reply_to":"\"Åsa \\\"Redaktör\\\" Ek\" <asa@example.se>"}`, l.ID), &quoted)
	hdr := replyTo(quoted.ID)
	if a, err := mail.ParseAddress(hdr); err != nil || a.Name != `Åsa "Redaktör" Ek` || a.Address != "asa@example.se" {
		t.Fatalf("stored %q, header %q: %+v %v", quoted.ReplyTo, hdr, a, err)
	}
	// Cleared on the list: no Reply-To, replies go to From.
	a.ok(200, "PATCH", fmt.Sprintf("/api/v1/lists/%d", l.ID), `{"reply_to":""}`, nil)
	if got := replyTo(fromList.ID); got != "" {
		t.Fatalf("Reply-To after clearing the list's: %q", got)
	}
	// A duplicate keeps it.
	var dup store.Campaign
	a.ok(201, "POST", fmt.Sprintf("/api/v1/campaigns/%d/duplicate", own.ID), "", &dup)
	if dup.ReplyTo != own.ReplyTo {
		t.Fatalf("duplicate's reply_to %q", dup.ReplyTo)
	}
}

// A preview says how it differs from the sent mail, and is never signed:
// a signed preview would verify as the organisation's mail without any
// mail being sent.
func TestPreviewSaysWhatDiffersAndIsNotSigned(t *testing.T) {
	key, _, err := mailer.GenerateDKIMKey(mailer.DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := mailer.NewDKIM("example.se", "utskick", key)
	if err != nil {
		t.Fatal(err)
	}
	a := newTestAPIOpts(t, storetest.Open(t), func(d *api.Deps, _ redis.UniversalClient) {
		d.Checks.DKIM = &lint.DKIMKey{Domain: dk.Domain(), Selector: dk.Selector(), Record: dk.TXTRecord()}
	})
	list := a.seedList("bus", "")
	var camp store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d]}`, list), &camp)
	rec := a.do("GET", fmt.Sprintf("/api/v1/campaigns/%d/preview?format=eml", camp.ID), a.viewer, "")
	if rec.Code != 200 {
		t.Fatalf("preview: %d", rec.Code)
	}
	m, err := mail.ReadMessage(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	note := m.Header.Get("X-Utskick-Preview")
	for _, want := range []string{"no DKIM-Signature", "inert", "not tracked", "Message-ID"} {
		if !strings.Contains(note, want) {
			t.Errorf("X-Utskick-Preview %q does not say %q", note, want)
		}
	}
	if m.Header.Get("DKIM-Signature") != "" {
		t.Error("the preview is DKIM-signed")
	}
	head, _, _ := strings.Cut(rec.Body.String(), "\r\n\r\n")
	in := false
	for _, line := range strings.Split(head, "\r\n") {
		in = strings.HasPrefix(line, "X-Utskick-Preview:") || in && strings.HasPrefix(line, " ")
		if in && len(line) > 78 {
			t.Errorf("X-Utskick-Preview line of %d characters: %q", len(line), line)
		}
	}
	for _, f := range []string{"html", "text"} {
		rec := a.do("GET", fmt.Sprintf("/api/v1/campaigns/%d/preview?format=%s", camp.ID, f), a.viewer, "")
		if !strings.Contains(rec.Header().Get("X-Utskick-Preview"), "no DKIM-Signature") {
			t.Errorf("%s preview answer lacks X-Utskick-Preview", f)
		}
	}
}
