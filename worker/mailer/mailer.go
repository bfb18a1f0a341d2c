// Package mailer speaks SMTP for utskick, through go-mail: it opens
// sessions, sends pre-rendered messages over them one transaction at a
// time, and classifies what the server answered.
package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// TLS modes.
const (
	TLSStartTLS = "starttls" // STARTTLS required
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // plain text: loopback and test servers only
)

// Config is an SMTP server to send through.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      string // TLSStartTLS, TLSImplicit or TLSNone
	// TLSConfig overrides certificate checks (tests with a self-signed
	// server); nil means the system roots and Host.
	TLSConfig *tls.Config
	HELO      string        // name to greet with; default "localhost"
	Timeout   time.Duration // per SMTP command; default 30s
	// CheckIdle is how long a session may sit quiet before its next
	// transaction is preceded by a NOOP to see that the server still
	// holds it open (default 2s). A sender working at speed never waits
	// that long, so the check costs nothing then.
	CheckIdle time.Duration
	// MaxIdle is how long a session may sit quiet before it is dropped
	// without being tried (default 30s). Servers close quiet sessions
	// after their own limit (Postfix's smtpd_timeout is 300s, 10s when it
	// is under stress); CheckIdle catches those closed sooner.
	MaxIdle time.Duration
	// DataOnly sends every message with DATA, even to a server that
	// offers CHUNKING (BDAT, RFC 3030).
	DataOnly bool
}

// Mailer dials sessions to one server.
type Mailer struct {
	cfg    Config
	client *mail.Client
}

// New checks cfg and returns a Mailer. It does not connect.
func New(cfg Config) (*Mailer, error) {
	if cfg.Host == "" || cfg.Port <= 0 {
		return nil, errors.New("smtp: host and port are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HELO == "" {
		cfg.HELO = "localhost"
	}
	if cfg.CheckIdle <= 0 {
		cfg.CheckIdle = 2 * time.Second
	}
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = 30 * time.Second
	}
	opts := []mail.Option{mail.WithPort(cfg.Port), mail.WithTimeout(cfg.Timeout), mail.WithHELO(cfg.HELO)}
	switch cfg.TLS {
	case TLSStartTLS, "":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		return nil, fmt.Errorf("smtp: unknown tls mode %q (starttls, tls or none)", cfg.TLS)
	}
	if cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(cfg.TLSConfig))
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	c, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return &Mailer{cfg: cfg, client: c}, nil
}

// Conn is one SMTP session. It is not safe for concurrent use; a sender
// owns one at a time.
type Conn struct {
	m          *Mailer
	c          *smtp.Client
	pipelining bool
	chunking   bool // BDAT can go pipelined with MAIL and RCPT
	sent       int
	broken     bool
	tried      int       // transactions begun on this session
	lastUsed   time.Time // end of the last command exchange
}

// ErrStale marks a transaction that failed before the server could have
// accepted the message, on a session that had carried an earlier one or
// sat quiet: the server had closed it meanwhile (421 "Idle timeout", a
// reset or a broken pipe). The message was not tried; send it again at
// once over a new session, without counting an attempt. The error also
// wraps the server's answer or the network error.
var ErrStale = errors.New("smtp: the server had closed the session")

