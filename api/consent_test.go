package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker"
	"github.com/storsthlm/utskick/worker/links"
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
		if ti.Type != worker.TypeSubscriberOptin {
			continue
		}
		var p worker.OptinPayload
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
