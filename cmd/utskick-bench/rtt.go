package main

import (
	"io"
	"log"
	"net"
	"sync"
	"time"
)

// delayProxy stands between the senders (utskick and smtpblast alike) and
// the sink on loopback, holding every chunk of bytes for half the round
// trip time in each direction, so that the benchmark can show what a
// relay some milliseconds away makes of a protocol's round trips. Bytes
// keep their order; nothing is dropped.
type delayProxy struct {
	ln   net.Listener
	to   string
	half time.Duration
	wg   sync.WaitGroup
}

func startDelayProxy(to string, rtt time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, to: to, half: rtt / 2}
	go p.accept()
	return p, nil
}

func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

func (p *delayProxy) Close() {
	p.ln.Close()
	p.wg.Wait()
}

func (p *delayProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			log.Printf("delay proxy: %v", err)
			c.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, each chunk written half a round trip after it
// was read.
func (p *delayProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	type chunk struct {
		b  []byte
		at time.Time
	}
	q := make(chan chunk, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.b); err != nil {
				for range q {
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	for {
		b := make([]byte, 64<<10)
		n, err := src.Read(b)
		if n > 0 {
			q <- chunk{b: b[:n], at: time.Now().Add(p.half)}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			break
		}
	}
	close(q)
	<-done
}
