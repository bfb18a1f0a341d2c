package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bdatBlast is smtpblast's loop spoken with BDAT (CHUNKING, RFC 3030):
// each connection sends EHLO once, then per message MAIL, RCPT and
// "BDAT <size> LAST" pipelined with the message in one write, and reads
// the three replies. It is the yardstick for utskick's default hand-over
// (-smtp bdat): smtpblast speaks DATA, which costs a round trip more and
// makes the sink read the message a byte at a time for the end marker,
// so a BDAT send measured against it says more about the protocol than
// about utskick. Like smtpblast it does no other work and prepares the
// message once, before the clock starts.
func bdatBlast(addr string, eml []byte, n, conns int) (blastResult, error) {
	msg := bytes.ReplaceAll(bytes.ReplaceAll(eml, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		msg = append(msg, '\r', '\n')
	}
	size := strconv.Itoa(len(msg))
	var next, sent atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bdatSession(addr, size, msg, int64(n), &next, &sent); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	secs := time.Since(start).Seconds()
	if err := <-errs; err != nil {
		return blastResult{}, fmt.Errorf("bdat yardstick: %w", err)
	}
	return blastResult{MsgsPerS: float64(sent.Load()) / secs}, nil
}

func bdatSession(addr, size string, msg []byte, n int64, next, sent *atomic.Int64) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := textproto.NewReader(bufio.NewReader(conn))
	w := bufio.NewWriterSize(conn, 64<<10)
	if _, _, err := r.ReadResponse(220); err != nil {
		return err
	}
	w.WriteString("EHLO bdatblast.localhost\r\n")
	w.Flush()
	if _, ext, err := r.ReadResponse(250); err != nil {
		return err
	} else if !strings.Contains(ext, "CHUNKING") {
		return fmt.Errorf("the sink does not offer CHUNKING")
	}
	for {
		i := next.Add(1)
		if i > n {
			break
		}
		fmt.Fprintf(w, "MAIL FROM:<blast@example.org>\r\nRCPT TO:<reader%d@example.org>\r\nBDAT %s LAST\r\n", i, size)
		w.Write(msg)
		if err := w.Flush(); err != nil {
			return err
		}
		for _, code := range []int{250, 250, 250} {
			if _, _, err := r.ReadResponse(code); err != nil {
				return err
			}
		}
		sent.Add(1)
	}
	w.WriteString("QUIT\r\n")
	return w.Flush()
}
