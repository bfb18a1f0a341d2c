package mailer

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The signer below is RFC 6376 written for what utskick sends rather than
// for any message: relaxed header canonicalization, simple body
// canonicalization, SHA-256. A message from mailtemplates has CRLF line
// ends only, so the simple body is the written bytes themselves (less
// trailing empty lines) and its hash is one pass of SHA-256 over them,
// with no copy. go-msgauth did the same through a goroutine pipe that
// fixes line ends a byte at a time, which cost more than the hash and an
// Ed25519 signature together. The signature itself is the standard
// library's (PKCS #1 v1.5 for RSA, RFC 8463 for Ed25519).

// now is the clock of t=; tests set it.
var now = time.Now

// keySlots bounds how many signatures are computed at once in the process:
// one per core. An RSA-2048 signature holds a core for about a millisecond;
// with many senders signing at once the SMTP sessions and the database
// work would otherwise wait in the scheduler's queue behind them.
var keySlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// BodyCache remembers the hash state of the part of a campaign's body
// that is the same for every recipient, so each message hashes only what
// follows its first personal value. One per campaign; safe for concurrent
// use. The shared part is learned from the first two bodies: their common
// prefix, if it is long enough to be worth it.
type BodyCache struct {
	mu     sync.Mutex
	first  []byte // the first body seen, until the second arrives
	learnt bool
	prefix atomic.Pointer[bodyPrefix]
}

type bodyPrefix struct {
	bytes []byte // the shared prefix
	state []byte // SHA-256 state after hashing it
}

// minPrefix is the shortest shared prefix worth remembering: below it the
// comparison costs about what it saves.
const minPrefix = 2048

// prefixLen is the length of the shared prefix learnt so far (0: none).
func (c *BodyCache) prefixLen() int {
	if p := c.prefix.Load(); p != nil {
		return len(p.bytes)
	}
	return 0
}

// hash returns the SHA-256 of body (already canonical, without its final
// CRLF) followed by CRLF.
func (c *BodyCache) hash(body []byte) [sha256.Size]byte {
	h := sha256.New()
	rest := body
	if c != nil {
		if p := c.prefix.Load(); p != nil && bytes.HasPrefix(body, p.bytes) {
			if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(p.state); err == nil {
				rest = body[len(p.bytes):]
			} else {
				h.Reset()
			}
		} else if p == nil {
			c.learn(body)
		}
	}
	h.Write(rest)
	h.Write(crlf)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func (c *BodyCache) learn(body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.learnt:
		return
	case c.first == nil:
		c.first = bytes.Clone(body)
		return
	}
	n := commonPrefix(c.first, body)
	n -= n % sha256.BlockSize
	c.first, c.learnt = nil, true
	if n < minPrefix {
		return
	}
	h := sha256.New()
	h.Write(body[:n])
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return
	}
	c.prefix.Store(&bodyPrefix{bytes: bytes.Clone(body[:n]), state: state})
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+256 <= n && bytes.Equal(a[i:i+256], b[i:i+256]); i += 256 {
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}

var crlf = []byte("\r\n")

// Sign writes msg to dst with one DKIM-Signature header per key in front
// of it, using c (nil: none) for the body hash of a campaign's messages. A message whose line
// ends are not all CRLF is signed as it would be after a relay fixed them:
// that form is what is written to dst.
func (d *DKIM) Sign(dst *bytes.Buffer, msg []byte, c *BodyCache) error {
	return d.sign(dst, msg, c, false)
}

// SignComposed is Sign for a message whose body is known to have
// CRLF line ends only, as mailtemplates writes every body: quoted-printable
// ends its lines with CRLF and encodes any CR or LF of a value. Only the
// header, where values go as they are, is checked; the scan of the whole
// message for lone CRs and LFs cost about as much as its SHA-256.
func (d *DKIM) SignComposed(dst *bytes.Buffer, msg []byte, c *BodyCache) error {
	return d.sign(dst, msg, c, true)
}

func (d *DKIM) sign(dst *bytes.Buffer, msg []byte, c *BodyCache, bodyCRLF bool) error {
	hdr, body, ok := splitMessage(msg)
	if !ok || !crlfOnly(hdr) || (!bodyCRLF && !crlfOnly(body)) {
		msg, c = fixCRLF(msg), nil
		if hdr, body, ok = splitMessage(msg); !ok {
			return errors.New("dkim: message has no header")
		}
	}
	// Simple body: trailing empty lines go, one CRLF ends it.
	for len(body) >= 2 && body[len(body)-2] == '\r' && body[len(body)-1] == '\n' {
		body = body[:len(body)-2]
	}
	bh := c.hash(body)

	var fs fields
	if err := fs.parse(hdr); err != nil {
		return err
	}
	// The signed header fields, canonicalized, are the same for every key.
	var buf [4096]byte
	canon := buf[:0]
	var hbuf [512]byte // the h= list: about 300 bytes with the over-signed names
	hlist := hbuf[:0]
	for _, name := range dkimHeaders {
		n := fs.count(name)
		for range n + 1 {
			if len(hlist) > 0 {
				hlist = append(hlist, ':')
			}
			hlist = append(hlist, name...)
		}
		for i := range n {
			canon = relaxedHeader(canon, fs.nthFromBottom(name, i))
		}
	}
	t := strconv.FormatInt(now().Unix(), 10)
	bhs := base64.StdEncoding.EncodeToString(bh[:])
	for _, k := range d.Keys() {
		a := "rsa-sha256"
		if k.alg == DKIMEd25519 {
			a = "ed25519-sha256"
		}
		// The header as it is written, but for the signature value. h= is
		// left unfolded (it stays far under 998 characters): some
		// verifiers trip over folding inside the list.
		sig := "DKIM-Signature: v=1; a=" + a + "; c=relaxed/simple; d=" + k.domain + "; s=" + k.selector + ";\r\n" +
			"\tt=" + t + "; h=" + string(hlist) + ";\r\n" +
			"\tbh=" + bhs + ";\r\n\tb="
		signed := relaxedHeader(canon, []byte(sig))
		signed = signed[:len(signed)-2] // the signature's own field ends without CRLF
		digest := sha256.Sum256(signed)
		opt := crypto.SignerOpts(crypto.SHA256)
		if k.alg == DKIMEd25519 {
			opt = crypto.Hash(0) // RFC 8463: Ed25519 signs the SHA-256 digest as its message
		}
		keySlots <- struct{}{}
		b, err := k.key.Sign(rand.Reader, digest[:], opt)
		<-keySlots
		if err != nil {
			return fmt.Errorf("dkim: %w", err)
		}
		dst.WriteString(sig)
		writeFolded(dst, base64.StdEncoding.EncodeToString(b))
		dst.WriteString("\r\n")
	}
	dst.Write(msg)
	return nil
}

