package worker_test

import (
	"bytes"
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// A test send to a subscriber's own address carries their name but links
// that act for nobody: the mail is staff's, whoever's inbox it lands in.
func TestTestSendToASubscriberHasInertLinks(t *testing.T) {
	st := storetest.Open(t)
	e := newEnv(t, st, nil)
	f := seed(t, st, 1)
	ctx := context.Background()
	if err := e.h.Process(ctx, queue.NewTestTask(queue.TestPayload{CampaignID: f.camp.ID, Emails: []string{f.subs[0].Email}})); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d messages, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.ReplaceAll(string(b), "=\r\n", "") // quoted-printable soft breaks
	if !strings.Contains(msg, "[TEST] Hej Reader") {
		t.Fatalf("test send lost the subscriber's personalisation:\n%s", msg)
	}
	sg, _ := links.NewSigner([]byte("test secret key, 32 bytes long!!"))
	found := 0
	for _, m := range regexp.MustCompile(`/unsubscribe/([a-z2-7]+)|unsubscribe\+([a-z2-7]+)@|/preferences/([a-z2-7]+)`).FindAllStringSubmatch(msg, -1) {
		found++
		if m[3] != "" {
			if id, err := sg.OpenPreferences(m[3]); err != nil || id != 0 {
				t.Fatalf("preference link of a test send acts for subscriber %d (%v)", id, err)
			}
			continue
		}
		u, err := sg.OpenUnsubscribe(m[1] + m[2])
		if err != nil || u.SubscriberID != 0 {
			t.Fatalf("unsubscribe link of a test send acts for %+v (%v)", u, err)
		}
	}
	if found < 3 {
		t.Fatalf("%d personal links in the test send, want the header's, the body's and the preferences'", found)
	}
}

func TestSentMailCarriesTheListsReplyTo(t *testing.T) {
	st := storetest.Open(t)
	e := newEnv(t, st, nil)
	f := seed(t, st, 1)
	ctx := context.Background()
	reply := `"Förbundets redaktion" <redaktionen@example.se>`
	if _, err := st.UpdateList(ctx, f.lists[0].ID, store.ListPatch{ReplyTo: &reply}); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Process(ctx, queue.NewTestTask(queue.TestPayload{CampaignID: f.camp.ID, Emails: []string{"staff@example.se"}})); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d messages, want 1", len(files))
	}
	b, _ := os.ReadFile(files[0])
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	as, err := m.Header.AddressList("Reply-To")
	if err != nil || len(as) != 1 || as[0].Name != "Förbundets redaktion" || as[0].Address != "redaktionen@example.se" {
		t.Fatalf("Reply-To %q: %v %v", m.Header.Get("Reply-To"), as, err)
	}
}
