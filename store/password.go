package store

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Password rules. The length is counted in bytes of UTF-8; the upper
// bound keeps the work of one sign-in attempt bounded.
const (
	PasswordMinLen = 10
	PasswordMaxLen = 256
)

// argonParams are the argon2id costs of a hash.
type argonParams struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// passwordParams are the costs of every new hash: the first of OWASP's
// recommended argon2id settings (19 MiB, 2 passes, 1 lane). One hash takes
// about 30 ms of one core here; with at most hashSlots at once, a flood of
// sign-in attempts costs at most hashSlots × 19 MiB of memory. Stored
// hashes carry their own parameters (PHC string), so raising these needs
// no migration: old hashes still verify.
var passwordParams = argonParams{Memory: 19 * 1024, Time: 2, Threads: 1}

// hashSlots bounds concurrent argon2id computations per process.
const hashSlots = 4

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// errBadHash is a stored hash that cannot be read; it never verifies.
var errBadHash = errors.New("unreadable password hash")

// hashPassword returns pw's argon2id hash as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	p := passwordParams
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword reports whether pw matches the PHC hash, comparing in
// constant time.
func checkPassword(phc, pw string) bool {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// parsePHC reads an argon2id PHC string. Costs far above ours are refused,
// so a tampered row cannot make one sign-in take gigabytes.
func parsePHC(phc string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, errBadHash
			}
			p.Threads = uint8(n)
		default:
			return p, nil, nil, errBadHash
		}
	}
	if p.Memory < 8 || p.Memory > 256*1024 || p.Time < 1 || p.Time > 16 || p.Threads < 1 || p.Threads > 16 {
		return p, nil, nil, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// hasher runs argon2id with a bound on concurrent runs, and keeps the
// dummy hash that unknown accounts are checked against, so that "no such
// account" takes as long as "wrong password".
type hasher struct {
	slots chan struct{}
	dummy func() string
}

func newHasher() *hasher {
	return &hasher{
		slots: make(chan struct{}, hashSlots),
		dummy: sync.OnceValue(func() string {
			h, err := hashPassword("utskick: no such account")
			if err != nil {
				panic(err) // crypto/rand failed
			}
			return h
		}),
	}
}

func (h *hasher) hash(pw string) (string, error) {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return hashPassword(pw)
}

// check verifies pw against phc; an empty phc (no password set) is
// checked against the dummy hash and fails, taking the same time.
func (h *hasher) check(phc, pw string) bool {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	if phc == "" {
		checkPassword(h.dummy(), pw)
		return false
	}
	return checkPassword(phc, pw)
}
