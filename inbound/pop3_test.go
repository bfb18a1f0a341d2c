package inbound_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/storsthlm/utskick/inbound"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// fakePOP3 is a one-mailbox POP3 server (RFC 1939) on loopback.
type fakePOP3 struct {
	mu      sync.Mutex
	msgs    []string
	deleted map[int]bool
	ln      net.Listener
}

func startPOP3(t *testing.T, msgs []string) *fakePOP3 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePOP3{msgs: msgs, deleted: map[int]bool{}, ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakePOP3) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("+OK fake pop3 ready")
	marked := map[int]bool{}
	authed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return // connection lost: marked deletions are not applied
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		var n int
		fmt.Sscan(arg, &n)
		f.mu.Lock()
		ok := n >= 1 && n <= len(f.msgs) && !f.deleted[n] && !marked[n]
		switch {
		case cmd == "USER":
			say("+OK")
		case cmd == "PASS":
			authed = arg == "hemligt"
			if authed {
				say("+OK")
			} else {
				say("-ERR authentication failed")
			}
		case !authed:
			say("-ERR log in first")
		case cmd == "STAT":
			say(fmt.Sprintf("+OK %d 0", len(f.msgs)))
		case cmd == "LIST" && ok:
			say(fmt.Sprintf("+OK %d %d", n, len(f.msgs[n-1])))
		case cmd == "RETR" && ok:
			say("+OK")
			for _, l := range strings.Split(strings.TrimSuffix(f.msgs[n-1], "\r\n"), "\r\n") {
				if strings.HasPrefix(l, ".") {
					l = "." + l
				}
				say(l)
			}
			say(".")
		case cmd == "DELE" && ok:
			marked[n] = true
			say("+OK")
		case cmd == "QUIT":
			for n := range marked {
				f.deleted[n] = true
			}
			say("+OK bye")
			f.mu.Unlock()
			return
		default:
			say("-ERR no")
		}
		f.mu.Unlock()
	}
}

func (f *fakePOP3) left() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs) - len(f.deleted)
}

func TestPOP3PollingHandlesAndDeletes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		sign, _ := links.NewSigner([]byte("inbound test key of 32 bytes!!!!"))
		p := inbound.New(st, sign, nil)
		sd := storetest.Sent(t, st, storetest.Seed{Subscribers: 2})
		msgs := []string{
			string(Render(t, "testdata", "dsn_hard", Fixture{Token: sign.BounceToken(sd.Deliveries[0]), Rcpt: sd.Emails[0], MessageID: "m0@example.se"})),
			string(Render(t, "testdata", "arf_abuse", Fixture{Token: sign.BounceToken(sd.Deliveries[1]), Rcpt: sd.Emails[1], MessageID: "m1@example.se"})),
			"this is not a mail message\r\n",
		}
		srv := startPOP3(t, msgs)
		cfg, err := inbound.ParsePOP3URL("pop3://bounces:wrong@" + srv.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		before, _ := st.RowCounts(ctx)
		if _, err := p.PollPOP3(ctx, cfg); err == nil || !strings.Contains(err.Error(), "authentication failed") {
			t.Fatalf("wrong password: %v", err)
		}
		if after, _ := st.RowCounts(ctx); fmt.Sprint(before) != fmt.Sprint(after) || srv.left() != 3 {
			t.Fatal("a failed login changed something")
		}
		cfg.Password = "hemligt"
		n, err := p.PollPOP3(ctx, cfg)
		if err != nil || n != 3 {
			t.Fatalf("poll: %d %v", n, err)
		}
		if srv.left() != 0 {
			t.Fatalf("%d messages left in the mailbox", srv.left())
		}
		rows, _, _ := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: sd.CampaignID, Status: store.DeliveryBounced})
		if len(rows) != 1 || rows[0].ID != sd.Deliveries[0] {
			t.Fatalf("bounced deliveries %+v", rows)
		}
		if ok := storetest.Suppressed(t, st, sd.Emails[1]); !ok {
			t.Fatal("complaint by POP3 not suppressed")
		}
	})
	if _, err := inbound.ParsePOP3URL("pop3://u:p@mail.example.se"); err == nil {
		t.Fatal("plain POP3 with a password to a remote host accepted")
	}
	if c, err := inbound.ParsePOP3URL("pop3s://u:p@mail.example.se"); err != nil || c.Addr != "mail.example.se:995" || !c.TLS {
		t.Fatalf("pop3s: %+v %v", c, err)
	}
}
