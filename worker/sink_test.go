package worker_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server on loopback for fault tests: it keeps what it
// accepts and can refuse on purpose, like ../shared/tools/smtpsink.
type sink struct {
	ln            net.Listener
	srv           *smtp.Server
	rejectRcpt    string       // 550 5.1.1 for recipients containing it
	tempfailEvery atomic.Int64 // 451 for every Nth DATA
	delay         atomic.Int64 // nanoseconds to wait before answering DATA
	down          atomic.Bool  // answer 421 to every MAIL
	datas         atomic.Int64
	sessions      atomic.Int64
	mu            sync.Mutex
	got           []sunk
}

type sunk struct {
	rcpt, messageID, from string
	at                    time.Time
	session               int64 // which SMTP session carried it
}

func newSink(t *testing.T, rejectRcpt string, tempfailEvery int64) *sink {
	t.Helper()
	return newSinkIdle(t, rejectRcpt, tempfailEvery, 0)
}

// newSinkIdle is newSink closing sessions that send nothing for idle
// (421 4.4.2 "Idle timeout", as go-smtp and real servers do); 0 never.
func newSinkIdle(t *testing.T, rejectRcpt string, tempfailEvery int64, idle time.Duration) *sink {
	t.Helper()
	s := &sink{rejectRcpt: rejectRcpt}
	s.tempfailEvery.Store(tempfailEvery)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = idle
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *sink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &sinkSession{s: s, id: s.sessions.Add(1)}, nil
}

// received returns the accepted messages so far.
func (s *sink) received() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.got...)
}

// perRecipient counts accepted messages by recipient.
func (s *sink) perRecipient() map[string]int {
	out := map[string]int{}
	for _, m := range s.received() {
		out[m.rcpt]++
	}
	return out
}

type sinkSession struct {
	s    *sink
	id   int64
	from string
	to   []string
}

func (ss *sinkSession) AuthPlain(string, string) error { return nil }

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.down.Load() {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service shutting down"}
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.rejectRcpt != "" && strings.Contains(to, ss.s.rejectRcpt) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	n := ss.s.datas.Add(1)
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if d := ss.s.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if every := ss.s.tempfailEvery.Load(); every > 0 && n%every == 0 {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	ss.s.mu.Lock()
	for _, to := range ss.to {
		ss.s.got = append(ss.s.got, sunk{rcpt: to, from: ss.from, messageID: h.Get("Message-Id"), at: time.Now(), session: ss.id})
	}
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }
