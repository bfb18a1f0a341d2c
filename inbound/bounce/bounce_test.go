package bounce

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const domain = "nyheter.storsthlm.example"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// toggleLineEndings turns CRLF into LF and LF into CRLF, so that every
// fixture is tested in both line-ending conventions.
func toggleLineEndings(b []byte) []byte {
	if bytes.Contains(b, []byte("\r\n")) {
		return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	}
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		rcpts []string
		want  Report
	}{
		{
			name:  "postfix RFC 3464 hard bounce",
			file:  "postfix_hard.eml",
			rcpts: []string{"bounces+jxsvjwodwoqqkwhcclvukehsyo3vmv7o@" + domain},
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "karin.nilsson@example.org",
				Status:     "5.1.1",
				Diagnostic: "550 5.1.1 <karin.nilsson@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
				MessageID:  "c42.d1001.01j0a7qz9m@nyheter.storsthlm.example",
				Token:      "jxsvjwodwoqqkwhcclvukehsyo3vmv7o",
				Reporter:   "mail.example.org",
			},
		},
		{
			name: "postfix hard bounce over HTTP, token from To",
			file: "postfix_hard.eml",
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "karin.nilsson@example.org",
				Status:     "5.1.1",
				Diagnostic: "550 5.1.1 <karin.nilsson@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
				MessageID:  "c42.d1001.01j0a7qz9m@nyheter.storsthlm.example",
				Token:      "jxsvjwodwoqqkwhcclvukehsyo3vmv7o",
				Reporter:   "mail.example.org",
			},
		},
		{
			name:  "postfix soft bounce, failed with 4.2.2 mailbox full",
			file:  "postfix_soft_mailbox_full.eml",
			rcpts: []string{"bounces+isgeozadxw265xor7fytlin3o2fo3axd@" + domain},
			want: Report{
				Kind:       KindSoftBounce,
				Recipient:  "lars.berg@example.net",
				Status:     "4.2.2",
				Diagnostic: "452 4.2.2 <lars.berg@example.net>: Mailbox full",
				MessageID:  "c43.d2002.01j0b9xk2c@nyheter.storsthlm.example",
				Token:      "isgeozadxw265xor7fytlin3o2fo3axd",
				Reporter:   "smtp.example.net",
			},
		},
		{
			name:  "postfix delayed DSN",
			file:  "postfix_delayed.eml",
			rcpts: []string{"bounces+mbd6al2pac4ekzbmfnkzh5aj44j6qalq@" + domain},
			want: Report{
				Kind:       KindDelayed,
				Recipient:  "sven.holm@example.com",
				Status:     "4.4.1",
				Diagnostic: "connect to mx.example.com[192.0.2.9]:25: Connection timed out",
				MessageID:  "c43.d2107.01j0bb4m7r@nyheter.storsthlm.example",
				Token:      "mbd6al2pac4ekzbmfnkzh5aj44j6qalq",
				Reporter:   "relay.example.com",
			},
		},
		{
			name:  "exchange DSN prefers Original-Recipient",
			file:  "exchange_dsn.eml",
			rcpts: []string{"bounces+qsqdxgazy3avwckjmcwmoqtabqvfxcor@" + domain},
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "lisa@corp.example.com",
				Status:     "5.1.10",
				Diagnostic: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
				MessageID:  "c44.d3003.01j0c2hh5s@nyheter.storsthlm.example",
				Token:      "qsqdxgazy3avwckjmcwmoqtabqvfxcor",
				Reporter:   "EXCH01.corp.example.com",
			},
		},
		{
			name:  "RFC 6533 global delivery status",
			file:  "global_dsn.eml",
			rcpts: []string{"bounces+zgqzlhmsqwfyefnrf4fewmgw5sxlqur5@" + domain},
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "åsa.öberg@exempel.se",
				Status:     "5.1.1",
				Diagnostic: "550 5.1.1 <Åsa.Öberg@exempel.se>: mailbox unavailable",
				MessageID:  "c44.d3119.01j0c2k0aa@nyheter.storsthlm.example",
				Token:      "zgqzlhmsqwfyefnrf4fewmgw5sxlqur5",
				Reporter:   "mx.exempel.se",
			},
		},
		{
			name:  "DSN without Status, 5.2.2 quota in diagnostic is soft",
			file:  "dsn_quota_552.eml",
			rcpts: []string{"bounces+c2gf5lvecjpmo6tgfpjsmj2hgdbiyf63@" + domain},
			want: Report{
				Kind:       KindSoftBounce,
				Recipient:  "mette.nielsen@example.dk",
				Status:     "5.2.2",
				Diagnostic: "552 5.2.2 Mailbox quota exceeded for this recipient",
				Token:      "c2gf5lvecjpmo6tgfpjsmj2hgdbiyf63",
				Reporter:   "mx.example.dk",
			},
		},
		{
			name: "relayed DSN is a success notification",
			file: "dsn_relayed.eml",
			want: Report{Kind: KindUnknown, Token: "zqwtlrmcsm54nod2vzhbwxxuw3mxva2w"},
		},
		{
			name:  "ARF abuse report, token from the returned original",
			file:  "arf_abuse.eml",
			rcpts: []string{"fbl@" + domain},
			want: Report{
				Kind:      KindComplaint,
				Recipient: "birgitta.ek@example.net",
				Diagnostic: "This is an email abuse report for an email message received from IP 198.51.100.7 " +
					"on Sat, 15 Jun 2024 16:02:11 +0000. For more information about this format please see " +
					"https://www.rfc-editor.org/rfc/rfc5965.",
				MessageID:    "c45.d4004.01j0d1ab3x@nyheter.storsthlm.example",
				Token:        "t77lugzj6dkobnvdhpq4kow7c7rfpoox",
				FeedbackType: "abuse",
				Reporter:     "mx3.example.net",
			},
		},
		{
			name: "ARF not-spam is ignored",
			file: "arf_not_spam.eml",
			want: Report{Kind: KindUnknown, Token: "p4tc7sjcp3vcgvp3whyqzf45yppwfepd"},
		},
		{
			name:  "qmail text bounce",
			file:  "qmail.eml",
			rcpts: []string{"bounces+urq7myvsj3r2ftogxcu7flf23m7azlqx@" + domain},
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "olle.svensson@example.net",
				Status:     "5.1.1",
				Diagnostic: "550 5.1.1 <olle.svensson@example.net>... User unknown",
				MessageID:  "c46.d5005.01j0e4mm0p@nyheter.storsthlm.example",
				Token:      "urq7myvsj3r2ftogxcu7flf23m7azlqx",
			},
		},
		{
			name: "exim permanent error",
			file: "exim_permanent.eml",
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "per.ek@example.com",
				Status:     "5.1.1",
				Diagnostic: "550 5.1.1 <per.ek@example.com>: Recipient address rejected: User unknown in local recipient table",
				MessageID:  "c46.d5120.01j0g0h2k7@nyheter.storsthlm.example",
				Token:      "d4bbral3pudiqv62lohuyouy4xyqfjts",
			},
		},
		{
			name: "exim temporary error given up",
			file: "exim_temporary.eml",
			want: Report{
				Kind:       KindSoftBounce,
				Recipient:  "maria.lund@example.com",
				Status:     "4.3.0",
				Diagnostic: "451 4.3.0 Temporary local problem - please try later",
				MessageID:  "c46.d5121.01j0g0h2k8@nyheter.storsthlm.example",
				Token:      "ry7vxgbx4o23pi33ranket4oy5l2junu",
			},
		},
		{
			name: "exim retry time not reached, no code",
			file: "exim_retry.eml",
			want: Report{
				Kind:       KindSoftBounce,
				Recipient:  "jonas.falk@example.org",
				Diagnostic: "retry time not reached for any host for 'example.org' after a long failure period",
				MessageID:  "c46.d5122.01j0g0h2k9@nyheter.storsthlm.example",
				Token:      "7weic2bolt4n6dgwv2tfzp4qny74mqiv",
			},
		},
		{
			name: "exim delay warning",
			file: "exim_delay_warning.eml",
			want: Report{
				Kind:       KindDelayed,
				Recipient:  "eva.strom@example.com",
				Status:     "4.2.2",
				Diagnostic: "452 4.2.2 <eva.strom@example.com>: Mailbox full",
				Token:      "2xewpmxzq76vatyoqewsyevetdy7vskp",
			},
		},
		{
			name: "gmail address not found",
			file: "gmail_not_found.eml",
			want: Report{
				Kind:      KindHardBounce,
				Recipient: "lisa.ek@example.com",
				Status:    "5.1.1",
				Diagnostic: "550 5.1.1 The email account that you tried to reach does not exist. Please try " +
					"double-checking the recipient's email address for typos or unnecessary spaces. " +
					"d2e1a72fcca58-70b0b1a2c3dsi1234b3a.2 - gsmtp",
				MessageID: "c47.d6006.01j0h7r2qn@nyheter.storsthlm.example",
				Token:     "ssink2rx4q2eppmwkyfskxqhetuwjka4",
			},
		},
		{
			name: "exchange NDR text without DSN part",
			file: "exchange_ndr_text.eml",
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "erik.lind@contoso.example",
				Status:     "5.1.1",
				Diagnostic: "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
				MessageID:  "c49.d8008.01j0m2t0gb@nyheter.storsthlm.example",
				Token:      "putsxzk4oa2gn3dluhxtj5zqyxeofutt",
			},
		},
		{
			// "Recipient address rejected: Access denied" under 5.7.1 is the
			// receiver's policy (an access list), not a missing mailbox.
			name: "postfix human part only, latin-1 quoted-printable, 5.7.1 access denied is policy",
			file: "postfix_human_only.eml",
			want: Report{
				Kind:       KindPolicyBounce,
				Recipient:  "göran.ahl@example.org",
				Status:     "5.7.1",
				Diagnostic: "550 5.7.1 <göran.ahl@example.org>: Recipient address rejected: Access denied (in reply to RCPT TO command)",
				MessageID:  "c49.d8100.01j0m2t0gc@nyheter.storsthlm.example",
				Token:      "qxcz73zz4dlwtcbtobve34d6j777jfr7",
			},
		},
		{
			name: "subject-driven failure notice without code is soft",
			file: "failure_notice_nocode.eml",
			want: Report{
				Kind:       KindSoftBounce,
				Recipient:  "britt.sjo@example.info",
				Diagnostic: "Your message to britt.sjo@example.info could not be delivered.",
				Token:      "o52a7tptw3etltqcgjxt24eaoi7nxegu",
			},
		},
		{
			name:  "sendmail DSN without Diagnostic-Code takes it from the human part",
			file:  "sendmail_dsn_no_diag.eml",
			rcpts: []string{"bounces+sneudaihpg56dg2ste327ee2qbq4vu3i@" + domain},
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "anders.wik@example.se",
				Status:     "5.1.1",
				Diagnostic: "550 5.1.1 <anders.wik@example.se>... User unknown",
				MessageID:  "c50.d9009.01j0n8v1hd@nyheter.storsthlm.example",
				Token:      "sneudaihpg56dg2ste327ee2qbq4vu3i",
				Reporter:   "mail.example.se",
			},
		},
		{
			name: "HTML-only base64 Exchange Online NDR with latin-1 subject",
			file: "html_only_ndr.eml",
			want: Report{
				Kind:       KindHardBounce,
				Recipient:  "ingrid.sand@fabrikam.example",
				Status:     "5.1.10",
				Diagnostic: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient ingrid.sand@fabrikam.example not found by SMTP address lookup",
				MessageID:  "c50.d9010.01j0n8v1he@nyheter.storsthlm.example",
				Token:      "rmuwild3tkdftifcslzwk6k2l4gqodai",
			},
		},
		{
			name:  "mailto unsubscribe via SMTP",
			file:  "unsubscribe_mailto.eml",
			rcpts: []string{"unsubscribe+l6iia3q4jdqvfo4irhhwuejq2lnudw7z@" + domain},
			want:  Report{Kind: KindUnsubscribe, Token: "l6iia3q4jdqvfo4irhhwuejq2lnudw7z"},
		},
		{
			name: "mailto unsubscribe via HTTP, token from To",
			file: "unsubscribe_mailto.eml",
			want: Report{Kind: KindUnsubscribe, Token: "l6iia3q4jdqvfo4irhhwuejq2lnudw7z"},
		},
		{
			name:  "swedish out-of-office to a bounces address",
			file:  "ooo_autoreply.eml",
			rcpts: []string{"bounces+f2ix55qkcy52t4vdc3475tst4xqrwfae@" + domain},
			want:  Report{Kind: KindAutoReply, Token: "f2ix55qkcy52t4vdc3475tst4xqrwfae"},
		},
		{
			name: "english automatic reply with bounce-like wording",
			file: "ooo_english.eml",
			want: Report{Kind: KindAutoReply, Token: "e22j4beu2rgaqdc3ekhbn6fkbk5agcqq"},
		},
		{
			name: "truncated multipart",
			file: "truncated_multipart.eml",
			want: Report{
				Kind:       KindSoftBounce,
				Recipient:  "tove.ring@example.org",
				Diagnostic: "I'm sorry to have to inform you that your message could not",
				Token:      "pzik7z4p2rqrpmtkmmeefg57sanjygm7",
			},
		},
	}
	for _, tt := range tests {
		raw := readFixture(t, tt.file)
		for _, variant := range []struct {
			name string
			raw  []byte
		}{{"as stored", raw}, {"line endings toggled", toggleLineEndings(raw)}} {
			t.Run(tt.name+"/"+variant.name, func(t *testing.T) {
				got, err := Parse(bytes.NewReader(variant.raw), tt.rcpts)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if got != tt.want {
					t.Errorf("Parse mismatch\n got: %#v\nwant: %#v", got, tt.want)
				}
			})
		}
	}
}

