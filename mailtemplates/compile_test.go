package mailtemplates

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testTemplates(t testing.TB) *Templates {
	t.Helper()
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tm.nonce = func() string { return "0123456789ab" }
	return tm
}

func testRecipient(lang string) *Recipient {
	return &Recipient{
		Email: "anna.svensson@example.se", Name: "Anna Svensson", Language: lang,
		Attributes:        map[string]any{"kommun": "Järfälla"},
		UnsubscribeURL:    "https://nyhetsbrev.example.se/unsubscribe/abc234",
		UnsubscribeMailto: "mailto:unsubscribe+abc234@nyhetsbrev.example.se",
		PreferencesURL:    "https://nyhetsbrev.example.se/preferences/def567",
		MessageID:         "d1.c7.x@nyhetsbrev.example.se",
		Date:              time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC),
	}
}

func compileFile(t testing.TB, tm *Templates, path string) *Compiled {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tm.CompileCampaign(context.Background(), CampaignInput{
		Subject: "Senaste nytt för {{ attr.kommun }} – november", Preheader: "Nyheter från förbundet",
		Body: string(body), From: mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"},
		ListName: "Senaste nytt", ListID: "senaste-nytt.nyhetsbrev.example.se", Org: "Förbundet",
		Headers: []Header{{"Precedence", "bulk"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./mailtemplates -update and review the diff", name)
	}
}

// parseMessage decodes a written message into its parts.
func parseMessage(t *testing.T, raw []byte) (*mail.Message, string, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", mt, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	return m, parts["text/plain"], parts["text/html"]
}

func TestCampaignMessageGolden(t *testing.T) {
	tm := testTemplates(t)
	c := compileFile(t, tm, "testdata/basic.md")
	for _, lang := range []string{"sv", "en"} {
		t.Run(lang, func(t *testing.T) {
			r := testRecipient(lang)
			var buf bytes.Buffer
			c.WriteMessage(&buf, r, WriteOptions{})
			golden(t, "basic."+lang+".eml.golden", buf.Bytes())

			m, text, htmlPart := parseMessage(t, buf.Bytes())
			crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
			if htmlPart != crlf(c.HTML(r)) {
				t.Error("decoded HTML part differs from HTML()")
			}
			if text != crlf(c.Text(r)) {
				t.Error("decoded text part differs from Text()")
			}
			dec := new(mime.WordDecoder)
			subj, _ := dec.DecodeHeader(m.Header.Get("Subject"))
			if subj != "Senaste nytt för Järfälla – november" {
				t.Errorf("subject %q", subj)
			}
			for _, want := range []string{"Hej Anna!", "Järfälla", "https://nyhetsbrev.example.se/unsubscribe/abc234"} {
				if !strings.Contains(htmlPart, want) || !strings.Contains(text, want) {
					t.Errorf("%q missing from a part", want)
				}
			}
			if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
				t.Error("List-Unsubscribe-Post missing")
			}
			if !strings.Contains(m.Header.Get("List-Unsubscribe"), "<mailto:unsubscribe+abc234@nyhetsbrev.example.se>") {
				t.Errorf("List-Unsubscribe %q", m.Header.Get("List-Unsubscribe"))
			}
			for _, line := range bytes.Split(buf.Bytes(), []byte("\r\n")) {
				if len(line) > 78 {
					t.Errorf("line longer than 78: %q", line)
				}
			}
		})
	}
}

func TestPlaceholderValuesAreEscaped(t *testing.T) {
	tm := testTemplates(t)
	c, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: "Hej {{name}}", Body: "Hej {{ name }}! [profil](https://example.se/p?n={{name}})",
		From: mail.Address{Address: "a@example.se"}, ListName: "L", Org: "O"})
	if err != nil {
		t.Fatal(err)
	}
	r := testRecipient("sv")
	r.Name = `<script>alert("x")</script> & "Bob"` + "\r\nBcc: evil@example.com"
	htmlPart := c.HTML(r)
	if strings.Contains(htmlPart, "<script>") {
		t.Fatal("name injected markup")
	}
	if !strings.Contains(htmlPart, "&lt;script&gt;") {
		t.Fatal("name not shown escaped")
	}
	if !strings.Contains(htmlPart, `href="https://example.se/p?n=%3Cscript%3E`) {
		t.Fatalf("name in URL not query-escaped:\n%s", htmlPart)
	}
	var buf bytes.Buffer
	c.WriteMessage(&buf, r, WriteOptions{})
	m, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Bcc") != "" {
		t.Fatal("a name with a line break added a header")
	}
}

func TestUnknownPlaceholderIsRejected(t *testing.T) {
	tm := testTemplates(t)
	tests := []struct{ field, subject, body, want string }{
		{"body", "s", "Hej {{ nmae }}", "nmae"},
		{"subject", "Hej {{ foo.bar }}", "b", "foo.bar"},
		{"body", "s", "Hej {{ name", "not closed"},
		{"body", "s", "Hej {{ name | upper }}", "default"},
		{"body", "s", "Hej {{ attr.bad key }}", "attribute"},
	}
	for _, tc := range tests {
		_, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: tc.subject, Body: tc.body, ListName: "L"})
		var pe *PlaceholderError
		if !errors.As(err, &pe) || pe.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("subject %q body %q: err %v, want PlaceholderError in %s mentioning %q", tc.subject, tc.body, err, tc.field, tc.want)
		}
	}
}

// The DKIM signer of campaign messages (mailer.DKIM.SignComposed) and the
// SMTP writer rely on this: whatever the recipient's values, a written
// message has CRLF line ends only and no line of its body starts with a
// dot.
func TestWrittenMessageHasCRLFLineEndsOnlyWhateverTheValues(t *testing.T) {
	tm := testTemplates(t)
	c, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: "Hej {{name}}",
		Body: "Hej {{ name }}!\n\n{{ name }}\n\n.{{ name }}\n\n[profil](https://example.se/p?n={{name}})",
		From: mail.Address{Address: "a@example.se"}, ListName: "L", Org: "O"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a\nb", "a\rb", "a\r\n.b", "\n.", ".\r", "x\r\r\n\n\ry", strings.Repeat("lång\n", 40)} {
		r := testRecipient("sv")
		r.Name = name
		var buf bytes.Buffer
		c.WriteMessage(&buf, r, WriteOptions{})
		msg := buf.Bytes()
		for i, b := range msg {
			if b == '\n' && (i == 0 || msg[i-1] != '\r') {
				t.Fatalf("name %q: a lone LF at byte %d: %q", name, i, msg[max(0, i-40):i+1])
			}
			if b == '\r' && (i+1 == len(msg) || msg[i+1] != '\n') {
				t.Fatalf("name %q: a lone CR at byte %d: %q", name, i, msg[max(0, i-40):min(len(msg), i+2)])
			}
		}
		_, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
		if bytes.HasPrefix(body, []byte(".")) || bytes.Contains(body, []byte("\n.")) {
			t.Fatalf("name %q: a body line starts with a dot", name)
		}
	}
}
