package inbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// POP3Config says which mailbox to poll for bounces and complaints, for a
// bounce domain whose MX cannot point at utskick.
type POP3Config struct {
	Addr       string // host:port
	TLS        bool   // implicit TLS (pop3s, port 995)
	User       string
	Password   string
	Every      time.Duration // between polls; default 1m
	MaxSize    int64         // larger messages are deleted unread; default 10 MiB
	MaxPerPoll int           // messages taken per poll; default 500
	Log        *slog.Logger
	// TLSConfig overrides the TLS settings (tests); nil verifies the
	// server's certificate for the host in Addr.
	TLSConfig *tls.Config
}

// ParsePOP3URL reads pop3s://user:pass@host[:995] or, for a server on
// loopback only, pop3://user:pass@host[:110].
func ParsePOP3URL(v string) (POP3Config, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "pop3" && u.Scheme != "pop3s") || u.Hostname() == "" || u.User == nil {
		return POP3Config{}, errors.New("want pop3s://user:password@host:995")
	}
	c := POP3Config{TLS: u.Scheme == "pop3s", User: u.User.Username()}
	c.Password, _ = u.User.Password()
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "995", false: "110"}[c.TLS]
	}
	c.Addr = net.JoinHostPort(u.Hostname(), port)
	if !c.TLS {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return POP3Config{}, errors.New("refusing to send a password without TLS to a non-loopback server: use pop3s://")
		}
	}
	return c, nil
}

func (c *POP3Config) setDefaults() {
	if c.Every <= 0 {
		c.Every = time.Minute
	}
	if c.MaxSize <= 0 {
		c.MaxSize = 10 << 20
	}
	if c.MaxPerPoll <= 0 {
		c.MaxPerPoll = 500
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// RunPOP3 polls the mailbox every c.Every until ctx ends.
func (p *Processor) RunPOP3(ctx context.Context, c POP3Config) {
	c.setDefaults()
	t := time.NewTicker(c.Every)
	defer t.Stop()
	for {
		if n, err := p.PollPOP3(ctx, c); err != nil {
			c.Log.Warn("pop3 poll", "addr", c.Addr, "err", err)
		} else if n > 0 {
			c.Log.Info("pop3 poll", "addr", c.Addr, "messages", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PollPOP3 takes the messages waiting in the mailbox once and returns how
// many it handled. A message is deleted only after it was handled (or
// found not to be mail at all); one that failed for a passing reason (the
// database is away) stays for the next poll. Deletions take effect at
// QUIT, as POP3 has it, so a dropped connection deletes nothing.
func (p *Processor) PollPOP3(ctx context.Context, c POP3Config) (int, error) {
	c.setDefaults()
	d := net.Dialer{Timeout: 30 * time.Second}
	var conn net.Conn
	var err error
	if c.TLS {
		cfg := c.TLSConfig
		if cfg == nil {
			host, _, _ := net.SplitHostPort(c.Addr)
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		conn, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", c.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", c.Addr)
	}
	if err != nil {
		return 0, fmt.Errorf("pop3 dial %s: %w", c.Addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Minute))
	tc := textproto.NewConn(conn)
	if _, err := pop3OK(tc); err != nil {
		return 0, fmt.Errorf("pop3 greeting: %w", err)
	}
	if _, err := pop3Cmd(tc, "USER %s", c.User); err != nil {
		return 0, fmt.Errorf("pop3 login: %w", err)
	}
	if _, err := pop3Cmd(tc, "PASS %s", c.Password); err != nil {
		return 0, fmt.Errorf("pop3 login: %w", err)
	}
	stat, err := pop3Cmd(tc, "STAT")
	if err != nil {
		return 0, fmt.Errorf("pop3 stat: %w", err)
	}
	count, _ := strconv.Atoi(strings.Fields(stat + " 0")[0])
	handled := 0
	for i := 1; i <= min(count, c.MaxPerPoll) && ctx.Err() == nil; i++ {
		list, err := pop3Cmd(tc, "LIST %d", i)
		if err != nil {
			return handled, fmt.Errorf("pop3 list %d: %w", i, err)
		}
		var size int64
		if f := strings.Fields(list); len(f) == 2 {
			size, _ = strconv.ParseInt(f[1], 10, 64)
		}
		if size > c.MaxSize {
			c.Log.Warn("pop3: message too large, deleted unread", "size", size)
			if _, err := pop3Cmd(tc, "DELE %d", i); err != nil {
				return handled, fmt.Errorf("pop3 dele %d: %w", i, err)
			}
			continue
		}
		if _, err := pop3Cmd(tc, "RETR %d", i); err != nil {
			return handled, fmt.Errorf("pop3 retr %d: %w", i, err)
		}
		raw, err := io.ReadAll(io.LimitReader(tc.DotReader(), c.MaxSize+1))
		if err != nil {
			return handled, fmt.Errorf("pop3 retr %d: %w", i, err)
		}
		// The envelope is gone by now; Handle finds the token in the
		// Delivered-To/To headers and the returned message.
		_, herr := p.Handle(ctx, nil, bytes.NewReader(raw))
		if herr != nil && !errors.Is(herr, ErrNotMail) {
			c.Log.Warn("pop3: message kept for the next poll", "err", herr)
			continue
		}
		if _, err := pop3Cmd(tc, "DELE %d", i); err != nil {
			return handled, fmt.Errorf("pop3 dele %d: %w", i, err)
		}
		handled++
	}
	if _, err := pop3Cmd(tc, "QUIT"); err != nil {
		return handled, fmt.Errorf("pop3 quit: %w", err)
	}
	return handled, nil
}

func pop3Cmd(tc *textproto.Conn, format string, args ...any) (string, error) {
	if err := tc.PrintfLine(format, args...); err != nil {
		return "", err
	}
	return pop3OK(tc)
}

// pop3OK reads one status line: "+OK text" or "-ERR text".
func pop3OK(tc *textproto.Conn) (string, error) {
	line, err := tc.ReadLine()
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(line, "+OK"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("server said %q", line)
}
