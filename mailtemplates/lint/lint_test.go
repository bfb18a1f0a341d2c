package lint_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/lint"
)

// fakeDNS answers TXT lookups from a map; a name not in it is NXDOMAIN,
// a name mapped to nil fails as if the server were unreachable.
type fakeDNS map[string][]string

func (f fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	txt, ok := f[name]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	if txt == nil {
		return nil, &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true}
	}
	return txt, nil
}

const dkimRecord = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

func goodDNS() fakeDNS {
	return fakeDNS{
		"utskick._domainkey.example.se": {dkimRecord},
		"example.se":                    {"v=spf1 mx include:_spf.example.net -all", "google-site-verification=x"},
		"_dmarc.example.se":             {"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.se"},
	}
}

var goodKey = &lint.DKIMKey{Domain: "example.se", Selector: "utskick", Record: dkimRecord}

const unsub = "https://nyhetsbrev.example.se/unsubscribe/abc234"

// postalAddress is the sender's address every rendered message shows.
const postalAddress = "Förbundet, Box 1, 111 11 Stockholm"

// render writes body as one recipient's message with the built-in layout
// (or layout), From nyhetsbrev@example.se.
func render(t *testing.T, subject, body string, layout *mailtemplates.Layout) []byte {
	t.Helper()
	tm, err := mailtemplates.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := tm.CompileCampaign(context.Background(), mailtemplates.CampaignInput{Subject: subject, Body: body, Layout: layout,
		From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}, ListName: "Senaste nytt", ListID: "sn.example.se", Org: "Förbundet",
		PostalAddress: postalAddress, Contact: "Frågor: 08-123 45 67"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c.WriteMessage(&buf, &mailtemplates.Recipient{Email: "anna@example.org", Name: "Anna", UnsubscribeURL: unsub,
		PreferencesURL: "https://nyhetsbrev.example.se/preferences/x", MessageID: "m@example.se", Date: time.Now()}, mailtemplates.WriteOptions{})
	return buf.Bytes()
}

func seedIssue(t *testing.T) (string, string) {
	b, err := os.ReadFile("../testdata/issues/senaste-nytt-mars.md")
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(b), "\n\n")
	return strings.TrimPrefix(strings.SplitN(head, "\n", 2)[0], "Subject: "), body
}

func codes(r lint.Report) map[string]lint.Finding {
	m := map[string]lint.Finding{}
	for _, f := range r.Findings {
		m[f.Code] = f
	}
	return m
}

func TestSeedIssueIsClean(t *testing.T) {
	subj, body := seedIssue(t)
	c := &lint.Checker{Resolver: goodDNS()}
	r := c.Check(context.Background(), lint.Input{Message: render(t, subj, body, nil), UnsubscribeURL: unsub,
		ReturnPath: "bounces@example.se", DKIM: goodKey, PostalAddress: postalAddress})
	if r.Blocking || len(r.Findings) != 0 {
		t.Fatalf("findings on a good issue: %+v", r.Findings)
	}
	if r.HTMLBytes < 20_000 || r.MessageBytes <= r.HTMLBytes {
		t.Fatalf("sizes: html %d, message %d", r.HTMLBytes, r.MessageBytes)
	}
}

func TestContentFindings(t *testing.T) {
	body := "Text före.\n\n![](https://example.se/utan-alt.jpg)\n\n" +
		"[Klicka här](https://example.se/a) eller [här!](https://example.se/b).\n\n" +
		"[Gammal sida](http://example.se/gammal) och [trasig](https:///ingen-vard) och [tom](#).\n"
	c := &lint.Checker{}
	r := c.Check(context.Background(), lint.Input{Message: render(t, "DET HÄR ÄR ETT VÄLDIGT VIKTIGT UTSKICK SOM NI MÅSTE LÄSA NU!!", body, nil),
		UnsubscribeURL: unsub, DKIM: goodKey, ReturnPath: "b@example.se"})
	got := codes(r)
	for _, want := range []string{"missing_alt", "vague_link_text", "insecure_link", "broken_link", "long_subject", "shouty_subject"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no %s finding in %+v", want, r.Findings)
		}
	}
	if n := strings.Count(strings.Join(func() []string {
		var s []string
		for _, f := range r.Findings {
			s = append(s, f.Code)
		}
		return s
	}(), " "), "vague_link_text"); n != 2 {
		t.Errorf("%d vague link findings, want 2 (Klicka här, här!)", n)
	}
	if r.Blocking {
		t.Error("advice blocked sending")
	}
}