// Dial opens a session: connect, EHLO, STARTTLS and AUTH as configured.
func (m *Mailer) Dial(ctx context.Context) (*Conn, error) {
	c, err := m.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("smtp dial %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	pipe, _ := c.Extension("PIPELINING")
	chunk, _ := c.Extension("CHUNKING")
	return &Conn{m: m, c: c, pipelining: pipe, chunking: pipe && chunk && !m.cfg.DataOnly, lastUsed: time.Now()}, nil
}

// Expired reports that the session has sat quiet longer than MaxIdle: it
// is dropped rather than used.
func (c *Conn) Expired() bool { return time.Since(c.lastUsed) >= c.m.cfg.MaxIdle }

// Sent is how many messages this session delivered.
func (c *Conn) Sent() int { return c.sent }

// Broken reports that the session must not be used again.
func (c *Conn) Broken() bool { return c.broken }

// Send runs one transaction (MAIL, RCPT, DATA) for msg, which must be a
// complete message with CRLF line endings. It returns the server's text
// on success and the error to classify otherwise; after a refusal the
// session is reset so the next message can go on. A session the server
// closed while it was quiet gives an error that wraps ErrStale. Send may
// use the spare capacity of msg.
func (c *Conn) Send(from, to string, msg []byte) (string, error) {
	return c.transact(from, to, msg, false)
}

// SendComposed is Send for a message from mailtemplates. Its body never
// has a line that starts with a dot (quoted-printable writes that dot as
// =2E, base64 has no dots, boundaries start with "--"), so only the
// header, where values go as they are, is searched for one: the search
// through a 57 KB issue was 4 % of an Ed25519-signed send's CPU.
func (c *Conn) SendComposed(from, to string, msg []byte) (string, error) {
	return c.transact(from, to, msg, true)
}

func (c *Conn) transact(from, to string, msg []byte, composed bool) (string, error) {
	if c.broken {
		return "", errors.New("smtp: session is closed")
	}
	if strings.ContainsAny(from, "\r\n<>") || strings.ContainsAny(to, "\r\n<>") {
		return "", &textproto.Error{Code: 501, Msg: "5.1.3 address contains a forbidden character"}
	}
	quiet := time.Since(c.lastUsed)
	reused := c.tried > 0 || quiet >= c.m.cfg.CheckIdle
	c.tried++
	if err := c.c.UpdateDeadline(c.m.cfg.Timeout); err != nil {
		c.broken = true
		return "", err
	}
	if quiet >= c.m.cfg.MaxIdle {
		c.broken = true
		return "", fmt.Errorf("%w: quiet for %s", ErrStale, quiet.Round(time.Second))
	}
	if quiet >= c.m.cfg.CheckIdle {
		if err := c.c.Noop(); err != nil {
			c.broken = true
			return "", fmt.Errorf("%w: NOOP after %s quiet: %w", ErrStale, quiet.Round(time.Millisecond), err)
		}
	}
	var resp string
	var began bool
	var err error
	if c.chunking && quiet < chunkQuiet {
		resp, began, err = c.sendChunk(from, to, msg)
	} else {
		resp, began, err = c.send(from, to, msg, composed)
	}
	c.lastUsed = time.Now()
	if err != nil {
		var tp *textproto.Error
		closing := !errors.As(err, &tp) || tp.Code == 421
		if closing {
			c.broken = true // the connection itself failed
		} else if rerr := c.c.Reset(); rerr != nil {
			c.broken = true
		}
		if closing && reused && !began {
			// The server cannot have accepted the message: safe to send
			// it again elsewhere at once.
			return "", fmt.Errorf("%w: %w", ErrStale, err)
		}
		return "", err
	}
	c.sent++
	return resp, nil
}

// send speaks the transaction on go-mail's connection (its exported Text,
// "to allow for clients to add extensions") rather than through
// Client.Mail/Rcpt/Data, for two reasons measured in the send benchmark:
// with PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one write and
// their replies come back together, and the message body is written in
// one piece instead of through textproto's dot-writer, which handles it a
// byte at a time and took nearly half of the sender's CPU.
//
// began reports that the message body was being written: from then on the
// server may have accepted the message whatever the error says.
func (c *Conn) send(from, to string, msg []byte, composed bool) (resp string, began bool, err error) {
	tp := c.c.Text
	if c.pipelining {
		tp.W.WriteString("MAIL FROM:<" + from + ">\r\nRCPT TO:<" + to + ">\r\nDATA\r\n")
		if err := tp.W.Flush(); err != nil {
			return "", false, err
		}
		// Read all three replies whatever they are: they are on the wire.
		_, _, errMail := tp.ReadResponse(250)
		_, _, errRcpt := tp.ReadResponse(25)
		_, _, errData := tp.ReadResponse(354)
		if err := errors.Join(errMail, errRcpt); err != nil {
			if errData == nil {
				// The server took DATA after refusing the sender or the
				// recipient (it should not); end the empty transaction.
				tp.PrintfLine(".")
				tp.ReadResponse(250)
			}
			return "", false, firstErr(errMail, errRcpt)
		}
		if errData != nil {
			return "", false, errData
		}
	} else {
		for _, step := range []struct {
			cmd  string
			code int
		}{{"MAIL FROM:<" + from + ">", 250}, {"RCPT TO:<" + to + ">", 25}, {"DATA", 354}} {
			if err := tp.PrintfLine("%s", step.cmd); err != nil {
				return "", false, err
			}
			if _, _, err := tp.ReadResponse(step.code); err != nil {
				return "", false, err
			}
		}
	}
	data := stuffed(msg, composed)
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		data = append(data, '\r', '\n')
	}
	data = append(data, '.', '\r', '\n')
	if _, err := tp.W.Write(data); err != nil {
		return "", true, err
	}
	if err := tp.W.Flush(); err != nil {
		return "", true, err
	}
	_, resp, err = tp.ReadResponse(250)
	return resp, true, err
}