func TestParseTokenOrder(t *testing.T) {
	const (
		envelopeToken = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		headerToken   = "jxsvjwodwoqqkwhcclvukehsyo3vmv7o"
	)
	raw := string(readFixture(t, "postfix_hard.eml"))
	// Without To and Delivered-To, only the returned header names the token.
	var stripped []string
	for _, line := range strings.SplitAfter(raw, "\n") {
		if strings.HasPrefix(line, "To: bounces+") || strings.HasPrefix(line, "Delivered-To:") {
			continue
		}
		stripped = append(stripped, line)
	}
	withoutAddressed := strings.Join(stripped, "")
	// Only List-Unsubscribe names it.
	listUnsubOnly := strings.Replace(withoutAddressed,
		"Return-Path: <bounces+"+headerToken+"@"+domain+">", "Return-Path: <>", 1)

	tests := []struct {
		name  string
		raw   string
		rcpts []string
		want  string
	}{
		{"envelope wins over header", raw, []string{"postmaster@" + domain, "bounces+" + envelopeToken + "@" + domain}, envelopeToken},
		{"envelope without token falls back to To", raw, []string{"other@" + domain}, headerToken},
		{"returned Return-Path", withoutAddressed, nil, headerToken},
		{"returned List-Unsubscribe", listUnsubOnly, nil, headerToken},
		{"malformed envelope token ignored", withoutAddressed, []string{"bounces+short@" + domain}, headerToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.raw), tt.rcpts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Token != tt.want || got.Kind != KindHardBounce {
				t.Errorf("got Kind %q Token %q, want %q %q", got.Kind, got.Token, KindHardBounce, tt.want)
			}
		})
	}
}

