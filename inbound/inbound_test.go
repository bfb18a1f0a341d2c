package inbound_test

import (
	"bytes"
	"context"
	"net/smtp"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"text/template"

	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// Fixture fills a report template in testdata: the VERP token of a real
// delivery, its recipient and its Message-ID.
type Fixture struct {
	Token, Rcpt, MessageID string
}

// Render returns testdata/<name>.eml.tmpl filled in, with CRLF line ends
// as on the wire.
func Render(t testing.TB, dir, name string, f Fixture) []byte {
	t.Helper()
	tm, err := template.ParseFiles(filepath.Join(dir, name+".eml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tm.Execute(&b, f); err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(bytes.ReplaceAll(b.Bytes(), []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

func tamper(tok string) string {
	c := byte('a')
	if tok[5] == 'a' {
		c = 'b'
	}
	return tok[:5] + string(c) + tok[6:]
}

func TestReportsThroughTheSMTPListener(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		sign, _ := links.NewSigner([]byte("inbound test key of 32 bytes!!!!"))
		other, _ := links.NewSigner([]byte("some other key, also 32 bytes!!!"))
		p := inbound.New(st, sign, nil).Configure(inbound.Config{Bounces: store.BouncePolicy{SoftLimit: 3}})
		l, err := inbound.Listen(inbound.ListenerConfig{Addr: "127.0.0.1:0", Domain: "bounces.example.se"}, p)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 9})
		mids := map[int64]string{}
		rows, _, _ := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: sd.CampaignID})
		for _, r := range rows {
			mids[r.ID] = r.MessageID
		}

		status := func(i int) string {
			t.Helper()
			rows, _, err := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: sd.CampaignID, After: sd.Deliveries[i] - 1, Limit: 1})
			if err != nil || len(rows) != 1 {
				t.Fatalf("delivery %d: %v", sd.Deliveries[i], err)
			}
			return rows[0].Status
		}
		events := func(i int, kind string) int {
			t.Helper()
			evs, _, err := st.Events(ctx, store.EventQuery{SubscriberID: sd.Subscribers[i], Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.Kind == kind && (e.DeliveryID == nil || *e.DeliveryID == sd.Deliveries[i]) {
					n++
				}
			}
			return n
		}
		suppressed := func(i int) bool {
			return storetest.Suppressed(t, st, sd.Emails[i])
		}
		tests := []struct {
			name, fixture string
			i             int
			token         func(string) string
			status        string
			event         string
			suppressed    bool
			changes       bool
		}{
			{"RFC 3464 hard bounce", "dsn_hard", 0, nil, store.DeliveryBounced, store.EventBounced, true, true},
			{"RFC 3464 soft bounce", "dsn_soft", 1, nil, store.DeliverySent, store.EventSoftBounced, false, true},
			{"delay warning", "dsn_delayed", 2, nil, store.DeliverySent, "", false, false},
			{"RFC 5965 complaint", "arf_abuse", 3, nil, store.DeliverySent, store.EventComplained, true, true},
			{"qmail text bounce", "qmail_text", 4, nil, store.DeliveryBounced, store.EventBounced, true, true},
			{"tampered VERP token", "dsn_hard", 5, tamper, store.DeliverySent, "", false, false},
			{"token of another key", "arf_abuse", 6, func(string) string { return other.BounceToken(sd.Deliveries[6]) }, store.DeliverySent, "", false, false},
			{"DMARC rejection is counted, never suppressed", "dsn_policy", 7, nil, store.DeliverySent, store.EventPolicyBounced, false, true},
			{"unsubscribe reply to the bounce address", "unsubscribe_reply", 8, nil, store.DeliverySent, store.EventUnsubscribed, false, true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tok := sign.BounceToken(sd.Deliveries[tc.i])
				if tc.token != nil {
					tok = tc.token(tok)
				}
				msg := Render(t, "testdata", tc.fixture, Fixture{Token: tok, Rcpt: sd.Emails[tc.i], MessageID: mids[sd.Deliveries[tc.i]]})
				before, _ := st.RowCounts(ctx)
				if err := smtp.SendMail(l.Addr().String(), nil, "", []string{"bounces+" + tok + "@bounces.example.se"}, msg); err != nil {
					t.Fatalf("smtp: %v", err)
				}
				after, _ := st.RowCounts(ctx)
				if changed := !reflect.DeepEqual(before, after); changed != tc.changes {
					t.Fatalf("database changed: %v, want %v\nbefore %v\nafter  %v", changed, tc.changes, before, after)
				}
				if got := status(tc.i); got != tc.status {
					t.Errorf("delivery status %s, want %s", got, tc.status)
				}
				if got := suppressed(tc.i); got != tc.suppressed {
					t.Errorf("suppressed %v, want %v", got, tc.suppressed)
				}
				if tc.event != "" && events(tc.i, tc.event) != 1 {
					t.Errorf("want one %s event", tc.event)
				}
				if tc.event == store.EventComplained || tc.event == store.EventUnsubscribed {
					sub, _ := st.Subscriber(ctx, sd.Subscribers[tc.i])
					if sub.Subscriptions[0].Status != store.SubUnsubscribed {
						t.Error("complainer still subscribed")
					}
				}
				// The same report again (the sender retried) changes nothing.
				if tc.changes {
					before, _ := st.RowCounts(ctx)
					if err := smtp.SendMail(l.Addr().String(), nil, "", []string{"bounces+" + tok + "@bounces.example.se"}, msg); err != nil {
						t.Fatal(err)
					}
					if after, _ := st.RowCounts(ctx); !reflect.DeepEqual(before, after) {
						t.Fatalf("a repeated report changed the database")
					}
				}
			})
		}
		// Anyone else's mail is refused at RCPT.
		err = smtp.SendMail(l.Addr().String(), nil, "spammer@example.com", []string{"postmaster@bounces.example.se"}, []byte("Subject: hi\r\n\r\nhi\r\n"))
		if err == nil || !strings.Contains(err.Error(), "550") {
			t.Fatalf("relay attempt: %v, want 550", err)
		}
		st2, _ := st.CampaignStats(ctx, sd.CampaignID)
		if st2.Bounced.Hard != 2 || st2.Bounced.Soft != 1 || st2.Bounced.Policy != 1 || st2.Complaints != 1 || st2.Unsubscribed != 2 {
			t.Fatalf("stats %+v", st2)
		}
	})
}

