package outbound_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/storsthlm/utskick/internal/outbound"
)

// fakeDNS answers from a map; other names do not exist. Tests reach
// only 127.0.0.1, whatever name they use.
type fakeDNS map[string][]netip.Addr

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

var loopback = []netip.Addr{netip.MustParseAddr("127.0.0.1")}

// target is an HTTP server on loopback that counts the requests it gets.
func target(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64, string) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return srv, &hits, u.Port()
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

func wantBlocked(t *testing.T, err error, kind string) {
	t.Helper()
	var be *outbound.BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("err %v, want a refused address", err)
	}
	if !strings.HasPrefix(be.Kind, kind) {
		t.Fatalf("refused as %q, want %q", be.Kind, kind)
	}
}

func TestLoopbackTargetIsRefusedBeforeConnecting(t *testing.T) {
	srv, hits, port := target(t, ok)
	g := outbound.New(outbound.Config{Resolver: fakeDNS{"intranet.example.se": loopback}})
	for _, u := range []string{
		srv.URL,                               // 127.0.0.1 as a literal
		"http://intranet.example.se:" + port,  // a name that resolves to it (and is not allowed)
		"http://[::ffff:127.0.0.1]:" + port,   // the same, IPv4-mapped
		"http://localhost:" + port + "/probe", // no such name in fakeDNS: refused or unknown, never fetched
	} {
		resp, err := g.Client().Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s: %s, want an error", u, resp.Status)
		}
		if !strings.Contains(u, "localhost") {
			wantBlocked(t, err, "loopback")
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback server got %d requests, want 0", n)
	}
	if err := g.CheckURL(context.Background(), "http://intranet.example.se/hook"); err == nil {
		t.Fatal("CheckURL: a name resolving to loopback passed")
	}
}

func TestAllowedHostMayBePrivate(t *testing.T) {
	_, hits, port := target(t, ok)
	g := outbound.New(outbound.Config{AllowHosts: []string{"Hooks.Internal."},
		Resolver: fakeDNS{"hooks.internal": loopback}})
	resp, err := g.Client().Get("http://hooks.internal:" + port + "/utskick")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || hits.Load() != 1 {
		t.Fatalf("status %d, hits %d", resp.StatusCode, hits.Load())
	}
	if err := g.CheckURL(context.Background(), "http://hooks.internal/x"); err != nil {
		t.Fatalf("CheckURL of an allowed host: %v", err)
	}
}

func TestRedirectToAPrivateAddressIsRefused(t *testing.T) {
	var port string
	_, hits, port := target(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-literal":
			http.Redirect(w, r, "http://127.0.0.1:"+port+"/secret", http.StatusFound)
		case "/to-name":
			http.Redirect(w, r, "http://rebind.example.se:"+port+"/secret", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	g := outbound.New(outbound.Config{AllowHosts: []string{"hooks.internal"},
		Resolver: fakeDNS{"hooks.internal": loopback, "rebind.example.se": loopback}})
	for path, kind := range map[string]string{"/to-literal": "loopback", "/to-name": "loopback", "/to-metadata": "link-local"} {
		hits.Store(0)
		resp, err := g.Client().Get("http://hooks.internal:" + port + path)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: followed to %s", path, resp.Request.URL)
		}
		wantBlocked(t, err, kind)
		if n := hits.Load(); n != 1 {
			t.Fatalf("%s: %d requests reached the server, want only the first", path, n)
		}
	}
}

func TestBlockedRanges(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1":        "loopback",
		"127.8.9.10":       "loopback",
		"::1":              "loopback",
		"::ffff:127.0.0.1": "loopback",
		"10.1.2.3":         "private",
		"172.16.0.1":       "private",
		"172.31.255.255":   "private",
		"192.168.1.1":      "private",
		"100.64.0.1":       "shared (CGNAT)",
		"100.100.100.200":  "shared (CGNAT)",
		"169.254.169.254":  "link-local (cloud metadata)",
		"fe80::1%eth0":     "link-local",
		"fd00:ec2::254":    "unique-local (cloud metadata fd00:ec2::254)",
		"fc00::1":          "unique-local (cloud metadata fd00:ec2::254)",
		"224.0.0.1":        "multicast",
		"ff02::1":          "multicast",
		"0.0.0.0":          "unspecified",
		"::":               "unspecified",
		"255.255.255.255":  "reserved",
		"64:ff9b::a00:1":   "private", // NAT64 of 10.0.0.1
		"8.8.8.8":          "",
		"172.32.0.1":       "",
		"100.128.0.1":      "",
		"2a00:1450:4010::": "",
		"64:ff9b::808:808": "", // NAT64 of 8.8.8.8
	} {
		if got := outbound.Blocked(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Blocked(%s) = %q, want %q", addr, got, want)
		}
	}
}
