package inbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPDelete is the IMAPConfig.Processed value that deletes handled mail
// instead of moving it to a folder.
const IMAPDelete = "delete"

// IMAPConfig says which IMAP mailbox to poll for bounces and complaints,
// for a bounce domain whose mail lands in a mailbox that only offers IMAP.
type IMAPConfig struct {
	Addr     string // host:port
	TLS      bool   // implicit TLS (imaps, port 993)
	StartTLS bool   // plain connection upgraded with STARTTLS (imap:// to a non-loopback host)
	User     string
	Password string
	Mailbox  string // polled folder; default INBOX
	// Processed is the folder handled mail is moved to, created when
	// missing, or IMAPDelete to delete it. Moving is the default: the
	// mailbox keeps what utskick acted on, for an operator to look at and
	// for the mailbox's own retention rules to clear.
	Processed  string
	Every      time.Duration // between polls; default 1m
	MaxSize    int64         // larger messages are put away unread; default 10 MiB
	MaxPerPoll int           // messages taken per poll; default 500
	Log        *slog.Logger
	// TLSConfig overrides the TLS settings (tests); nil verifies the
	// server's certificate for the host in Addr.
	TLSConfig *tls.Config
}

// DefaultIMAPProcessed is the folder handled mail goes to by default. A
// top-level name, since servers differ in their hierarchy delimiter.
const DefaultIMAPProcessed = "utskick-processed"

// ParseIMAPURL reads imaps://user:pass@host[:993][/folder] or
// imap://user:pass@host[:143][/folder]. imap:// upgrades the connection
// with STARTTLS, except to a server on loopback; the password never goes
// out in clear text. The folder defaults to INBOX; user, password and
// folder are URL-encoded.
func ParseIMAPURL(v string) (IMAPConfig, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "imap" && u.Scheme != "imaps") || u.Hostname() == "" || u.User == nil || u.User.Username() == "" {
		return IMAPConfig{}, errors.New("want imaps://user:password@host:993/INBOX")
	}
	c := IMAPConfig{TLS: u.Scheme == "imaps", User: u.User.Username(), Processed: DefaultIMAPProcessed}
	c.Password, _ = u.User.Password()
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "993", false: "143"}[c.TLS]
	}
	c.Addr = net.JoinHostPort(u.Hostname(), port)
	if !c.TLS {
		ip := net.ParseIP(u.Hostname())
		c.StartTLS = u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback())
	}
	c.Mailbox = strings.Trim(u.Path, "/")
	if u.RawQuery != "" || u.Fragment != "" {
		return IMAPConfig{}, errors.New("want imaps://user:password@host:993/INBOX without a query")
	}
	return c, nil
}

