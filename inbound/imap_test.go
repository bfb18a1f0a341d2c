package inbound_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// startIMAP runs go-imap's in-memory IMAP server on loopback with one
// user, bounces/hemligt, and an empty INBOX. caps nil is a bare IMAP4rev1
// server, without MOVE or UIDPLUS.
func startIMAP(t *testing.T, caps imap.CapSet) string {
	t.Helper()
	return serveIMAP(t, caps, nil)
}

// serveIMAP is startIMAP, over implicit TLS when tc is set.
func serveIMAP(t *testing.T, caps imap.CapSet, tc *tls.Config) string {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("bounces", "hemligt")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true, // loopback only
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return addr
}

// imapAdmin is a second client that puts mail in and looks at folders.
type imapAdmin struct {
	t  *testing.T
	cl *imapclient.Client
}

func newIMAPAdmin(t *testing.T, addr string) *imapAdmin {
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Login("bounces", "hemligt").Wait(); err != nil {
		t.Fatal(err)
	}
	return &imapAdmin{t: t, cl: cl}
}

func (a *imapAdmin) deliver(msgs ...string) {
	for _, m := range msgs {
		w := a.cl.Append("INBOX", int64(len(m)), nil)
		if _, err := io.WriteString(w, m); err != nil {
			a.t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			a.t.Fatal(err)
		}
		if _, err := w.Wait(); err != nil {
			a.t.Fatal(err)
		}
	}
}

// count returns the messages in a folder and how many of them are unread;
// -1 when the folder does not exist.
func (a *imapAdmin) count(folder string) (total, unseen int) {
	st, err := a.cl.Status(folder, &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
	if err != nil {
		return -1, -1
	}
	return int(*st.NumMessages), int(*st.NumUnseen)
}

func TestIMAPPollingHandlesAndPutsAway(t *testing.T) {
	for _, server := range []struct {
		name string
		caps imap.CapSet
	}{
		{"IMAP4rev1 without MOVE", nil},
		{"with MOVE and UIDPLUS", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}}},
	} {
		t.Run(server.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				ctx := context.Background()
				sign, _ := links.NewSigner([]byte("inbound test key of 32 bytes!!!!"))
				p := inbound.New(st, sign, nil)
				sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 3})
				addr := startIMAP(t, server.caps)
				admin := newIMAPAdmin(t, addr)
				admin.deliver(
					string(Render(t, "testdata", "dsn_hard", Fixture{Token: sign.BounceToken(sd.Deliveries[0]), Rcpt: sd.Emails[0], MessageID: "m0@example.se"})),
					string(Render(t, "testdata", "arf_abuse", Fixture{Token: sign.BounceToken(sd.Deliveries[1]), Rcpt: sd.Emails[1], MessageID: "m1@example.se"})),
					"this is not a mail message\r\n",
					"From: big@example.se\r\nSubject: large\r\n\r\n"+strings.Repeat("x", 70<<10)+"\r\n",
				)

				cfg, err := inbound.ParseIMAPURL("imap://bounces:wrong@" + addr + "/INBOX")
				if err != nil || cfg.StartTLS || cfg.Processed != inbound.DefaultIMAPProcessed {
					t.Fatalf("parse: %+v %v", cfg, err)
				}
				cfg.MaxSize = 64 << 10
				before, _ := st.RowCounts(ctx)
				if _, err := p.PollIMAP(ctx, cfg); err == nil {
					t.Fatal("wrong password accepted")
				}
				if after, _ := st.RowCounts(ctx); fmt.Sprint(before) != fmt.Sprint(after) {
					t.Fatal("a failed login changed the database")
				}
				if n, unseen := admin.count("INBOX"); n != 4 || unseen != 4 {
					t.Fatalf("after a failed login INBOX has %d messages, %d unread", n, unseen)
				}

				cfg.Password = "hemligt"
				n, err := p.PollIMAP(ctx, cfg)
				if err != nil || n != 4 {
					t.Fatalf("poll: %d %v", n, err)
				}
				if n, _ := admin.count("INBOX"); n != 0 {
					t.Fatalf("%d messages left in INBOX", n)
				}
				if n, _ := admin.count(inbound.DefaultIMAPProcessed); n != 4 {
					t.Fatalf("%d messages in %s, want the 4 handled", n, inbound.DefaultIMAPProcessed)
				}
				rows, _, _ := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: sd.CampaignID, Status: store.DeliveryBounced})
				if len(rows) != 1 || rows[0].ID != sd.Deliveries[0] {
					t.Fatalf("bounced deliveries %+v", rows)
				}
				if ok := storetest.Suppressed(t, st, sd.Emails[1]); !ok {
					t.Fatal("complaint by IMAP not suppressed")
				}
				if n, err := p.PollIMAP(ctx, cfg); err != nil || n != 0 {
					t.Fatalf("second poll of an empty INBOX: %d %v", n, err)
				}

				// Deleting instead of moving.
				admin.deliver(string(Render(t, "testdata", "dsn_soft", Fixture{Token: sign.BounceToken(sd.Deliveries[2]), Rcpt: sd.Emails[2], MessageID: "m2@example.se"})))
				cfg.Processed = inbound.IMAPDelete
				if n, err := p.PollIMAP(ctx, cfg); err != nil || n != 1 {
					t.Fatalf("poll with delete: %d %v", n, err)
				}
				if n, _ := admin.count("INBOX"); n != 0 {
					t.Fatalf("%d messages left in INBOX after delete", n)
				}
				if n, _ := admin.count(inbound.DefaultIMAPProcessed); n != 4 {
					t.Fatalf("a deleted message went to %s", inbound.DefaultIMAPProcessed)
				}
				if st2, _ := st.CampaignStats(ctx, sd.CampaignID); st2.Bounced.Soft != 1 {
					t.Fatalf("soft bounce by IMAP not counted: %+v", st2.Bounced)
				}
			})
		})
	}
}

