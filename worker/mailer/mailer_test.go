package mailer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// server is a loopback SMTP server that counts what reaches it.
type server struct {
	port     int
	mails    atomic.Int64 // MAIL commands
	accepted atomic.Int64
	refuse   atomic.Bool  // 421 to MAIL
	slow     atomic.Int64 // wait this long before answering DATA
	refuseTo string       // 550 to RCPT TO this address
	last     atomic.Value // []byte: the last message accepted
	wire     *syncBuffer  // the session as the server saw it (startServerWire)
}

// syncBuffer is a bytes.Buffer for go-smtp's Debug writer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startServer(t *testing.T, idle time.Duration) *server {
	return startServerWire(t, idle, &server{})
}

// startServerWire starts s, logging what passes on the wire to s.wire.
func startServerWire(t *testing.T, idle time.Duration, s *server) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(s)
	srv.Domain, srv.AllowInsecureAuth, srv.ReadTimeout = "localhost", true, idle
	if s.wire == nil {
		s.wire = &syncBuffer{}
	}
	srv.Debug = s.wire
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.port = ln.Addr().(*net.TCPAddr).Port
	return s
}

func (s *server) NewSession(*smtp.Conn) (smtp.Session, error) { return &serverSession{s}, nil }

type serverSession struct{ s *server }

func (ss *serverSession) Mail(string, *smtp.MailOptions) error {
	ss.s.mails.Add(1)
	if ss.s.refuse.Load() {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}
	}
	return nil
}
func (ss *serverSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == ss.s.refuseTo {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	return nil
}
func (ss *serverSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	ss.s.last.Store(b)
	time.Sleep(time.Duration(ss.s.slow.Load()))
	ss.s.accepted.Add(1)
	return nil
}
func (ss *serverSession) Reset()        {}
func (ss *serverSession) Logout() error { return nil }

const testMsg = "From: a@example.se\r\nTo: b@example.org\r\nSubject: x\r\n\r\nHej.\r\n"

// TestSessionsTheServerClosedAreStale: a transaction that fails before
// the message could reach the server, on a session that had been used or
// sat quiet, wraps ErrStale (send again at once elsewhere); on a fresh
// session, or once the message was on its way, it does not.
func TestSessionsTheServerClosedAreStale(t *testing.T) {
	cases := []struct {
		name      string
		idle      time.Duration // server closes quiet sessions after this
		checkIdle time.Duration
		maxIdle   time.Duration
		first     bool          // send one message before the pause
		pause     time.Duration // quiet before the message under test
		refuse    bool          // server answers 421 to MAIL
		slow      time.Duration // server answers DATA this late (the client waits 300ms)
		stale     bool
		sent      bool
		mails     int64 // MAIL commands the server saw in all
	}{
		{name: "used, closed by the server while quiet", idle: 200 * time.Millisecond, checkIdle: time.Minute,
			first: true, pause: 400 * time.Millisecond, stale: true, mails: 1},
		{name: "quiet, NOOP finds it closed", idle: 200 * time.Millisecond, checkIdle: 100 * time.Millisecond,
			pause: 400 * time.Millisecond, stale: true, mails: 0},
		{name: "quiet, NOOP finds it open", checkIdle: 50 * time.Millisecond,
			first: true, pause: 150 * time.Millisecond, sent: true, mails: 2},
		{name: "quiet past MaxIdle, dropped untried", checkIdle: time.Minute, maxIdle: 100 * time.Millisecond,
			first: true, pause: 200 * time.Millisecond, stale: true, mails: 1},
		{name: "fresh session refused: a real failure", checkIdle: time.Minute, refuse: true, mails: 1},
		{name: "used session refused with 421", checkIdle: time.Minute, first: true, refuse: true, stale: true, mails: 2},
		{name: "used session times out after the message went: may be accepted", checkIdle: time.Minute,
			first: true, slow: time.Second, mails: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.idle)
			m, err := New(Config{Host: "127.0.0.1", Port: s.port, TLS: TLSNone, Timeout: 300 * time.Millisecond,
				CheckIdle: tc.checkIdle, MaxIdle: tc.maxIdle})
			if err != nil {
				t.Fatal(err)
			}
			c, err := m.Dial(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.first {
				if _, err := c.Send("a@example.se", "b@example.org", []byte(testMsg)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(tc.pause)
			s.refuse.Store(tc.refuse)
			s.slow.Store(int64(tc.slow))
			_, err = c.Send("a@example.se", "c@example.org", []byte(testMsg))
			if got := errors.Is(err, ErrStale); got != tc.stale {
				t.Fatalf("stale = %v, want %v (err %v)", got, tc.stale, err)
			}
			if (err == nil) != tc.sent {
				t.Fatalf("err = %v, want sent %v", err, tc.sent)
			}
			if err != nil && Classify(err).Class != Temporary {
				t.Fatalf("classified %v, want temporary", Classify(err))
			}
			if tc.stale && !c.Broken() {
				t.Fatal("a stale session is not marked broken")
			}
			time.Sleep(20 * time.Millisecond) // let the server count
			if got := s.mails.Load(); got != tc.mails {
				t.Fatalf("server saw %d MAIL commands, want %d", got, tc.mails)
			}
		})
	}
}
