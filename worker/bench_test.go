package worker_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/worker/mailer"
)

// discard is an SMTP server that reads and drops every message, standing
// in for a fast receiving MTA on loopback.
type discard struct{}

func (discard) NewSession(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil }

type discardSession struct{}

func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discardSession) Reset()        {}
func (discardSession) Logout() error { return nil }

func startDiscard(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := smtp.NewServer(discard{})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// BenchmarkRenderVsSMTP sends a seed-like issue (about 30 KB as sent) to
// one subscriber at a time over one SMTP session on loopback, and reports
// side by side what each message costs to render (the per-recipient part
// of the compile-once design), to DKIM-sign, and to hand to the SMTP
// server, with render and sign as a share of the SMTP cost.
//
//	go test ./worker -run '^$' -bench RenderVsSMTP -benchtime 2000x
func BenchmarkRenderVsSMTP(b *testing.B) {
	src, err := os.ReadFile("../mailtemplates/testdata/issues/senaste-nytt-mars.md")
	if err != nil {
		b.Fatal(err)
	}
	_, body, _ := strings.Cut(string(src), "\n\n")
	tm, err := mailtemplates.New()
	if err != nil {
		b.Fatal(err)
	}
	c, err := tm.CompileCampaign(context.Background(), mailtemplates.CampaignInput{
		Subject: "Senaste nytt för {{ attr.kommun | default \"länet\" }} – mars", Body: body,
		From:     mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"},
		ListName: "Senaste nytt", ListID: "senaste-nytt.example.se", Org: "Förbundet",
		ArchiveURL: "https://nyhetsbrev.example.se/archive/senaste-nytt/7",
		Headers:    []mailtemplates.Header{{Name: "Precedence", Value: "bulk"}, {Name: "Feedback-ID", Value: "c7:l1:x:utskick"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	m, err := mailer.New(mailer.Config{Host: "127.0.0.1", Port: startDiscard(b), TLS: mailer.TLSNone})
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []string{"none", mailer.DKIMEd25519, mailer.DKIMRSA} {
		b.Run("dkim="+alg, func(b *testing.B) {
			var dk *mailer.DKIM
			if alg != "none" {
				key, _, err := mailer.GenerateDKIMKey(alg)
				if err != nil {
					b.Fatal(err)
				}
				if dk, err = mailer.NewDKIM("example.se", "utskick", key); err != nil {
					b.Fatal(err)
				}
			}
			conn, err := m.Dial(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			var buf, sig bytes.Buffer
			r := &mailtemplates.Recipient{
				Email: "anna.svensson@example.org", Name: "Anna Svensson", Language: "sv", Attributes: map[string]any{"kommun": "Järfälla"},
				UnsubscribeURL:    "https://nyhetsbrev.example.se/unsubscribe/abcdefghijklmnopqrstuvwxyz234567",
				UnsubscribeMailto: "mailto:unsubscribe+abcdefghijklmnopqrstuvwxyz234567@example.se",
				PreferencesURL:    "https://nyhetsbrev.example.se/preferences/abcdefghijklmnopqrstuvwxyz234567",
				MessageID:         "d1.c7.x@example.se", Date: time.Now(),
			}
			var render, sign, send time.Duration
			size := 0
			for b.Loop() {
				t0 := time.Now()
				buf.Reset()
				c.WriteMessage(&buf, r, mailtemplates.WriteOptions{})
				t1 := time.Now()
				msg := buf.Bytes()
				if dk != nil {
					sig.Reset()
					if err := dk.Sign(&sig, msg, nil); err != nil {
						b.Fatal(err)
					}
					msg = sig.Bytes()
				}
				t2 := time.Now()
				if _, err := conn.Send("bounces@example.se", r.Email, msg); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				render += t1.Sub(t0)
				sign += t2.Sub(t1)
				send += t3.Sub(t2)
				size = len(msg)
			}
			n := float64(b.N)
			b.ReportMetric(float64(render.Nanoseconds())/n, "render-ns/msg")
			b.ReportMetric(float64(sign.Nanoseconds())/n, "sign-ns/msg")
			b.ReportMetric(float64(send.Nanoseconds())/n, "smtp-ns/msg")
			b.ReportMetric(100*float64(render)/float64(send), "render/smtp-%")
			b.ReportMetric(100*float64(render+sign)/float64(send), "render+sign/smtp-%")
			b.ReportMetric(float64(size), "bytes/msg")
		})
	}
	// The sender writes and signs the next message while the current one
	// is on the wire: the time per message is then the longer of the two
	// instead of their sum.
	b.Run("dkim=ed25519/ahead", func(b *testing.B) {
		key, _, err := mailer.GenerateDKIMKey(mailer.DKIMEd25519)
		if err != nil {
			b.Fatal(err)
		}
		dk, err := mailer.NewDKIM("example.se", "utskick", key)
		if err != nil {
			b.Fatal(err)
		}
		conn, err := m.Dial(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		r := &mailtemplates.Recipient{Email: "anna.svensson@example.org", Name: "Anna Svensson", Language: "sv",
			MessageID: "d1.c7.x@example.se", Date: time.Now()}
		var bufs [2]struct{ buf, sig bytes.Buffer }
		prepare := func(k int) []byte {
			bufs[k].buf.Reset()
			c.WriteMessage(&bufs[k].buf, r, mailtemplates.WriteOptions{})
			bufs[k].sig.Reset()
			if err := dk.Sign(&bufs[k].sig, bufs[k].buf.Bytes(), nil); err != nil {
				panic(err)
			}
			return bufs[k].sig.Bytes()
		}
		msg, k := prepare(0), 0
		for b.Loop() {
			ahead := make(chan []byte)
			go func(k int) { ahead <- prepare(k) }(1 - k)
			if _, err := conn.Send("bounces@example.se", r.Email, msg); err != nil {
				b.Fatal(err)
			}
			msg, k = <-ahead, 1-k
		}
	})
}
