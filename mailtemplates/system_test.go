package mailtemplates

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// optinText writes the confirmation mail and returns its decoded text part.
func optinText(t *testing.T, lang string, expires time.Time) string {
	t.Helper()
	tm := testTemplates(t)
	var buf bytes.Buffer
	if err := tm.WriteOptin(&buf, OptinInput{Language: lang, From: mail.Address{Address: "n@example.se"}, To: mail.Address{Address: "a@example.org"},
		Org: "Förbundet", ListNames: []string{"Nytt"}, ConfirmURL: "https://n.example.se/confirm/x", Expires: expires, MessageID: "m@x", Date: expires}); err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(p)
	return strings.Join(strings.Fields(string(b)), " ")
}

// Issue 10 item 24: the confirmation mail said when its link expires in
// UTC ("2026-07-01 22:30 UTC"): a Swedish reader was told the wrong hour,
// and on the wrong day near midnight. It is the reader's time in
// Europe/Stockholm, written in the mail's language.
func TestOptinExpiryIsStockholmTimeInTheMailsLanguage(t *testing.T) {
	expires := time.Date(2026, 7, 1, 22, 30, 0, 0, time.UTC) // 00:30 the next day in Stockholm (CEST)
	if got := optinText(t, "sv", expires); !strings.Contains(got, "2 juli 2026 kl. 00:30") {
		t.Errorf("Swedish mail: %s", got)
	}
	if got := optinText(t, "en", expires); !strings.Contains(got, "2 July 2026, 00:30") {
		t.Errorf("English mail: %s", got)
	}
	winter := time.Date(2026, 1, 15, 7, 0, 0, 0, time.UTC) // 08:00 CET
	if got := optinText(t, "sv", winter); !strings.Contains(got, "15 januari 2026 kl. 08:00") || strings.Contains(got, "UTC") {
		t.Errorf("winter: %s", got)
	}
}