func TestPolicyBounceBurstPausesTheCampaignWithTheReason(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		sign, _ := links.NewSigner([]byte("inbound test key of 32 bytes!!!!"))
		p := inbound.New(st, sign, nil).Configure(inbound.Config{
			Guardrail: store.Guardrail{MinSample: 5, MaxFailureRate: 0.5, MaxPolicyRate: 0.15}})
		sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 10})
		for i := range 2 {
			tok := sign.BounceToken(sd.Deliveries[i])
			msg := Render(t, "testdata", "dsn_policy", Fixture{Token: tok, Rcpt: sd.Emails[i], MessageID: "m@example.se"})
			res, err := p.Handle(ctx, []string{"bounces+" + tok + "@bounces.example.se"}, bytes.NewReader(msg))
			if err != nil || res.Kind != "policy_bounce" || res.Suppressed {
				t.Fatalf("report %d: %+v %v", i, res, err)
			}
			c, _ := st.Campaign(ctx, sd.CampaignID)
			if paused := c.Status == store.CampaignPaused; paused != (i == 1) {
				t.Fatalf("after %d policy rejections of 10: campaign %s", i+1, c.Status)
			}
			if i == 1 && (!strings.Contains(c.StatusReason, "policy rejection rate 20.0% (2 of 10) passed 15.0%") ||
				!strings.Contains(c.StatusReason, "5.7.26") || !strings.Contains(c.StatusReason, "DMARC")) {
				t.Fatalf("reason %q does not name the cause", c.StatusReason)
			}
		}
		for _, e := range sd.Emails[:2] {
			if sup := storetest.Suppressed(t, st, e); sup {
				t.Fatalf("%s suppressed after a policy rejection", e)
			}
		}
	})
}
