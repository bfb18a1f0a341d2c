package mailtemplates

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestLocalTimeIsStockholmAcrossDaylightSaving(t *testing.T) {
	for _, tc := range []struct {
		utc        time.Time
		lang, want string
	}{
		{time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), "sv", "2 mars 2026 kl. 08:00"},   // CET, +1
		{time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC), "sv", "30 mars 2026 kl. 08:00"}, // CEST, +2
		{time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC), "en", "30 March 2026, 08:00"},
		{time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC), "en", "1 January 2027, 00:30"},
	} {
		if got := LocalTime(tc.utc, tc.lang); got != tc.want {
			t.Errorf("LocalTime(%s, %s) = %q, want %q", tc.utc, tc.lang, got, tc.want)
		}
	}
}

func TestLoadCatalogsRefusesAKeyMissingInAnyLanguage(t *testing.T) {
	fsys := fstest.MapFS{
		"i/sv.json": {Data: []byte(`{"a": "A", "b": "B"}`)},
		"i/en.json": {Data: []byte(`{"a": "A", "b": "B", "c": "only English"}`)},
	}
	_, err := LoadCatalogs(fsys, "i")
	if err == nil || !strings.Contains(err.Error(), `"c"`) || !strings.Contains(err.Error(), "sv") {
		t.Fatalf("err %v, want one naming key c missing in sv", err)
	}
	fsys["i/sv.json"] = &fstest.MapFile{Data: []byte(`{"a": "A", "b": "B", "c": "C"}`)}
	if _, err := LoadCatalogs(fsys, "i"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCatalogsJoinsPartFilesAndRefusesAKeyTwice(t *testing.T) {
	fsys := fstest.MapFS{
		"i/sv.json":       {Data: []byte(`{"a": "A"}`)},
		"i/en.json":       {Data: []byte(`{"a": "A"}`)},
		"i/sv.lists.json": {Data: []byte(`{"lists.title": "Listor"}`)},
		"i/en.lists.json": {Data: []byte(`{"lists.title": "Lists"}`)},
	}
	cats, err := LoadCatalogs(fsys, "i")
	if err != nil {
		t.Fatal(err)
	}
	if cats["sv"].T("lists.title") != "Listor" || cats["en"].T("a") != "A" {
		t.Fatalf("catalogs %v", cats)
	}
	delete(fsys, "i/en.lists.json")
	if _, err := LoadCatalogs(fsys, "i"); err == nil || !strings.Contains(err.Error(), "lists.title") {
		t.Fatalf("a part file missing in English: %v", err)
	}
	fsys["i/en.lists.json"] = &fstest.MapFile{Data: []byte(`{"lists.title": "Lists"}`)}
	fsys["i/sv.other.json"] = &fstest.MapFile{Data: []byte(`{"lists.title": "Listor igen"}`)}
	if _, err := LoadCatalogs(fsys, "i"); err == nil || !strings.Contains(err.Error(), "also in") {
		t.Fatalf("a key in two files: %v", err)
	}
}

func TestAccountLinkMails(t *testing.T) {
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tm.nonce = func() string { return "n" }
	for _, tc := range []struct {
		in   AccountLinkInput
		want []string
	}{
		{AccountLinkInput{Purpose: "invite", Language: "sv", Inviter: "Anna Berg"},
			[]string{"Inbjudan till nyhetsbreven f", "Anna Berg har bjudit in dig", "2 mars 2026 kl. 08:00", "https://n.example.se/admin/password/abc"}},
		{AccountLinkInput{Purpose: "reset", Language: "en"},
			[]string{"Subject: Choose a new password", "Someone, hopefully you", "2 March 2026, 08:00"}},
	} {
		var buf bytes.Buffer
		in := tc.in
		in.From, in.To = mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"}, mail.Address{Address: "ny@example.se"}
		in.Org, in.URL, in.Expires, in.MessageID, in.Date = "Förbundet", "https://n.example.se/admin/password/abc",
			time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), "x@example.se", time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
		if err := tm.WriteAccountLink(&buf, in); err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(&buf)
		if err != nil {
			t.Fatal(err)
		}
		raw := msg.Header.Get("Subject")
		var body bytes.Buffer
		body.ReadFrom(msg.Body)
		text := "Subject: " + raw + "\n" + strings.ReplaceAll(body.String(), "=\r\n", "")
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s mail lacks %q:\n%s", in.Purpose, w, text)
			}
		}
	}
	if err := tm.WriteAccountLink(&bytes.Buffer{}, AccountLinkInput{Purpose: "other"}); err == nil {
		t.Error("unknown purpose accepted")
	}
}