func TestParseUnsubscribeWinsOverContent(t *testing.T) {
	// A DSN that somehow reaches an unsubscribe address is still an
	// unsubscribe: the address, not the content, expresses the intent.
	raw := readFixture(t, "postfix_hard.eml")
	got, err := Parse(bytes.NewReader(raw), []string{"Unsubscribe+L6IIA3Q4JDQVFO4IRHHWUEJQ2LNUDW7Z@" + domain})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Report{Kind: KindUnsubscribe, Token: "l6iia3q4jdqvfo4irhhwuejq2lnudw7z"}
	if got != want {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestParseGarbage(t *testing.T) {
	huge := strings.Repeat("x", maxBytes+1024)
	manyFields := strings.Repeat("X-Filler: abc\r\n", maxBytes/15+100)
	tests := []struct {
		name     string
		raw      string
		wantErr  bool
		wantKind Kind
	}{
		{"empty", "", true, ""},
		{"only blank lines", "\r\n\r\n\n", true, ""},
		{"not a mail", string(readFixture(t, "not_a_mail.eml")), true, ""},
		{"binary", "\x00\x01\x02\xff\xfe: \x00\n\n", true, ""},
		{"header without standard fields", "X-Foo: bar\n\nbody", true, ""},
		{"huge single header field", "Subject: " + huge, false, KindUnknown},
		{"huge folded header field", "Subject: a\n" + strings.Repeat(" b\n", maxBytes/3), false, KindUnknown},
		{"huge number of header fields", "From: a@b.example\r\n" + manyFields, false, KindUnknown},
		{"huge body", "From: a@b.example\n\n" + huge, false, KindUnknown},
		{"boundary storm", "From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; boundary=b\n\n" +
			strings.Repeat("--b\n", maxBytes/4), false, KindUnknown},
		{"deep nesting", nestedMultipart(50), false, KindSoftBounce},
		{"mbox From_ line", "From MAILER-DAEMON Mon Jun 10 12:00:00 2024\nFrom: someone@example.com\n\nhello", false, KindUnknown},
		{"broken base64 and quoted-printable", "From: MAILER-DAEMON@x.example\nSubject: failure notice\nContent-Type: multipart/mixed; boundary=z\n\n" +
			"--z\nContent-Transfer-Encoding: base64\n\n!!!=QUJD=RE\n--z\nContent-Transfer-Encoding: quoted-printable\n\n=ZZ=4=\n--z--\n", false, KindSoftBounce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.raw), nil)
			if tt.wantErr {
				if !errors.Is(err, ErrNotMail) {
					t.Fatalf("Parse error = %v, want ErrNotMail", err)
				}
				if got != (Report{}) {
					t.Errorf("Parse returned %#v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Kind != tt.wantKind {
				t.Errorf("Kind = %q, want %q", got.Kind, tt.wantKind)
			}
			checkReport(t, got)
		})
	}
}

// nestedMultipart builds a bounce nested depth multiparts deep.
func nestedMultipart(depth int) string {
	var sb strings.Builder
	sb.WriteString("From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail Returned to Sender\n")
	for i := range depth {
		sb.WriteString("Content-Type: multipart/mixed; boundary=b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\n\n")
		sb.WriteString("--b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\n")
	}
	sb.WriteString("Content-Type: text/plain\n\nYour message could not be delivered.\n")
	return sb.String()
}

// countingReader yields endless header-like bytes and counts them.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "From: a@b.example\n"[int((r.n+int64(i))%18)]
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestParseReadsAtMostMaxBytes(t *testing.T) {
	r := &countingReader{}
	if _, err := Parse(r, nil); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if r.n > maxBytes {
		t.Errorf("Parse read %d bytes, want at most %d", r.n, maxBytes)
	}
}

type failingReader struct{}

var errBroken = errors.New("connection reset")

func (failingReader) Read([]byte) (int, error) { return 0, errBroken }

func TestParseReaderError(t *testing.T) {
	_, err := Parse(io.MultiReader(strings.NewReader("From: a@b.example\n"), failingReader{}), nil)
	if !errors.Is(err, errBroken) {
		t.Errorf("Parse error = %v, want it to wrap %v", err, errBroken)
	}
	if _, err := Parse(nil, nil); err == nil {
		t.Error("Parse(nil) returned no error")
	}
}

func TestParseDiagnosticBounded(t *testing.T) {
	raw := "From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n" +
		"<a.b@example.com>: 550 5.1.1 " + strings.Repeat("å", 600) + "\x00\x07 tail\n"
	got, err := Parse(strings.NewReader(raw), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkReport(t, got)
	if got.Kind != KindHardBounce || got.Status != "5.1.1" || got.Recipient != "a.b@example.com" {
		t.Errorf("got %#v", got)
	}
	if len(got.Diagnostic) < maxFieldLen-1 {
		t.Errorf("Diagnostic cut too short: %d bytes", len(got.Diagnostic))
	}
}
