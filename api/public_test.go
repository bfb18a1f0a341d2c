package api_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

func (a *testAPI) subscription(subID, listID int64) string {
	a.t.Helper()
	sub, err := a.st.Subscriber(context.Background(), subID)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, m := range sub.Subscriptions {
		if m.ListID == listID {
			return m.Status
		}
	}
	return ""
}

// undoToken is the undo button's token on a page answering an
// unsubscribe.
func undoToken(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="undo" value="([a-z2-7]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no undo button on the page:\n%s", page)
	}
	return m[1]
}

func TestOneClickUnsubscribeAndForgedTokens(t *testing.T) {
	a := newTestAPI(t)
	list := a.seedList("senaste-nytt", "")
	other := a.seedList("bus", "")
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d,%d],"consent_basis":"test"}`, list, other), &sub)
	var camp store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d]}`, list), &camp)
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID, CampaignID: camp.ID})

	// Forged and altered tokens: 400, nothing changes.
	before := a.counts()
	last := tok[len(tok)-1]
	alt := byte('a')
	if last == 'a' {
		alt = 'b'
	}
	otherKey, _ := links.NewSigner([]byte("some other key that is 32 bytes!!"))
	for _, bad := range []string{tok[:len(tok)-1] + string(alt), "aaaaaaaaaaaaaaaaaaaaaaaa", otherKey.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID}),
		a.sign.PreferencesToken(sub.ID)} {
		for _, rec := range []int{a.form("/unsubscribe/"+bad, "List-Unsubscribe=One-Click").Code, a.do("GET", "/unsubscribe/"+bad, "", "").Code,
			a.form("/unsubscribe/"+bad, "action=unsubscribe_all").Code} {
			if rec != 400 {
				t.Fatalf("forged token %q: status %d, want 400", bad, rec)
			}
		}
	}
	if !reflect.DeepEqual(before, a.counts()) || a.subscription(sub.ID, list) != store.SubConfirmed {
		t.Fatal("a forged token changed something")
	}

	// The page shows a button and changes nothing by itself.
	rec := a.do("GET", "/unsubscribe/"+tok, "", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<form method="post"`) || a.subscription(sub.ID, list) != store.SubConfirmed {
		t.Fatalf("GET unsubscribe: %d", rec.Code)
	}
	// RFC 8058 one-click: 200, done, only the campaign's list.
	rec = a.form("/unsubscribe/"+tok, "List-Unsubscribe=One-Click")
	if rec.Code != 200 {
		t.Fatalf("one-click: %d %s", rec.Code, rec.Body)
	}
	if a.subscription(sub.ID, list) != store.SubUnsubscribed || a.subscription(sub.ID, other) != store.SubConfirmed {
		t.Fatal("one-click did not unsubscribe exactly the campaign's list")
	}
	var st store.CampaignStats
	a.ok(200, "GET", fmt.Sprintf("/api/v1/campaigns/%d/stats", camp.ID), "", &st)
	if st.Unsubscribed != 1 {
		t.Fatalf("unsubscribes attributed to the campaign: %d, want 1", st.Unsubscribed)
	}
	// Undo (the button of the page after leaving) brings it back; "all
	// lists" leaves everything.
	a.ok(200, "PATCH", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), fmt.Sprintf(`{"lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"x"}`, list), nil)
	left := a.form("/unsubscribe/"+tok, "action=unsubscribe")
	if a.subscription(sub.ID, list) != store.SubUnsubscribed {
		t.Fatal("the page's button did not unsubscribe")
	}
	rec = a.form("/unsubscribe/"+tok, "action=undo&undo="+undoToken(t, left.Body.String()))
	if rec.Code != 200 || a.subscription(sub.ID, list) != store.SubConfirmed {
		t.Fatalf("undo: %d", rec.Code)
	}
	rec = a.form("/unsubscribe/"+tok, "action=unsubscribe_all")
	if rec.Code != 200 || a.subscription(sub.ID, list) != store.SubUnsubscribed || a.subscription(sub.ID, other) != store.SubUnsubscribed {
		t.Fatalf("unsubscribe all: %d", rec.Code)
	}
}

func TestSubscribeFormSingleAndDoubleOptin(t *testing.T) {
	a := newTestAPI(t)
	single := a.seedList("senaste-nytt", `,"visibility":"public","optin":"single"`)
	double := a.seedList("bus", `,"visibility":"public","optin":"double"`)
	a.seedList("intern", `,"visibility":"private"`)

	if rec := a.do("GET", "/subscribe/intern", "", ""); rec.Code != 404 {
		t.Fatalf("private list form: %d, want 404", rec.Code)
	}
	rec := a.do("GET", "/subscribe/senaste-nytt", "", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `lang="sv"`) || !strings.Contains(rec.Body.String(), `<label for="email">`) {
		t.Fatalf("form: %d", rec.Code)
	}
	if rec := a.do("GET", "/subscribe/senaste-nytt?lang=en", "", ""); !strings.Contains(rec.Body.String(), `lang="en"`) {
		t.Fatal("English form not served")
	}
	// A bad address re-renders the form with the error tied to the field.
	rec = a.form("/subscribe/senaste-nytt", "email=nope")
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), `aria-describedby="email-hint email-error"`) {
		t.Fatalf("bad address: %d %s", rec.Code, rec.Body)
	}
	// Single opt-in confirms at once.
	rec = a.form("/subscribe/senaste-nytt", "email=Bo@Example.se&name=Bo")
	if rec.Code != 200 {
		t.Fatalf("subscribe: %d", rec.Code)
	}
	bo, err := a.st.SubscriberByEmail(context.Background(), "bo@example.se")
	if err != nil || a.subscription(bo.ID, single) != store.SubConfirmed {
		t.Fatalf("single opt-in: %v", err)
	}
	evs, _, _ := a.st.Events(context.Background(), store.EventQuery{SubscriberID: bo.ID})
	var consent string
	for _, ev := range evs {
		if ev.Kind == store.EventConfirmed {
			consent, _ = ev.Data["consent_text"].(string)
			if ev.Source != "form" || ev.IP == "" {
				t.Fatalf("consent event without source or IP: %+v", ev)
			}
		}
	}
	if !strings.Contains(consent, "List senaste-nytt") {
		t.Fatalf("consent text not recorded: %q", consent)
	}
	// Double opt-in waits, and queues one confirmation mail.
	rec = a.form("/subscribe/bus", "email=cia@example.se")
	cia, _ := a.st.SubscriberByEmail(context.Background(), "cia@example.se")
	if rec.Code != 200 || a.subscription(cia.ID, double) != store.SubUnconfirmed {
		t.Fatalf("double opt-in: %d", rec.Code)
	}
	if got := a.tasks(queue.QueueCritical); !slices.Equal(got, []string{queue.TypeSubscriberOptin}) {
		t.Fatalf("queued %v, want one opt-in task", got)
	}
	// The honeypot answers like success and writes nothing.
	before := a.counts()
	if rec := a.form("/subscribe/bus", "email=bot@example.se&website=http://spam"); rec.Code != 200 || !reflect.DeepEqual(before, a.counts()) {
		t.Fatalf("honeypot: %d", rec.Code)
	}

	// The confirmation link: GET shows a button, POST confirms.
	tok := a.sign.ConfirmToken(links.Confirm{SubscriberID: cia.ID, Issued: a.now, ListIDs: []int64{double}})
	if rec := a.do("GET", "/confirm/"+tok, "", ""); rec.Code != 200 || a.subscription(cia.ID, double) != store.SubUnconfirmed {
		t.Fatalf("GET confirm: %d", rec.Code)
	}
	if rec := a.form("/confirm/"+tok, "action=confirm"); rec.Code != 200 || a.subscription(cia.ID, double) != store.SubConfirmed {
		t.Fatalf("POST confirm: %d %s", rec.Code, rec.Body)
	}
}