func TestIMAPPollingKeepsMailItCouldNotRecord(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	sign, _ := links.NewSigner([]byte("inbound test key of 32 bytes!!!!"))
	p := inbound.New(st, sign, nil)
	sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 1})
	addr := startIMAP(t, nil)
	admin := newIMAPAdmin(t, addr)
	admin.deliver(string(Render(t, "testdata", "dsn_hard", Fixture{Token: sign.BounceToken(sd.Deliveries[0]), Rcpt: sd.Emails[0], MessageID: "m0@example.se"})))
	cfg, _ := inbound.ParseIMAPURL("imap://bounces:hemligt@" + addr)
	// The database goes away: the report cannot be recorded, so the
	// message must stay in INBOX, unread, for the next poll.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := p.PollIMAP(ctx, cfg); err != nil || n != 0 {
		t.Fatalf("poll without a database: %d %v", n, err)
	}
	if n, unseen := admin.count("INBOX"); n != 1 || unseen != 1 {
		t.Fatalf("INBOX has %d messages, %d unread; want the one kept unread", n, unseen)
	}
}

func TestParseIMAPURL(t *testing.T) {
	tests := []struct {
		url                string
		addr, user, folder string
		tls, starttls      bool
		bad                bool
	}{
		{url: "imaps://bounces%40kommun.example:p%40ss@imap.kommun.example/INBOX", addr: "imap.kommun.example:993", user: "bounces@kommun.example", folder: "INBOX", tls: true},
		{url: "imaps://u:p@imap.example.se:1993/Studsar%20och%20klagom%C3%A5l", addr: "imap.example.se:1993", user: "u", folder: "Studsar och klagomål", tls: true},
		{url: "imap://u:p@imap.example.se", addr: "imap.example.se:143", user: "u", starttls: true},
		{url: "imap://u:p@127.0.0.1:1143", addr: "127.0.0.1:1143", user: "u"},
		{url: "imaps://imap.example.se", bad: true},
		{url: "pop3s://u:p@imap.example.se", bad: true},
		{url: "imaps://u:p@imap.example.se/INBOX?processed=x", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := inbound.ParseIMAPURL(tt.url)
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", c)
				}
				return
			}
			if err != nil || c.Addr != tt.addr || c.User != tt.user || c.Mailbox != tt.folder || c.TLS != tt.tls || c.StartTLS != tt.starttls {
				t.Fatalf("got %+v %v", c, err)
			}
		})
	}
}

func TestIMAPSPollingVerifiesTheServer(t *testing.T) {
	// Borrow httptest's certificate for 127.0.0.1 and the pool that
	// trusts it.
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	addr := serveIMAP(t, nil, &tls.Config{Certificates: ts.TLS.Certificates})

	st := storetest.Open(t)
	sign, _ := links.NewSigner([]byte("inbound test key of 32 bytes!!!!"))
	p := inbound.New(st, sign, nil)
	cfg, err := inbound.ParseIMAPURL("imaps://bounces:hemligt@" + addr + "/INBOX")
	if err != nil || !cfg.TLS {
		t.Fatalf("parse: %+v %v", cfg, err)
	}
	if _, err := p.PollIMAP(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate was accepted: %v", err)
	}
	cfg.TLSConfig = &tls.Config{RootCAs: pool}
	if n, err := p.PollIMAP(context.Background(), cfg); err != nil || n != 0 {
		t.Fatalf("poll over TLS: %d %v", n, err)
	}
}
