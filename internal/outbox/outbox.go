// Package outbox is the embedded SMTP server of utskick's default mode: a
// listener on loopback that keeps every message it is given as an .eml
// file, so that a newcomer sees real mail without running a mail server.
// Messages addressed to utskick itself (the unsubscribe+token@ and
// bounces+token@ addresses) are handed to a hook instead.
package outbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// InboundFunc receives a message for one of utskick's own addresses. It
// returns true when it took the message; the message is then not written
// to the outbox.
type InboundFunc func(ctx context.Context, from string, to []string, data []byte) bool

// Config configures a Server.
type Config struct {
	Addr    string // listen address; "127.0.0.1:0" picks a free port
	Dir     string // where .eml files go
	Inbound InboundFunc
	Log     *slog.Logger
	MaxSize int64 // largest message accepted; default 32 MiB
}

// Server is a running capture server.
type Server struct {
	cfg Config
	srv *smtp.Server
	ln  net.Listener
}

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 32 << 20
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil { // captured mail is personal data
		return nil, fmt.Errorf("outbox dir: %w", err)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("outbox address %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		// It accepts mail from anyone who can connect, without auth.
		return nil, fmt.Errorf("outbox address %q: the embedded SMTP server listens on loopback only", cfg.Addr)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("outbox listen: %w", err)
	}
	s := &Server{cfg: cfg, ln: ln}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.MaxMessageBytes = cfg.MaxSize
	srv.MaxRecipients = 100
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.AllowInsecureAuth = true
	s.srv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			cfg.Log.Error("outbox server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// NewSession implements smtp.Backend.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct {
	s    *Server
	from string
	to   []string
	buf  bytes.Buffer
}

func (ss *session) AuthPlain(username, password string) error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	ss.buf.Reset()
	if _, err := ss.buf.ReadFrom(r); err != nil {
		return err
	}
	data := ss.buf.Bytes()
	if ss.s.cfg.Inbound != nil && ss.s.cfg.Inbound(context.Background(), ss.from, ss.to, append([]byte(nil), data...)) {
		return nil
	}
	if err := ss.s.store(ss.from, ss.to, data); err != nil {
		ss.s.cfg.Log.Error("outbox store", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store message"}
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// store writes data as <dir>/<message-id>.eml. A second message with the
// same Message-ID (a resend after a crash) is kept as <message-id>.2.eml,
// so duplicates stay visible instead of overwriting each other. The file
// appears complete or not at all.
func (s *Server) store(from string, to []string, data []byte) error {
	id := FileName(messageID(data))
	tmp, err := os.CreateTemp(s.cfg.Dir, ".incoming-*")
	if err != nil {
		return err
	}
	fmt.Fprintf(tmp, "X-Utskick-Envelope-From: %s\r\nX-Utskick-Envelope-To: %s\r\n", from, strings.Join(to, ", "))
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	for n := 1; ; n++ {
		name := id + ".eml"
		if n > 1 {
			name = fmt.Sprintf("%s.%d.eml", id, n)
		}
		// Link fails if the name exists, unlike Rename: no overwrite race.
		err := os.Link(tmp.Name(), filepath.Join(s.cfg.Dir, name))
		if err == nil {
			return os.Remove(tmp.Name())
		}
		if !errors.Is(err, os.ErrExist) {
			os.Remove(tmp.Name())
			return err
		}
	}
}

// messageID reads the Message-ID header, or makes one up.
func messageID(data []byte) string {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(data))).ReadMIMEHeader()
	if err == nil || len(h) > 0 {
		if id := strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>"); id != "" {
			return id
		}
	}
	return fmt.Sprintf("no-message-id-%d", time.Now().UnixNano())
}

// FileName turns a Message-ID into a safe file name.
func FileName(id string) string {
	b := []byte(id)
	for i, c := range b {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".@_+-", c) >= 0
		if !ok {
			b[i] = '_'
		}
	}
	s := strings.TrimLeft(string(b), ".")
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" {
		s = "message"
	}
	return s
}