func (c *IMAPConfig) setDefaults() {
	if c.Mailbox == "" {
		c.Mailbox = "INBOX"
	}
	if c.Processed == "" {
		c.Processed = DefaultIMAPProcessed
	}
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

// RunIMAP polls the mailbox every c.Every until ctx ends.
func (p *Processor) RunIMAP(ctx context.Context, c IMAPConfig) {
	c.setDefaults()
	t := time.NewTicker(c.Every)
	defer t.Stop()
	for {
		if n, err := p.PollIMAP(ctx, c); err != nil {
			c.Log.Warn("imap poll", "addr", c.Addr, "mailbox", c.Mailbox, "err", err)
		} else if n > 0 {
			c.Log.Info("imap poll", "addr", c.Addr, "mailbox", c.Mailbox, "messages", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// imapPollLimit bounds one poll, so that a server that stops answering
// cannot hold the poller for ever.
const imapPollLimit = 10 * time.Minute

// PollIMAP takes the messages waiting in the mailbox once and returns how
// many it handled. Each message is read without setting \Seen, handled,
// and only then moved to c.Processed (or deleted); one that failed for a
// passing reason (the database is away) stays where it is, unread, for
// the next poll. Messages that are not mail at all, and those larger than
// c.MaxSize (put away unread), are moved too, so that they do not block
// the mailbox. Handling is idempotent, so a message handled just before a
// dropped connection is handled again harmlessly.
func (p *Processor) PollIMAP(ctx context.Context, c IMAPConfig) (int, error) {
	c.setDefaults()
	ctx, cancel := context.WithTimeout(ctx, imapPollLimit)
	defer cancel()
	cl, err := dialIMAP(c)
	if err != nil {
		return 0, fmt.Errorf("imap dial %s: %w", c.Addr, err)
	}
	defer cl.Close()
	// imapclient takes no context: closing the connection ends whatever
	// command is waiting.
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()

	if err := cl.Login(c.User, c.Password).Wait(); err != nil {
		return 0, fmt.Errorf("imap login: %w", err)
	}
	if c.Processed != IMAPDelete {
		if err := cl.Create(c.Processed, nil).Wait(); err != nil && !isIMAPCode(err, imap.ResponseCodeAlreadyExists) {
			// Some servers answer a plain NO for an existing folder; the
			// first move will tell if it is really missing.
			c.Log.Debug("imap create", "folder", c.Processed, "err", err)
		}
	}
	if _, err := cl.Select(c.Mailbox, nil).Wait(); err != nil {
		return 0, fmt.Errorf("imap select %s: %w", c.Mailbox, err)
	}
	found, err := cl.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("imap search: %w", err)
	}
	uids := found.AllUIDs()
	if len(uids) > c.MaxPerPoll {
		uids = uids[:c.MaxPerPoll]
	}
	handled := 0
	for _, uid := range uids {
		if ctx.Err() != nil {
			break
		}
		done, err := p.imapMessage(ctx, cl, c, uid)
		if err != nil {
			return handled, err
		}
		if !done {
			continue
		}
		if err := putAway(cl, c, uid); err != nil {
			return handled, err
		}
		handled++
	}
	if err := cl.Logout().Wait(); err != nil && ctx.Err() == nil {
		return handled, fmt.Errorf("imap logout: %w", err)
	}
	return handled, ctx.Err()
}

// imapMessage fetches and handles one message. done says it may be put
// away; an error means the connection is no longer usable.
func (p *Processor) imapMessage(ctx context.Context, cl *imapclient.Client, c IMAPConfig, uid imap.UID) (bool, error) {
	// Peek so that a message kept for the next poll stays unread, and ask
	// for at most MaxSize+1 bytes so a server cannot make us buffer more.
	section := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: c.MaxSize + 1}}
	msgs, err := cl.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return false, fmt.Errorf("imap fetch uid %d: %w", uid, err)
	}
	if len(msgs) == 0 {
		return false, nil // gone meanwhile: another poller took it
	}
	m := msgs[0]
	raw := m.FindBodySection(section)
	if m.RFC822Size > c.MaxSize || int64(len(raw)) > c.MaxSize {
		c.Log.Warn("imap: message too large, put away unread", "uid", uid, "size", m.RFC822Size)
		return true, nil
	}
	// The envelope is gone by now; Handle finds the token in the
	// Delivered-To/To headers and the returned message.
	_, herr := p.Handle(ctx, nil, bytes.NewReader(raw))
	switch {
	case herr == nil:
		return true, nil
	case errors.Is(herr, ErrNotMail):
		c.Log.Warn("imap: not a mail message, put away", "uid", uid)
		return true, nil
	default:
		c.Log.Warn("imap: message kept for the next poll", "uid", uid, "err", herr)
		return false, nil
	}
}

// putAway moves a handled message to the processed folder, or deletes it.
// Without the MOVE extension go-imap falls back to COPY, STORE \Deleted
// and EXPUNGE (UID EXPUNGE of just this message where UIDPLUS allows).
func putAway(cl *imapclient.Client, c IMAPConfig, uid imap.UID) error {
	set := imap.UIDSetNum(uid)
	if c.Processed != IMAPDelete {
		if _, err := cl.Move(set, c.Processed).Wait(); err != nil {
			return fmt.Errorf("imap move uid %d to %s: %w", uid, c.Processed, err)
		}
		return nil
	}
	if err := cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return fmt.Errorf("imap delete uid %d: %w", uid, err)
	}
	var exp *imapclient.ExpungeCommand
	if cl.Caps().Has(imap.CapUIDPlus) {
		exp = cl.UIDExpunge(set)
	} else {
		exp = cl.Expunge()
	}
	if err := exp.Close(); err != nil {
		return fmt.Errorf("imap expunge uid %d: %w", uid, err)
	}
	return nil
}

func dialIMAP(c IMAPConfig) (*imapclient.Client, error) {
	tc := c.TLSConfig
	if tc == nil {
		host, _, _ := net.SplitHostPort(c.Addr)
		tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	opts := &imapclient.Options{TLSConfig: tc, Dialer: &net.Dialer{Timeout: 30 * time.Second}}
	switch {
	case c.TLS:
		return imapclient.DialTLS(c.Addr, opts)
	case c.StartTLS:
		return imapclient.DialStartTLS(c.Addr, opts)
	default:
		return imapclient.DialInsecure(c.Addr, opts)
	}
}

func isIMAPCode(err error, code imap.ResponseCode) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == code
}
