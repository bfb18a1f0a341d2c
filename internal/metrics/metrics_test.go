package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDKIMFallbacksAreReadAtScrape: the counter shows what the function
// returns when /metrics is read, not when it was registered.
func TestDKIMFallbacksAreReadAtScrape(t *testing.T) {
	m := New()
	var n atomic.Int64
	if err := m.DKIMFallbacks(n.Load); err != nil {
		t.Fatal(err)
	}
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	if !strings.Contains(scrape(), "\nutskick_dkim_libcrypto_fallbacks_total 0\n") {
		t.Fatalf("no zero counter:\n%s", scrape())
	}
	n.Store(3)
	if out := scrape(); !strings.Contains(out, "\nutskick_dkim_libcrypto_fallbacks_total 3\n") {
		t.Fatalf("the counter did not follow the function:\n%s", out)
	}
}