// writeFolded writes a base64 value in lines of 72 characters, each
// continued with a tab; verifiers drop the white space of b=.
func writeFolded(dst *bytes.Buffer, v string) {
	for len(v) > 72 {
		dst.WriteString(v[:72])
		dst.WriteString("\r\n\t")
		v = v[72:]
	}
	dst.WriteString(v)
}

// crlfOnly reports that every CR and LF in msg is part of a CRLF pair.
func crlfOnly(msg []byte) bool {
	if bytes.Count(msg, []byte{'\r'}) != bytes.Count(msg, []byte{'\n'}) {
		return false
	}
	for i := 0; ; {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			return true
		}
		if i+j == 0 || msg[i+j-1] != '\r' {
			return false
		}
		i += j + 1
	}
}

// fixCRLF turns lone CRs and LFs into CRLF, as SMTP servers do.
func fixCRLF(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+len(msg)/32)
	for i := 0; i < len(msg); i++ {
		switch b := msg[i]; {
		case b == '\r' && i+1 < len(msg) && msg[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case b == '\r' || b == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, b)
		}
	}
	return out
}

// splitMessage cuts msg into its header (each field ending in CRLF) and
// its body.
func splitMessage(msg []byte) (hdr, body []byte, ok bool) {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+2], msg[i+4:], i > 0
	}
	if bytes.HasSuffix(msg, crlf) {
		return msg, nil, len(msg) > 2 // a header without a body
	}
	return nil, nil, false
}

// fields are a header's fields, in order, without their final CRLF.
type fields struct {
	f     [48]field
	extra []field
	n     int
}

type field struct {
	name []byte // as written
	raw  []byte // the whole field, folds included
}

func (fs *fields) add(f field) {
	if fs.n < len(fs.f) {
		fs.f[fs.n] = f
	} else {
		fs.extra = append(fs.extra, f)
	}
	fs.n++
}

func (fs *fields) at(i int) *field {
	if i < len(fs.f) {
		return &fs.f[i]
	}
	return &fs.extra[i-len(fs.f)]
}

func (fs *fields) parse(hdr []byte) error {
	for len(hdr) > 0 {
		// A field runs to the CRLF that is not followed by white space.
		end := 0
		for {
			i := bytes.Index(hdr[end:], crlf)
			if i < 0 {
				return errors.New("dkim: header line without CRLF")
			}
			end += i + 2
			if end >= len(hdr) || (hdr[end] != ' ' && hdr[end] != '\t') {
				break
			}
		}
		raw := hdr[:end-2]
		hdr = hdr[end:]
		colon := bytes.IndexByte(raw, ':')
		if colon <= 0 {
			return fmt.Errorf("dkim: header line %q is not a field", raw)
		}
		fs.add(field{name: bytes.TrimRight(raw[:colon], " \t"), raw: raw})
	}
	return nil
}

// count is how many fields are named name (lower case).
func (fs *fields) count(name string) int {
	n := 0
	for i := range fs.n {
		if equalFold(fs.at(i).name, name) {
			n++
		}
	}
	return n
}

// nthFromBottom is the i-th field named name counted from the last one:
// the order in which verifiers pick repeated fields (RFC 6376 §5.4.2).
func (fs *fields) nthFromBottom(name string, i int) []byte {
	for j := fs.n - 1; j >= 0; j-- {
		if f := fs.at(j); equalFold(f.name, name) {
			if i == 0 {
				return f.raw
			}
			i--
		}
	}
	return nil
}

// equalFold compares an ASCII field name with a lower-case one.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// relaxedHeader appends the relaxed canonical form of one field (RFC 6376
// §3.4.2) and CRLF: the name in lower case without white space around the
// colon, the value unfolded, runs of white space made one space, none at
// either end.
func relaxedHeader(dst, f []byte) []byte {
	colon := bytes.IndexByte(f, ':')
	name := bytes.TrimRight(f[:colon], " \t")
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	space := false
	started := false
	for _, c := range f[colon+1:] {
		switch c {
		case ' ', '\t', '\r', '\n':
			space = true
		default:
			if space && started {
				dst = append(dst, ' ')
			}
			space, started = false, true
			dst = append(dst, c)
		}
	}
	return append(dst, '\r', '\n')
}
