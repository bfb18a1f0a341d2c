package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

func TestGDPRExportAndErase(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	list := a.seedList("bus", `,"visibility":"public"`)
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","name":"Anna","lists":[%d],"consent_basis":"signed up at the fair"}`, list), &sub)
	var other store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", `{"email":"nils@example.se"}`, &other)
	var camp store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"Nyheter","body":"b","list_ids":[%d]}`, list), &camp)
	c, err := a.st.ScheduleCampaign(ctx, camp.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.st.MaterializeDeliveries(ctx, camp.ID, c.Revision); err != nil {
		t.Fatal(err)
	}
	// A public action, so the record holds an IP and a user agent.
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID, CampaignID: camp.ID})
	a.form("/unsubscribe/"+tok, "List-Unsubscribe=One-Click")

	var pd store.PersonalData
	a.ok(200, "GET", fmt.Sprintf("/api/v1/subscribers/%d/export", sub.ID), "", &pd)
	if pd.Subscriber.Email != "anna@example.se" || len(pd.Subscriptions) != 1 || pd.Subscriptions[0].ListSlug != "bus" ||
		len(pd.Deliveries) != 1 || pd.Deliveries[0].Subject != "Nyheter" || len(pd.Events) < 3 {
		t.Fatalf("export %+v", pd)
	}
	statsBefore, _ := a.st.CampaignStats(ctx, camp.ID)
	eventsBefore := a.counts()["events"]

	var out map[string]any
	a.ok(200, "POST", fmt.Sprintf("/api/v1/subscribers/%d/erase", sub.ID), "", &out)
	if rec := a.do("GET", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), a.admin, ""); rec.Code != 404 {
		t.Fatalf("erased subscriber still there: %d", rec.Code)
	}
	// Counts stay; the link to the person goes.
	statsAfter, _ := a.st.CampaignStats(ctx, camp.ID)
	if statsAfter.Recipients != statsBefore.Recipients || statsAfter.Unsubscribed != statsBefore.Unsubscribed || statsAfter.Unsubscribed != 1 {
		t.Fatalf("stats changed: %+v → %+v", statsBefore, statsAfter)
	}
	if n := a.counts()["events"]; n != eventsBefore+1 {
		t.Fatalf("events %d, want %d (all kept, one erasure event added)", n, eventsBefore+1)
	}
	evs, _, _ := a.st.Events(ctx, store.EventQuery{Limit: 1000})
	for _, ev := range evs {
		if ev.SubscriberID != nil && *ev.SubscriberID > 0 && *ev.SubscriberID == sub.ID || ev.IP != "" || ev.UserAgent != "" ||
			strings.Contains(fmt.Sprint(ev.Data), "anna") || strings.Contains(fmt.Sprint(ev.Data), "fair") {
			t.Fatalf("event still personal after erasure: %+v", ev)
		}
	}
	var rows struct{ Items []store.DeliveryRow }
	a.ok(200, "GET", fmt.Sprintf("/api/v1/campaigns/%d/deliveries", camp.ID), "", &rows)
	if len(rows.Items) != 1 || rows.Items[0].SubscriberID != nil || strings.Contains(rows.Items[0].Email, "anna") {
		t.Fatalf("delivery after erasure: %+v", rows.Items)
	}
	// Only the keyed hash stays, as an erased suppression.
	var pg struct{ Items []store.Suppression }
	a.ok(200, "GET", "/api/v1/suppressions?email=anna@example.se", "", &pg)
	if len(pg.Items) != 1 || pg.Items[0].Reason != store.SuppressErased || pg.Items[0].Email != "" {
		t.Fatalf("suppression after erasure: %+v", pg.Items)
	}
	// Staff cannot add her back, with a consent basis or without (an
	// opt-in mail would contact her too), nor turn someone else's
	// record into hers, nor send her a test: 409s that say why.
	for _, tc := range []struct{ name, method, path, body, field string }{
		{"staff adds her back", "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d],"consent_basis":"signed up at the fair"}`, list), "email"},
		{"staff adds her back without lists", "POST", "/api/v1/subscribers", `{"email":"Anna@Example.se"}`, "email"},
		{"staff moves another record to her address", "PATCH", fmt.Sprintf("/api/v1/subscribers/%d", other.ID), `{"email":"anna@example.se"}`, "email"},
		{"test send to her", "POST", fmt.Sprintf("/api/v1/campaigns/%d/test", camp.ID), `{"emails":["nils@example.se","anna@example.se"]}`, "emails[1]"},
	} {
		a.expectRejected(tc.name, 409, tc.field, func() *httptest.ResponseRecorder {
			return a.do(tc.method, tc.path, a.admin, tc.body)
		})
		if rec := a.do(tc.method, tc.path, a.admin, tc.body); !strings.Contains(rec.Body.String(), "erased") {
			t.Fatalf("%s: the refusal does not name the erasure: %s", tc.name, rec.Body)
		}
	}
	a.expectRejected("erase again", 404, "", func() *httptest.ResponseRecorder {
		return a.do("POST", fmt.Sprintf("/api/v1/subscribers/%d/erase", sub.ID), a.admin, "")
	})
	a.expectRejected("erase bad id", 400, "id", func() *httptest.ResponseRecorder {
		return a.do("POST", "/api/v1/subscribers/x/erase", a.admin, "")
	})
	a.expectRejected("export unknown", 404, "", func() *httptest.ResponseRecorder {
		return a.do("GET", fmt.Sprintf("/api/v1/subscribers/%d/export", sub.ID), a.admin, "")
	})

	// She comes back through the public form and confirms: that is her
	// own consent, so the erased suppression is lifted.
	a.form("/subscribe/bus", "email=anna@example.se")
	again, err := a.st.SubscriberByEmail(ctx, "anna@example.se")
	if err != nil || a.subscription(again.ID, list) != store.SubUnconfirmed {
		t.Fatalf("resubscribe after erasure: %v", err)
	}
	// Until she confirms, staff cannot confirm for her.
	a.expectRejected("staff confirms her before she does", 409, "lists", func() *httptest.ResponseRecorder {
		return a.do("PATCH", fmt.Sprintf("/api/v1/subscribers/%d", again.ID), a.admin,
			fmt.Sprintf(`{"lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"phone call"}`, list))
	})
	ctok := a.sign.ConfirmToken(links.Confirm{SubscriberID: again.ID, Issued: a.now, ListIDs: []int64{list}})
	if rec := a.form("/confirm/"+ctok, "action=confirm"); rec.Code != 200 {
		t.Fatalf("confirm: %d", rec.Code)
	}
	if ok := storetest.Suppressed(t, a.st, "anna@example.se"); ok || a.subscription(again.ID, list) != store.SubConfirmed {
		t.Fatal("her own confirmation did not bring her back")
	}
}