func TestImageOnlyAndGmailClip(t *testing.T) {
	c := &lint.Checker{}
	r := c.Check(context.Background(), lint.Input{Message: render(t, "Affisch", "![Affisch för höstens konferens](https://example.se/affisch.jpg)", nil), UnsubscribeURL: unsub})
	if _, ok := codes(r)["image_heavy"]; !ok {
		t.Errorf("image-only mail not flagged: %+v", r.Findings)
	}
	// Paragraphs, as a long issue has them (one 138,000-character line
	// is refused as a body since issue 10).
	big := strings.Repeat(strings.Repeat("Ett stycke text som upprepas för att göra utskicket stort och långt. ", 20)+"\n\n", 100)
	r = c.Check(context.Background(), lint.Input{Message: render(t, "Stort", big, nil), UnsubscribeURL: unsub})
	if f, ok := codes(r)["gmail_clip"]; !ok || r.HTMLBytes <= lint.GmailClipBytes {
		t.Errorf("%d byte HTML part: %+v", r.HTMLBytes, f)
	}
}

func TestMissingUnsubscribeBlocks(t *testing.T) {
	tm, _ := mailtemplates.New()
	// A layout saved before validation existed, or edited in the database:
	// ParseLayout does not check it, so the lint must.
	l, err := tm.ParseLayout("bad", `<html lang="sv"><body>{{.Content}}<p>Hej då</p></body></html>`, mailtemplates.ThemeColors{})
	if err != nil {
		t.Fatal(err)
	}
	subj, body := seedIssue(t)
	r := (&lint.Checker{}).Check(context.Background(), lint.Input{Message: render(t, subj, body, l), UnsubscribeURL: unsub})
	f, ok := codes(r)["missing_unsubscribe"]
	if !ok || !f.Blocking || !r.Blocking || r.Findings[0].Code != "missing_unsubscribe" {
		t.Fatalf("want a blocking missing_unsubscribe first: %+v", r.Findings)
	}
	// Headers gone too.
	msg := render(t, subj, body, nil)
	msg = bytes.Replace(msg, []byte("List-Unsubscribe-Post:"), []byte("X-Removed:"), 1)
	r = (&lint.Checker{}).Check(context.Background(), lint.Input{Message: msg, UnsubscribeURL: unsub})
	if !r.Blocking {
		t.Fatal("missing List-Unsubscribe-Post does not block")
	}
}

func TestAuthenticationChecks(t *testing.T) {
	subj, body := seedIssue(t)
	msg := render(t, subj, body, nil)
	tests := []struct {
		name string
		dns  fakeDNS
		key  *lint.DKIMKey
		rp   string
		want map[string]string // code → severity
	}{
		{"no dkim", goodDNS(), nil, "b@example.se", map[string]string{"dkim_off": lint.Warning}},
		{"dns missing", fakeDNS{}, goodKey, "b@example.se", map[string]string{"dkim_dns_missing": lint.Warning, "spf_missing": lint.Warning, "dmarc_missing": lint.Warning}},
		{"dns down", fakeDNS{"utskick._domainkey.example.se": nil, "example.se": nil, "_dmarc.example.se": nil}, goodKey, "b@example.se",
			map[string]string{"dkim_unchecked": lint.Info, "spf_unchecked": lint.Info, "dmarc_unchecked": lint.Info}},
		{"key mismatch", func() fakeDNS {
			d := goodDNS()
			d["utskick._domainkey.example.se"] = []string{"v=DKIM1; k=ed25519; p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
			return d
		}(), goodKey, "b@example.se", map[string]string{"dkim_dns_mismatch": lint.Error}},
		{"not aligned, dmarc quarantine", func() fakeDNS {
			d := goodDNS()
			d["utskick._domainkey.mailer.example.net"] = []string{dkimRecord}
			d["mailer.example.net"] = []string{"v=spf1 -all"}
			return d
		}(), &lint.DKIMKey{Domain: "mailer.example.net", Selector: "utskick", Record: dkimRecord}, "b@mailer.example.net",
			map[string]string{"dkim_not_aligned": lint.Warning, "spf_not_aligned": lint.Info, "dmarc_fail": lint.Error}},
		{"subdomain aligns", func() fakeDNS {
			d := goodDNS()
			d["utskick._domainkey.news.example.se"] = []string{dkimRecord}
			d["news.example.se"] = []string{"v=spf1 -all"}
			return d
		}(), &lint.DKIMKey{Domain: "news.example.se", Selector: "utskick", Record: dkimRecord}, "b@news.example.se", map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := (&lint.Checker{Resolver: tc.dns}).Check(context.Background(), lint.Input{Message: msg, UnsubscribeURL: unsub, ReturnPath: tc.rp, DKIM: tc.key,
				PostalAddress: postalAddress})
			got := codes(r)
			if len(got) != len(tc.want) {
				t.Errorf("findings %+v, want %v", r.Findings, tc.want)
			}
			for code, sev := range tc.want {
				if f, ok := got[code]; !ok || f.Severity != sev {
					t.Errorf("%s: got %+v, want severity %s", code, f, sev)
				}
			}
			if r.Blocking {
				t.Error("authentication advice blocked sending")
			}
		})
	}
}

