package worker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
)

// slowSMTP is a loopback SMTP server whose DATA takes a while, and which
// records when each recipient's transaction started (RCPT TO).
type slowSMTP struct {
	delay  time.Duration
	mu     sync.Mutex
	rcpts  []rcptAt
	onRcpt func(n int, to string)
}

type rcptAt struct {
	to string
	at time.Time
}

func (b *slowSMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &slowSession{b: b}, nil }

type slowSession struct{ b *slowSMTP }

func (s *slowSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *slowSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.mu.Lock()
	s.b.rcpts = append(s.b.rcpts, rcptAt{to, time.Now()})
	n, cb := len(s.b.rcpts), s.b.onRcpt
	s.b.mu.Unlock()
	if cb != nil {
		cb(n, to)
	}
	return nil
}
func (s *slowSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	time.Sleep(s.b.delay)
	return nil
}
func (s *slowSession) Reset()        {}
func (s *slowSession) Logout() error { return nil }

func startSlowSMTP(t *testing.T, b *slowSMTP) int {
	t.Helper()
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestUnsubscribeWhileCampaignSends unsubscribes a recipient whose
// delivery is already claimed by the sender, while the campaign is
// sending: no message to that address may start after the unsubscribe
// commits (plus the sender's recheck interval), and the delivery ends
// suppressed.
func TestUnsubscribeWhileCampaignSends(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		b := &slowSMTP{delay: 120 * time.Millisecond}
		port := startSlowSMTP(t, b)
		// One connection, one slot, one batch for all: the victim's row
		// is claimed long before its turn, so only the recheck can stop it.
		e := newEnvSMTP(t, st, port, func(c *worker.Config) {
			c.SMTP.Connections, c.Senders.Slots, c.Senders.BatchSize = 1, 1, 100
		})
		f := seed(t, st, 30)
		victim := f.subs[9] // i%3 == 0: on both lists of the campaign

		type unsub struct {
			at  time.Time
			err error
		}
		done := make(chan unsub, 1)
		var once sync.Once
		b.mu.Lock()
		b.onRcpt = func(n int, to string) {
			if n != 5 {
				return
			}
			// While the fifth message is in DATA, the victim (tenth in
			// line) unsubscribes from everything through the store, as
			// the unsubscribe page does.
			once.Do(func() {
				go func() {
					_, err := st.UnsubscribeAll(context.Background(), victim.ID, f.camp.ID, store.Actor{Source: "unsubscribe-page"})
					done <- unsub{time.Now(), err}
				}()
			})
		}
		b.mu.Unlock()

		e.start(t)
		e.schedule(t, f.camp.ID)
		stats := e.waitSent(t, f.camp.ID, 60*time.Second)
		u := <-done
		if u.err != nil {
			t.Fatal(u.err)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		var toVictim []time.Time
		for _, r := range b.rcpts {
			if r.to == victim.Email {
				toVictim = append(toVictim, r.at)
			}
		}
		for _, at := range toVictim {
			if at.After(u.at) {
				t.Fatalf("a message to %s started %s after the unsubscribe committed", victim.Email, at.Sub(u.at))
			}
		}
		if len(toVictim) != 0 {
			t.Fatalf("the victim got %d messages; the unsubscribe came while message 5 of 30 was sending", len(toVictim))
		}
		if stats.Sent != 29 || len(b.rcpts) != 29 {
			t.Fatalf("sent %d (server saw %d), want 29: %+v", stats.Sent, len(b.rcpts), stats)
		}
		rows, _, err := st.Deliveries(ctx, store.DeliveryQuery{CampaignID: f.camp.ID, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range rows {
			if d.Email == victim.Email && d.Status != store.DeliverySuppressed {
				t.Fatalf("victim's delivery is %s, want suppressed", d.Status)
			}
		}
	})
}