func TestUnsubscribeFromAllSuppressesAndUndoLifts(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	bus := a.seedList("bus", `,"visibility":"public","optin":"single"`)
	nytt := a.seedList("senaste-nytt", `,"visibility":"public"`)
	var sub store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d,%d],"consent_basis":"x"}`, bus, nytt), &sub)

	// From the unsubscribe page of a mail.
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sub.ID})
	rec := a.form("/unsubscribe/"+tok, "action=unsubscribe_all")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `value="undo"`) {
		t.Fatalf("unsubscribe all: %d", rec.Code)
	}
	undo := undoToken(t, rec.Body.String())
	if sp, err := a.st.SuppressionOf(ctx, "anna@example.se"); err != nil || sp.Reason != store.SuppressUnsubscribedAll {
		t.Fatalf("no unsubscribed_all suppression: %v", err)
	}
	// Staff cannot put her back on a list, whatever basis they claim.
	a.expectRejected("staff re-confirms after unsubscribe all", 409, "lists", func() *httptest.ResponseRecorder {
		return a.do("PATCH", fmt.Sprintf("/api/v1/subscribers/%d", sub.ID), a.admin,
			fmt.Sprintf(`{"lists":[{"id":%d,"status":"confirmed"}],"consent_basis":"phone call"}`, nytt))
	})
	// A stranger re-entering her address on a single opt-in form does
	// not put her back on the list: it waits for her own confirmation.
	suppressedAnswer := a.form("/subscribe/bus", "email=anna@example.se")
	if a.subscription(sub.ID, bus) != store.SubUnconfirmed {
		t.Fatalf("suppressed address subscribed by form without confirmation: %s", a.subscription(sub.ID, bus))
	}
	if tasks := a.tasks(queue.QueueCritical); !slices.Contains(tasks, queue.TypeSubscriberOptin) {
		t.Fatalf("no confirmation mail queued for the returning address: %v", tasks)
	}
	// ... and the page says what it says for anyone: no hint that the
	// address is suppressed.
	if plain := a.form("/subscribe/bus", "email=someone.new@example.se"); plain.Body.String() != suppressedAnswer.Body.String() {
		t.Fatal("the answer for a suppressed address differs from a new one's")
	}
	// Undo restores what she left and lifts the suppression.
	rec = a.form("/unsubscribe/"+tok, "action=undo&undo="+undo)
	if rec.Code != 200 || a.subscription(sub.ID, nytt) != store.SubConfirmed {
		t.Fatalf("undo: %d", rec.Code)
	}
	if ok := storetest.Suppressed(t, a.st, "anna@example.se"); ok {
		t.Fatal("undo did not lift the suppression")
	}

	// The same from the preference page.
	ptok := a.sign.PreferencesToken(sub.ID)
	rec = a.form("/preferences/"+ptok, "action=unsubscribe_all")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `value="undo"`) || a.subscription(sub.ID, nytt) != store.SubUnsubscribed {
		t.Fatalf("preferences: unsubscribe all: %d", rec.Code)
	}
	undo = undoToken(t, rec.Body.String())
	if ok := storetest.Suppressed(t, a.st, "anna@example.se"); !ok {
		t.Fatal("preferences: no suppression")
	}
	rec = a.form("/preferences/"+ptok, "action=undo&undo="+undo)
	if ok := storetest.Suppressed(t, a.st, "anna@example.se"); rec.Code != 200 || ok || a.subscription(sub.ID, nytt) != store.SubConfirmed {
		t.Fatalf("preferences: undo: %d suppressed=%v", rec.Code, ok)
	}
	// Ticking a list again on the page also counts as her own choice.
	a.form("/preferences/"+ptok, "action=unsubscribe_all")
	a.form("/preferences/"+ptok, url.Values{"action": {"save"}, "lists": {fmt.Sprint(bus)}}.Encode())
	if ok := storetest.Suppressed(t, a.st, "anna@example.se"); ok || a.subscription(sub.ID, bus) != store.SubConfirmed {
		t.Fatal("ticking a list did not bring her back")
	}
	// A staff suppression is not hers to lift.
	a.ok(201, "POST", "/api/v1/suppressions", `{"email":"bo@example.se","reason":"manual"}`, nil)
	var bo store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"bo@example.se","lists":[%d],"consent_basis":"x"}`, nytt), &bo)
	botok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: bo.ID})
	rec = a.form("/unsubscribe/"+botok, "action=unsubscribe")
	a.form("/unsubscribe/"+botok, "action=undo&undo="+undoToken(t, rec.Body.String()))
	if sp, err := a.st.SuppressionOf(ctx, "bo@example.se"); err != nil || sp.Reason != store.SuppressManual {
		t.Fatal("undo lifted a staff suppression")
	}
}
