package inbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// ListenerConfig configures the inbound SMTP listener.
type ListenerConfig struct {
	Addr    string // e.g. ":25", or ":2525" behind a port forward
	Domain  string // the name it greets with
	MaxSize int64  // largest message accepted; default 10 MiB
	Log     *slog.Logger
}

// Listener is the SMTP server that the bounce domain's MX points at. It
// takes mail only for utskick's own token addresses (bounces+, unsubscribe+)
// and refuses every other recipient at RCPT, so it cannot be used as a
// relay or a spam trap.
type Listener struct {
	cfg ListenerConfig
	p   *Processor
	srv *smtp.Server
	ln  net.Listener
}

// Listen starts the listener.
func Listen(cfg ListenerConfig, p *Processor) (*Listener, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 10 << 20
	}
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("inbound smtp listen %s: %w", cfg.Addr, err)
	}
	l := &Listener{cfg: cfg, p: p, ln: ln}
	srv := smtp.NewServer(l)
	srv.Domain = cfg.Domain
	srv.MaxMessageBytes = cfg.MaxSize
	srv.MaxRecipients = 10
	srv.ReadTimeout = 2 * time.Minute
	srv.WriteTimeout = time.Minute
	l.srv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			cfg.Log.Error("inbound smtp stopped", "err", err)
		}
	}()
	return l, nil
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() *net.TCPAddr { return l.ln.Addr().(*net.TCPAddr) }

// Close stops the listener.
func (l *Listener) Close() error { return l.srv.Close() }

// NewSession implements smtp.Backend.
func (l *Listener) NewSession(*smtp.Conn) (smtp.Session, error) { return &inSession{l: l}, nil }

type inSession struct {
	l  *Listener
	to []string
}

func (s *inSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *inSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ForUs([]string{to}) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such recipient here"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *inSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.l.p.Handle(ctx, s.to, &buf)
	switch {
	case errors.Is(err, ErrNotMail):
		// Accepted and dropped: refusing it would only make the sending
		// system bounce a bounce.
		s.l.cfg.Log.Warn("inbound smtp: not a mail message, dropped")
		return nil
	case err != nil:
		// The database is away: have the sender try again later.
		s.l.cfg.Log.Error("inbound smtp", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}

func (s *inSession) Reset()        { s.to = nil }
func (s *inSession) Logout() error { return nil }