func TestExpiredConfirmationLinkOffersANewOne(t *testing.T) {
	a := newTestAPI(t)
	double := a.seedList("bus", `,"visibility":"public"`)
	a.form("/subscribe/bus", "email=cia@example.se")
	cia, _ := a.st.SubscriberByEmail(context.Background(), "cia@example.se")
	old := a.sign.ConfirmToken(links.Confirm{SubscriberID: cia.ID, Issued: a.now.Add(-8 * 24 * time.Hour), ListIDs: []int64{double}})
	rec := a.form("/confirm/"+old, "action=confirm")
	if rec.Code != 410 || a.subscription(cia.ID, double) != store.SubUnconfirmed {
		t.Fatalf("expired link: %d, status %s", rec.Code, a.subscription(cia.ID, double))
	}
	if !strings.Contains(rec.Body.String(), `name="action" value="resend"`) {
		t.Fatal("expired page offers no new link")
	}
	before := len(a.tasks(queue.QueueCritical))
	if rec := a.form("/confirm/"+old, "action=resend"); rec.Code != 200 || len(a.tasks(queue.QueueCritical)) != before+1 {
		t.Fatalf("resend: %d", rec.Code)
	}
}

func TestPreferencesPage(t *testing.T) {
	a := newTestAPI(t)
	pub := a.seedList("senaste-nytt", `,"visibility":"public"`)
	bus := a.seedList("bus", `,"visibility":"public"`)
	priv := a.seedList("styrelsen", `,"visibility":"private"`)
	a.seedList("hemlig", `,"visibility":"private"`)
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d,%d],"consent_basis":"x"}`, pub, priv), &sub)
	tok := a.sign.PreferencesToken(sub.ID)
	rec := a.do("GET", "/preferences/"+tok, "", "")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "List styrelsen") || strings.Contains(body, "List hemlig") {
		t.Fatalf("preferences page: %d (private lists the person is not on must not show)", rec.Code)
	}
	// Tick bus, untick the private one, rename, switch language.
	form := url.Values{"action": {"save"}, "lists": {fmt.Sprint(pub), fmt.Sprint(bus)}, "name": {"Anna S"}, "language": {"en"}}
	rec = a.form("/preferences/"+tok, form.Encode())
	if rec.Code != 200 {
		t.Fatalf("save: %d", rec.Code)
	}
	got, _ := a.st.Subscriber(context.Background(), sub.ID)
	if got.Name != "Anna S" || got.Language != "en" || a.subscription(sub.ID, bus) != store.SubConfirmed ||
		a.subscription(sub.ID, priv) != store.SubUnsubscribed || a.subscription(sub.ID, pub) != store.SubConfirmed {
		t.Fatalf("saved %+v", got)
	}
	// A tampered list id (a private list not offered) is ignored.
	hidden := a.seedList("hidden2", `,"visibility":"private"`)
	a.form("/preferences/"+tok, url.Values{"action": {"save"}, "lists": {fmt.Sprint(hidden)}}.Encode())
	if a.subscription(sub.ID, hidden) != "" {
		t.Fatal("subscribed to a list the page did not offer")
	}
	if rec := a.form("/preferences/"+tok+"x", "action=unsubscribe_all"); rec.Code != 400 {
		t.Fatalf("forged preferences token: %d", rec.Code)
	}
}
