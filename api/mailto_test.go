package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"net/smtp"
	"reflect"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/internal/outbox"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

func unsubscribeMail(to string) string {
	return "From: Anna <anna@example.se>\r\nTo: " + to + "\r\nSubject: unsubscribe\r\n" +
		"Message-ID: <m1@example.se>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0100\r\n\r\nunsubscribe\r\n"
}

// TestMailtoUnsubscribe sends the List-Unsubscribe mailto both ways it
// can arrive: to the embedded SMTP listener over loopback, and as raw
// mail to POST /api/v1/inbound. Forged and altered tokens change nothing.
func TestMailtoUnsubscribe(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	bus := a.seedList("bus", "")
	nytt := a.seedList("senaste-nytt", "")
	var anna, bo store.Subscriber
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"anna@example.se","lists":[%d,%d],"consent_basis":"x"}`, bus, nytt), &anna)
	a.ok(201, "POST", "/api/v1/subscribers", fmt.Sprintf(`{"email":"bo@example.se","lists":[%d],"consent_basis":"x"}`, bus), &bo)
	var camp store.Campaign
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d]}`, bus), &camp)

	proc := inbound.New(a.st, a.sign, nil)
	box, err := outbox.Start(outbox.Config{Addr: "127.0.0.1:0", Dir: t.TempDir(),
		Inbound: func(ctx context.Context, from string, to []string, data []byte) bool {
			if !inbound.ForUs(to) {
				return false
			}
			if _, err := proc.Handle(ctx, to, bytes.NewReader(data)); err != nil {
				t.Errorf("inbound: %v", err)
			}
			return true
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	send := func(rcpt string) {
		t.Helper()
		if err := smtp.SendMail(box.Addr().String(), nil, "anna@example.se", []string{rcpt}, []byte(unsubscribeMail(rcpt))); err != nil {
			t.Fatal(err)
		}
	}
	addr := func(tok string) string { return "unsubscribe+" + tok + "@example.se" }

	// Forged and altered tokens: nothing changes.
	tok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: anna.ID, CampaignID: camp.ID})
	other, _ := links.NewSigner([]byte("another key that is long enough!!"))
	before := a.counts()
	for _, bad := range []string{tok[:len(tok)-2] + "aa", other.UnsubscribeToken(links.Unsubscribe{SubscriberID: anna.ID}), a.sign.PreferencesToken(anna.ID)} {
		if bad == tok {
			continue
		}
		send(addr(bad))
		req := httptest.NewRequest("POST", "/api/v1/inbound?rcpt="+addr(bad), strings.NewReader(unsubscribeMail(addr(bad))))
		req.Header.Set("Authorization", "Bearer "+a.editor)
		rec := httptest.NewRecorder()
		a.srv.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ignored"`) {
			t.Fatalf("forged token over the API: %d %s", rec.Code, rec.Body)
		}
	}
	if !reflect.DeepEqual(before, a.counts()) || a.subscription(anna.ID, bus) != store.SubConfirmed {
		t.Fatal("a forged mailto token changed something")
	}

	// Over SMTP: the campaign's list only, recorded as mailto.
	send(addr(tok))
	if a.subscription(anna.ID, bus) != store.SubUnsubscribed || a.subscription(anna.ID, nytt) != store.SubConfirmed {
		t.Fatal("mailto over SMTP did not unsubscribe exactly the campaign's list")
	}
	evs, _, _ := a.st.Events(ctx, store.EventQuery{SubscriberID: anna.ID})
	if last := evs[len(evs)-1]; last.Kind != store.EventUnsubscribed || last.Source != "mailto" || last.CampaignID == nil {
		t.Fatalf("event %+v", last)
	}
	// Over the API, with the address only in the To header.
	btok := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: bo.ID, CampaignID: camp.ID})
	req := httptest.NewRequest("POST", "/api/v1/inbound", strings.NewReader(unsubscribeMail(addr(btok))))
	req.Header.Set("Authorization", "Bearer "+a.editor)
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	if rec.Code != 200 || a.subscription(bo.ID, bus) != store.SubUnsubscribed {
		t.Fatalf("mailto over the API: %d %s", rec.Code, rec.Body)
	}
}

// TestForgedConfirmTokensChangeNothing: a confirmation link that was
// altered, signed with another key, or is another kind of token confirms
// nothing and sends nothing.
func TestForgedConfirmTokensChangeNothing(t *testing.T) {
	a := newTestAPI(t)
	list := a.seedList("bus", `,"visibility":"public"`)
	a.form("/subscribe/bus", "email=cia@example.se")
	cia, _ := a.st.SubscriberByEmail(context.Background(), "cia@example.se")
	tok := a.sign.ConfirmToken(links.Confirm{SubscriberID: cia.ID, Issued: a.now, ListIDs: []int64{list}})
	other, _ := links.NewSigner([]byte("another key that is long enough!!"))
	alt := []byte(tok)
	alt[len(alt)/2] ^= 1
	before, queued := a.counts(), len(a.tasks("critical"))
	for _, bad := range []string{string(alt), other.ConfirmToken(links.Confirm{SubscriberID: cia.ID, Issued: a.now, ListIDs: []int64{list}}),
		a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: cia.ID}), "x"} {
		for _, body := range []string{"action=confirm", "action=resend"} {
			if rec := a.form("/confirm/"+bad, body); rec.Code != 400 && rec.Code != 404 {
				t.Fatalf("forged confirm %q (%s): %d", bad, body, rec.Code)
			}
		}
	}
	if !reflect.DeepEqual(before, a.counts()) || len(a.tasks("critical")) != queued || a.subscription(cia.ID, list) != store.SubUnconfirmed {
		t.Fatal("a forged confirmation token changed something")
	}
}