// chunkQuiet is how recently a session must have carried a transaction
// for the next to go with BDAT. A BDAT transaction writes the message
// before any reply is read, so on a session the server had closed
// meanwhile the failure could come after the message left; with DATA it
// comes before, and the message is sent again at once elsewhere
// (ErrStale). No server closes a session after less than this of quiet,
// and a sender at work leaves none that long; after a pause the first
// message goes with DATA.
const chunkQuiet = 100 * time.Millisecond

// sendChunk speaks the transaction with BDAT (CHUNKING, RFC 3030): MAIL,
// RCPT and "BDAT <size> LAST" go out with the message in one write, and
// the three replies come back together. That is one round trip a message
// instead of DATA's two (to a relay 20 ms away, twice the messages a
// session), and the message goes as it is, without dot-stuffing.
//
// began is false only when the server cannot have accepted the message:
// a refused MAIL or RCPT (the server then discards the chunk), or a
// write that did not get the whole chunk out. A reply that never came
// leaves it open, and the message counts as tried.
func (c *Conn) sendChunk(from, to string, msg []byte) (resp string, began bool, err error) {
	tp := c.c.Text
	size := len(msg)
	end := !bytes.HasSuffix(msg, crlf)
	if end {
		size += 2
	}
	tp.W.WriteString("MAIL FROM:<" + from + ">\r\nRCPT TO:<" + to + ">\r\nBDAT " + strconv.Itoa(size) + " LAST\r\n")
	tp.W.Write(msg)
	if end {
		tp.W.Write(crlf)
	}
	if err := tp.W.Flush(); err != nil {
		return "", false, err
	}
	// The replies come in order; a refusal is a *textproto.Error, any
	// other error means the replies stopped coming.
	if _, _, err := tp.ReadResponse(250); err != nil {
		var refused *textproto.Error
		if !errors.As(err, &refused) {
			return "", true, err
		}
		tp.ReadResponse(25)  // RCPT: refused too, for want of a sender
		tp.ReadResponse(250) // BDAT: refused, the chunk discarded
		return "", false, err
	}
	if _, _, err := tp.ReadResponse(25); err != nil {
		var refused *textproto.Error
		if !errors.As(err, &refused) {
			return "", true, err
		}
		tp.ReadResponse(250)
		return "", false, err
	}
	_, resp, err = tp.ReadResponse(250)
	return resp, true, err
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// stuffed is msg as DATA carries it. For a composed message only the
// header is searched for a line that starts with a dot (SendComposed).
func stuffed(msg []byte, composed bool) []byte {
	scan := msg
	if composed {
		if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
			scan = msg[:i+2]
		}
	}
	if !lineStartsWithDot(scan) {
		return msg
	}
	return dotStuff(msg)
}

// dotStuff doubles the dot that starts a line (RFC 5321 §4.5.2). Messages
// from mailtemplates never need it (their quoted-printable encoding writes
// a leading dot as =2E), so the common case is one fast scan and no copy.
func dotStuff(msg []byte) []byte {
	if !lineStartsWithDot(msg) {
		return msg
	}
	out := make([]byte, 0, len(msg)+len(msg)/64+5)
	atLineStart := true
	for _, b := range msg {
		if atLineStart && b == '.' {
			out = append(out, '.')
		}
		out = append(out, b)
		atLineStart = b == '\n'
	}
	return out
}

// lineStartsWithDot reports whether a line of msg starts with a dot. It
// looks for the dots and at the byte before each: a campaign message has
// a third as many dots as line ends, and this takes 3.7 µs on a 57 KB
// issue against 9.0 µs for bytes.Contains(msg, "\n.") (which stops at
// every line end).
func lineStartsWithDot(msg []byte) bool {
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '.')
		if j < 0 {
			return false
		}
		i += j
		if i == 0 || msg[i-1] == '\n' {
			return true
		}
		i++
	}
	return false
}

// Close ends the session politely (QUIT), or just drops a broken one.
func (c *Conn) Close() error {
	if c.c == nil {
		return nil
	}
	defer func() { c.c = nil }()
	if c.broken || c.Expired() {
		// Nobody to say goodbye to, or likely not: a QUIT could wait
		// the whole command timeout for a server that is gone.
		return c.c.Close()
	}
	if err := c.c.Quit(); err != nil {
		c.c.Close()
		return fmt.Errorf("smtp quit: %w", err)
	}
	return nil
}
