// Package outbound is the HTTP client for requests to addresses that
// staff type in: the lint's link check and webhook deliveries. Such a
// client would otherwise be a port scanner for the internal network
// (loopback, the private ranges, the cloud metadata service), so it
// refuses those addresses. The check runs at dial time on the addresses
// DNS returned, which covers redirects and a name that resolves to a
// public address when asked first and a private one later (DNS
// rebinding). Hosts named in Config.AllowHosts may be private.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config tunes a Guard.
type Config struct {
	// AllowHosts are host names (or literal addresses) that may resolve
	// to private addresses: an intranet, a webhook receiver on the same
	// network. Matched case-insensitively against the URL's host.
	AllowHosts []string
	// Resolver answers DNS; nil uses net.DefaultResolver. Tests inject one.
	Resolver Resolver
	// Timeout bounds one request including redirects (default 10s).
	Timeout time.Duration
	// MaxRedirects is how many redirects a request follows (default 5).
	MaxRedirects int
}

// Guard checks destinations and makes the client that uses the check.
type Guard struct {
	allow    map[string]bool
	resolver Resolver
	cfg      Config
	client   *http.Client
}

// New returns a Guard and its client.
func New(cfg Config) *Guard {
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxRedirects <= 0 {
		cfg.MaxRedirects = 5
	}
	g := &Guard{allow: map[string]bool{}, resolver: cfg.Resolver, cfg: cfg}
	for _, h := range cfg.AllowHosts {
		if h = normHost(h); h != "" {
			g.allow[h] = true
		}
	}
	tr := &http.Transport{
		// No proxy from the environment: a proxy would make the
		// connection to the private address on our behalf.
		Proxy:                 nil,
		DialContext:           g.dialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	g.client = &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= cfg.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", cfg.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s: not http(s)", req.URL.Redacted())
			}
			return nil // the dial of the next hop is checked like the first
		},
	}
	return g
}

// Client is the guarded client. It is safe for concurrent use and meant
// to be shared: the lint and the webhook sender use the same one.
func (g *Guard) Client() *http.Client { return g.client }

// BlockedError is a destination the guard refuses.
type BlockedError struct {
	Host string
	Addr netip.Addr
	Kind string // "loopback", "private", "link-local", ...
}

func (e *BlockedError) Error() string {
	if e.Host != "" && e.Host != e.Addr.String() {
		return fmt.Sprintf("%s resolves to %s, a %s address: refused (only allowed hosts may be private)", e.Host, e.Addr, e.Kind)
	}
	return fmt.Sprintf("%s is a %s address: refused (only allowed hosts may be private)", e.Addr, e.Kind)
}

// CheckURL resolves the host of rawURL and returns a *BlockedError if the
// guard would refuse to connect to it. A lookup that fails is returned as
// it is: the caller decides whether an unknown name is an error now (it
// is checked again at every request).
func (g *Guard) CheckURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	host := u.Hostname()
	_, err = g.resolve(ctx, host)
	return err
}

// resolve returns the addresses of host that may be dialled: all of them,
// or a *BlockedError if any is refused. One refused address refuses the
// host: a name that mixes public and private answers is not something a
// newsletter links to, and is how rebinding attacks look.
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	h := normHost(host)
	if a, err := netip.ParseAddr(h); err == nil {
		if kind := Blocked(a); kind != "" && !g.allow[h] {
			return nil, &BlockedError{Host: h, Addr: a.Unmap(), Kind: kind}
		}
		return []netip.Addr{a.Unmap()}, nil
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", h)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: h, IsNotFound: true}
	}
	if !g.allow[h] {
		for _, a := range addrs {
			if kind := Blocked(a); kind != "" {
				return nil, &BlockedError{Host: h, Addr: a.Unmap(), Kind: kind}
			}
		}
	}
	return addrs, nil
}

// dialContext dials the checked addresses themselves, never the name, so
// the address checked is the address connected to.
func (g *Guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	allowed := g.allow[normHost(host)]
	d := &net.Dialer{Timeout: g.cfg.Timeout, KeepAlive: 30 * time.Second,
		// The last word: whatever address the socket is about to
		// connect to is checked once more.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if kind := Blocked(ap.Addr()); kind != "" && !allowed {
				return &BlockedError{Host: normHost(host), Addr: ap.Addr().Unmap(), Kind: kind}
			}
			return nil
		}}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		var be *BlockedError
		if errors.As(err, &be) {
			return nil, be
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func normHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// blockedRanges are the networks no staff-typed URL may reach, with the
// reason given. IPv4-mapped IPv6 addresses are unmapped before the check.
var blockedRanges = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and 255.255.255.255, broadcast
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private (NAT64)"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local (cloud metadata fd00:ec2::254)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Blocked says why a is refused ("" if it is not): loopback, private,
// link-local, CGNAT, unique-local, multicast, unspecified, the cloud
// metadata addresses (169.254.169.254, fd00:ec2::254) and other
// special-purpose ranges. The IPv4 address inside an IPv4-mapped or a
// NAT64 (64:ff9b::/96) IPv6 address is judged as itself.
func Blocked(a netip.Addr) string {
	a = a.Unmap().WithZone("") // a prefix never contains an address with a zone
	if a.Is6() && netip.MustParsePrefix("64:ff9b::/96").Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	if !a.IsValid() {
		return "invalid"
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(a) {
			return r.kind
		}
	}
	return ""
}
