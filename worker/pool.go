package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/storsthlm/utskick/worker/mailer"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// connPool keeps idle SMTP sessions for reuse and bounds how many are open
// at once in this process (UTSKICK_SMTP_CONNECTIONS).
type connPool struct {
	m       *mailer.Mailer
	size    int
	perConn int
	idle    chan *mailer.Conn
	tickets chan struct{}
}

func newConnPool(m *mailer.Mailer, size, perConn int) *connPool {
	p := &connPool{m: m, size: size, perConn: perConn, idle: make(chan *mailer.Conn, size), tickets: make(chan struct{}, size)}
	for i := 0; i < size; i++ {
		p.tickets <- struct{}{}
	}
	return p
}

// get returns an open session, waiting while all are in use. Sessions
// that sat idle too long are dropped on the way.
func (p *connPool) get(ctx context.Context) (*mailer.Conn, error) {
	for {
		select {
		case c := <-p.idle:
			if c.Expired() {
				p.discard(c)
				continue
			}
			return c, nil
		default:
		}
		select {
		case c := <-p.idle:
			if c.Expired() {
				p.discard(c)
				continue
			}
			return c, nil
		case <-p.tickets:
			c, err := p.m.Dial(ctx)
			if err != nil {
				p.tickets <- struct{}{}
				return nil, err
			}
			return c, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// put returns a session; a broken or worn-out one is closed instead.
func (p *connPool) put(c *mailer.Conn) {
	if c == nil {
		return
	}
	if c.Broken() || (p.perConn > 0 && c.Sent() >= p.perConn) {
		c.Close()
		p.tickets <- struct{}{}
		return
	}
	p.idle <- c
}

// discard closes a session that failed, freeing its place.
func (p *connPool) discard(c *mailer.Conn) {
	if c == nil {
		return
	}
	c.Close()
	p.tickets <- struct{}{}
}

// close ends the idle sessions.
func (p *connPool) close() {
	for {
		select {
		case c := <-p.idle:
			c.Close()
			p.tickets <- struct{}{}
		default:
			return
		}
	}
}

// session is one sender's hold on a pooled SMTP session: taken when the
// first message needs it, kept across messages, given back by release.
type session struct {
	p *connPool
	c *mailer.Conn
}

// noSession is the error of send when no session could be opened: the
// message was not tried.
type noSession struct{ err error }

func (e *noSession) Error() string { return fmt.Sprintf("no smtp session: %v", e.err) }
func (e *noSession) Unwrap() error { return e.err }

// send runs one transaction over the held session, taking one from the
// pool first if none is held. A session the server closed while it sat
// idle fails before anything of the message reached the server
// (mailer.ErrStale); the message then goes at once over another session,
// so a pause costs neither an attempt nor a retry delay. Such retries end
// at the latest with a freshly opened session, which is never stale.
// Every message utskick sends comes from mailtemplates, so it goes as
// composed (mailer.Conn.SendComposed).
func (s *session) send(ctx context.Context, from, to string, msg []byte) (string, error) {
	for tries := 0; ; tries++ {
		if s.c == nil {
			c, err := s.p.get(ctx)
			if err != nil {
				return "", &noSession{err}
			}
			s.c = c
		}
		resp, err := s.c.SendComposed(from, to, msg)
		if s.c.Broken() {
			s.p.discard(s.c)
			s.c = nil
		}
		if errors.Is(err, mailer.ErrStale) && tries <= s.p.size {
			continue
		}
		return resp, err
	}
}

// release gives the session back to the pool.
func (s *session) release() {
	if s.c != nil {
		s.p.put(s.c)
		s.c = nil
	}
}