func TestLinkFetchingIsOptional(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/head-not-allowed":
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusMethodNotAllowed)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	body := "[Bra](" + srv.URL + "/ok), [bara GET](" + srv.URL + "/head-not-allowed) och [borta](" + srv.URL + "/borta)."
	msg := render(t, "Länkar", body, nil)
	in := lint.Input{Message: msg, UnsubscribeURL: unsub}
	if _, ok := codes((&lint.Checker{}).Check(context.Background(), in))["broken_link"]; ok {
		t.Fatal("links were fetched without an HTTP client")
	}
	// The only client is the test server's: nothing leaves loopback, and
	// the footer's example.se links fail to connect.
	client := srv.Client()
	client.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			return nil, errors.New("test: only loopback")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	r := (&lint.Checker{HTTP: client}).Check(context.Background(), in)
	var broken []string
	for _, f := range r.Findings {
		if f.Code == "broken_link" {
			broken = append(broken, f.Message)
		}
	}
	if len(broken) != 1 || !strings.Contains(broken[0], "/borta answers 404") {
		t.Fatalf("broken links %q", broken)
	}
}

// TestPostalAddressIsRequiredAndShown: marketing mail must say where the
// sender can be reached. No address set is a warning; an address set but
// left out by a staff layout is one too; the built-in layout shows it in
// both parts and is clean.
func TestPostalAddressIsRequiredAndShown(t *testing.T) {
	subj, body := seedIssue(t)
	msg := render(t, subj, body, nil)
	check := func(in lint.Input) map[string]lint.Finding {
		in.Message, in.UnsubscribeURL = msg, unsub
		return codes((&lint.Checker{}).Check(context.Background(), in))
	}
	if f, ok := check(lint.Input{})["no_postal_address"]; !ok || f.Severity != lint.Warning {
		t.Errorf("no postal address set: want a no_postal_address warning, got %+v", f)
	}
	got := check(lint.Input{PostalAddress: postalAddress})
	if _, ok := got["no_postal_address"]; ok {
		t.Error("no_postal_address although one is set")
	}
	if _, ok := got["postal_address_not_shown"]; ok {
		t.Error("the built-in layout does not show the postal address in both parts")
	}
	if _, ok := check(lint.Input{PostalAddress: "Någon annanstans 5, 222 22 Lund"})["postal_address_not_shown"]; !ok {
		t.Error("an address the mail does not show passes")
	}
}

// TestAnImageTheLibraryNoLongerServesBlocks: an image source the lookup
// says is gone is a blocking missing_image naming its URL, asked once per
// source; other images and a lookup that fails are no finding.
func TestAnImageTheLibraryNoLongerServesBlocks(t *testing.T) {
	gone := "https://nyhetsbrev.example.se/media/7/karta.png"
	body := "Text om kartan.\n\n![Karta](" + gone + ")\n\n![Igen](" + gone + ")\n\n![Logga](https://nyhetsbrev.example.se/media/8/logga.png)\n\n![Fel](https://nyhetsbrev.example.se/media/9/fel.png)\n"
	asked := map[string]int{}
	c := &lint.Checker{ImageGone: func(_ context.Context, src string) (bool, error) {
		asked[src]++
		if strings.Contains(src, "/9/") {
			return true, errors.New("database down")
		}
		return src == gone, nil
	}}
	r := c.Check(context.Background(), lint.Input{Message: render(t, "Kartor", body, nil), UnsubscribeURL: unsub})
	var found []lint.Finding
	for _, f := range r.Findings {
		if f.Code == "missing_image" {
			found = append(found, f)
		}
	}
	if len(found) != 1 || !found[0].Blocking || found[0].Severity != lint.Error || found[0].Params["url"] != gone || !strings.Contains(found[0].Message, gone) || !r.Blocking {
		t.Fatalf("want one blocking missing_image for %s: %+v", gone, r.Findings)
	}
	if asked[gone] != 1 || len(asked) != 3 {
		t.Errorf("lookups: %v", asked)
	}
	if r := (&lint.Checker{}).Check(context.Background(), lint.Input{Message: render(t, "Kartor", body, nil), UnsubscribeURL: unsub}); r.Blocking {
		t.Errorf("without a lookup nothing is gone: %+v", r.Findings)
	}
}

func TestSentenceIsTheAPIWordingAsAPageSentence(t *testing.T) {
	for key, want := range map[string]string{
		"no_subject":         "The subject is empty.",
		"broken_link.status": "Link {url} answers {status}",
		"gmail_clip":         "The HTML part is {kb} KB; Gmail clips messages over 102 KB and hides the rest, footer included. Shorten the issue or link to the archive.",
		"no-such-finding":    "",
	} {
		if got := lint.Sentence(key); got != want {
			t.Errorf("Sentence(%q) = %q, want %q", key, got, want)
		}
	}
}
