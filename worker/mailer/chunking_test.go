package mailer

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dialTest opens a session to s with cfg's timeouts filled in.
func dialTest(t *testing.T, s *server, cfg Config) *Conn {
	t.Helper()
	cfg.Host, cfg.Port, cfg.TLS = "127.0.0.1", s.port, TLSNone
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *server) lastMessage() string {
	b, _ := s.last.Load().([]byte)
	return string(b)
}

func TestChunkingServerGetsTheMessageAsItIsInOnePipelinedWrite(t *testing.T) {
	s := startServer(t, 0)
	c := dialTest(t, s, Config{})
	if !c.chunking {
		t.Fatal("go-smtp offers PIPELINING and CHUNKING; the session does not use them")
	}
	// Lines that start with a dot go as they are with BDAT, and a
	// message without a final CRLF gets one, as with DATA.
	msg := "From: a@example.se\r\nSubject: x\r\n\r\n.one\r\n..two\r\n.\r\nend"
	if _, err := c.Send("a@example.se", "b@example.org", []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if got, want := s.lastMessage(), msg+"\r\n"; got != want {
		t.Fatalf("server got %q, want %q", got, want)
	}
	wire := s.wire.String()
	if !strings.Contains(wire, "BDAT "+strconv.Itoa(len(msg)+2)+" LAST\r\n") || strings.Contains(wire, "DATA\r\n") {
		t.Fatalf("not one BDAT chunk:\n%s", wire)
	}
}

func TestChunkingRefusedRecipientLeavesTheSessionUsable(t *testing.T) {
	s := startServerWire(t, 0, &server{refuseTo: "gone@example.org"})
	c := dialTest(t, s, Config{})
	_, err := c.Send("a@example.se", "gone@example.org", []byte(testMsg))
	if err == nil || Classify(err).Class != Permanent || c.Broken() {
		t.Fatalf("refused recipient: err %v (%v), broken %v; want a permanent refusal on a live session", err, Classify(err), c.Broken())
	}
	if s.accepted.Load() != 0 {
		t.Fatal("the server accepted a message for a refused recipient")
	}
	// The chunk was discarded and the session is in step: the next
	// message goes through.
	if _, err := c.Send("a@example.se", "b@example.org", []byte(testMsg)); err != nil {
		t.Fatalf("next message on the same session: %v", err)
	}
	if s.lastMessage() != testMsg {
		t.Fatalf("server got %q", s.lastMessage())
	}
}

func TestDataOnlyAndQuietSessionsUseData(t *testing.T) {
	s := startServer(t, 0)
	c := dialTest(t, s, Config{DataOnly: true})
	if _, err := c.Send("a@example.se", "b@example.org", []byte(".dot\r\n")); err != nil {
		t.Fatal(err)
	}
	if wire := s.wire.String(); strings.Contains(wire, "BDAT") || !strings.Contains(wire, "DATA\r\n") {
		t.Fatalf("DataOnly session spoke BDAT:\n%s", wire)
	}
	if s.lastMessage() != ".dot\r\n" {
		t.Fatalf("dot-stuffed message arrived as %q", s.lastMessage())
	}

	// A session quiet for longer than chunkQuiet sends its next message
	// with DATA, so that a server that closed it meanwhile is found
	// before the message leaves.
	s = startServer(t, 0)
	c = dialTest(t, s, Config{})
	time.Sleep(chunkQuiet + 20*time.Millisecond)
	if _, err := c.Send("a@example.se", "b@example.org", []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send("a@example.se", "b@example.org", []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	if wire := s.wire.String(); strings.Count(wire, "DATA\r\n") != 1 || strings.Count(wire, "BDAT") != 1 {
		t.Fatalf("want DATA after the pause, then BDAT:\n%s", wire)
	}
}
