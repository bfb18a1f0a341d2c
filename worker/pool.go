package worker

import (
	"context"
	"encoding/json"

	"github.com/storsthlm/utskick/worker/mailer"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// connPool keeps idle SMTP sessions for reuse and bounds how many are open
// at once in this process (UTSKICK_SMTP_CONNECTIONS).
type connPool struct {
	m       *mailer.Mailer
	perConn int
	idle    chan *mailer.Conn
	tickets chan struct{}
}

func newConnPool(m *mailer.Mailer, size, perConn int) *connPool {
	p := &connPool{m: m, perConn: perConn, idle: make(chan *mailer.Conn, size), tickets: make(chan struct{}, size)}
	for i := 0; i < size; i++ {
		p.tickets <- struct{}{}
	}
	return p
}

// get returns an open session, waiting while all are in use.
func (p *connPool) get(ctx context.Context) (*mailer.Conn, error) {
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	select {
	case c := <-p.idle:
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
