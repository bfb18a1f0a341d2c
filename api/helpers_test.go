package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/internal/outbound"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// fakeDNS answers the lint's TXT lookups from a map; other names do not
// exist.
type fakeDNS map[string][]string

func (f fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := f[name]; ok {
		return txt, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// testDNS answers the outbound guard without the network: names under
// .internal are on loopback (127.0.0.1, where test servers listen),
// intranet.example.se is private, every other name a public address.
type testDNS struct{}

func (testDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	switch {
	case strings.HasSuffix(host, ".internal"):
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	case host == "intranet.example.se":
		return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
}

// testServer is the whole app on a real SQLite file and an embedded Redis.
type testServer struct {
	t     *testing.T
	st    *store.Store
	srv   *checkedServer // the app, checked against the OpenAPI document
	token string
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	rd, err := queue.Open(ctx, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	tm, err := mailtemplates.New()
	if err != nil {
		t.Fatal(err)
	}
	sg, _ := links.NewSigner([]byte("test secret key, 32 bytes long!!"))
	ccfg := compose.Config{BaseURL: "https://nyhetsbrev.example.se", From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}}
	srv, err := api.New(api.Deps{
		Store: st, Queue: queue.Client{C: asynq.NewClientFromRedisClient(rd.Client)},
		Composer: compose.New(ccfg, tm, sg), Templates: tm, Signer: sg,
		Site: api.Site{BaseURL: "https://nyhetsbrev.example.se", Org: "Förbundet"},
		Checks: api.Checks{
			Resolver: fakeDNS{"example.se": {"v=spf1 mx -all"}, "_dmarc.example.se": {"v=DMARC1; p=none"}},
			Outbound: outbound.New(outbound.Config{Resolver: testDNS{}}),
		},
		Now: time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := store.NewTokenSecret()
	if _, err := st.CreateToken(ctx, "test", store.RoleAdmin, secret); err != nil {
		t.Fatal(err)
	}
	cs := conform(t, srv)
	cs.st = st
	return &testServer{t: t, st: st, srv: cs, token: secret}
}

// do sends a request through the whole app; body is JSON-encoded unless
// it is nil.
func (ts *testServer) do(method, path string, body any) *httptest.ResponseRecorder {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+ts.token)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	return rec
}

// want checks the status and decodes the JSON body into v (if not nil).
func want(t *testing.T, rec *httptest.ResponseRecorder, code int, v any) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d: %s", rec.Code, code, rec.Body.String())
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("decode %s: %v", rec.Body.String(), err)
		}
	}
}

// wantField checks a 400 naming field.
func wantField(t *testing.T, rec *httptest.ResponseRecorder, field string) string {
	t.Helper()
	var e struct{ Error, Field string }
	want(t, rec, http.StatusBadRequest, &e)
	if e.Field != field {
		t.Fatalf("field %q (%s), want %q", e.Field, e.Error, field)
	}
	return e.Error
}

type httptestRecorder = httptest.ResponseRecorder

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
