package worker_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestSentMailFooterShowsThePostalAddress sends a campaign through the
// real path (dispatch, claim, compose, SMTP to the embedded capture) and
// reads the delivered message: its HTML and text footers show the
// instance's postal address and contact line, and its From is the
// instance's sender identity; a list's own postal address wins over the
// instance's for that list's mail.
func TestSentMailFooterShowsThePostalAddress(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, nil)
		f := seed(t, st, 3)
		postal, contact := "Förbundet, Box 38145, 100 64 Stockholm", "Frågor? Ring 08-123 45 67"
		if _, err := st.SetSenderIdentity(ctx, store.SenderIdentity{FromName: "Förbundets nyheter", FromAddress: "nyheter@example.se",
			PostalAddress: postal, Contact: contact}, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
		e.start(t)
		e.schedule(t, f.camp.ID)
		e.waitSent(t, f.camp.ID, 30*time.Second)
		files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
		if len(files) != 3 {
			t.Fatalf("%d messages, want 3", len(files))
		}
		for _, file := range files {
			html, text, from := readMessage(t, file)
			if from.Name != "Förbundets nyheter" || from.Address != "nyheter@example.se" {
				t.Errorf("%s: From %v, want the sender identity", file, from)
			}
			for part, body := range map[string]string{"html": html, "text": text} {
				if !strings.Contains(body, "Postadress: "+postal) || !strings.Contains(body, contact) {
					t.Errorf("%s: the %s part's footer lacks the postal address or contact line:\n%s", file, part, body[max(0, len(body)-800):])
				}
			}
		}

		// A list's own postal address is used for its campaigns.
		own := "BUS-nätverket, Stadshuset, 111 11 Stockholm"
		if _, err := st.UpdateList(ctx, f.lists[0].ID, store.ListPatch{PostalAddress: &own}); err != nil {
			t.Fatal(err)
		}
		camp := &store.Campaign{Name: "Två", Subject: "Två", Body: "Text.", ListIDs: []int64{f.lists[0].ID}}
		if err := st.CreateCampaign(ctx, camp); err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			os.Remove(file)
		}
		e.schedule(t, camp.ID)
		e.waitSent(t, camp.ID, 30*time.Second)
		files, _ = filepath.Glob(filepath.Join(e.outDir, "*.eml"))
		if len(files) == 0 {
			t.Fatal("the list's campaign sent nothing")
		}
		html, text, _ := readMessage(t, files[0])
		if !strings.Contains(html, own) || !strings.Contains(text, own) || strings.Contains(text, postal) {
			t.Errorf("the list's own postal address is not the one in its mail:\n%s", text)
		}
	})
}

// readMessage returns the decoded HTML and text parts and the From of a
// captured message.
func readMessage(t *testing.T, file string) (html, text string, from *mail.Address) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if from, err = (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).Parse(m.Header.Get("From")); err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/html":
			html = string(body)
		case "text/plain":
			text = string(body)
		}
	}
	return html, text, from
}

// TestOptinMailCarriesTheSendersPostalAddress: the confirmation mail
// comes from the list's sender and shows the postal address and contact
// line, in both parts, like the campaigns after it.
func TestOptinMailCarriesTheSendersPostalAddress(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	e := newEnv(t, st, nil)
	if _, err := st.SetSenderIdentity(ctx, store.SenderIdentity{FromAddress: "nyheter@example.se", PostalAddress: "Box 7, 111 11 Stockholm",
		Contact: "Ring 08-1"}, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	l := &store.List{Slug: "bus", Name: "BUS", FromName: "BUS-nätverket"}
	if err := st.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	sub := &store.Subscriber{Email: "eva@example.se"}
	if err := st.CreateSubscriber(ctx, sub, []store.SubscriptionInput{{ListID: l.ID, Status: store.SubUnconfirmed}}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Process(ctx, queue.NewOptinTask(queue.OptinPayload{SubscriberID: sub.ID, ListIDs: []int64{l.ID}})); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d messages, want 1", len(files))
	}
	html, text, from := readMessage(t, files[0])
	if from.Name != "BUS-nätverket" || from.Address != "nyheter@example.se" {
		t.Errorf("From %v, want the list's name and the instance's address", from)
	}
	for part, body := range map[string]string{"html": html, "text": text} {
		if !strings.Contains(body, "Postadress: Box 7, 111 11 Stockholm") || !strings.Contains(body, "Ring 08-1") {
			t.Errorf("the %s part lacks the postal address or contact line:\n%s", part, body)
		}
	}
}
