// Package links makes and checks the signed tokens that utskick puts in
// mail: unsubscribe, opt-in confirmation and preference links, and the
// addresses of the mailto unsubscribe and VERP bounces. A token is the
// HMAC-signed encoding of a few ids; it is lower-case base32 so that it
// survives in the local part of an address, where mail systems may change
// the case.
package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
)

// Kind separates tokens of different purposes, so that one can never be
// used as another.
type Kind byte

// Token kinds.
const (
	KindUnsubscribe Kind = 'u' // subscriber, campaign (0: none)
	KindConfirm     Kind = 'c' // subscriber, issued (unix seconds), lists...
	KindPreferences Kind = 'p' // subscriber
	KindBounce      Kind = 'b' // delivery
	KindClick       Kind = 'k' // delivery, link index
	KindOpen        Kind = 'o' // delivery
	KindUndo        Kind = 'r' // subscriber, issued (unix seconds), lists...
	KindSignin2FA   Kind = 't' // staff user, issued (unix seconds): password checked, code due
)

// ErrInvalid is returned for any token that is malformed, forged or of the
// wrong kind. It says nothing more, on purpose.
var ErrInvalid = errors.New("invalid or tampered link")

const macLen = 10 // 80 bits: forging one needs ~2^80 tries online

// alphabet is the tokens' base32 in lower case.
const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

var enc = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

// Signer makes and opens tokens with one secret key.
type Signer struct {
	key []byte
	// macs keeps keyed HMAC states for reuse: every message carries
	// several tokens, and hmac.New hashed the key's pads and allocated
	// each time.
	macs sync.Pool
}

// NewSigner returns a Signer; the key should be at least 32 random bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("link signing key is %d bytes, want at least 16", len(key))
	}
	s := &Signer{key: append([]byte(nil), key...)}
	s.macs.New = func() any { return hmac.New(sha256.New, s.key) }
	return s, nil
}

func (s *Signer) mac(b []byte) []byte {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(b)
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])
	s.macs.Put(m)
	return append([]byte(nil), out[:macLen]...)
}

// Sign returns the token for kind and the values.
func (s *Signer) Sign(kind Kind, values ...uint64) string {
	b := make([]byte, 1, 1+len(values)*binary.MaxVarintLen64+macLen)
	b[0] = byte(kind)
	for _, v := range values {
		b = binary.AppendUvarint(b, v)
	}
	b = append(b, s.mac(b)...)
	return enc.EncodeToString(b)
}

// Open checks token and returns its values if it is of kind.
func (s *Signer) Open(kind Kind, token string) ([]uint64, error) {
	if len(token) < 8 || len(token) > 1000 {
		return nil, ErrInvalid
	}
	token = strings.ToLower(token)
	b, err := enc.DecodeString(token)
	// The decoder ignores the unused low bits of the last character, so
	// without the second test a token would have several spellings that
	// open alike: one is the rule.
	if err != nil || enc.EncodeToString(b) != token || len(b) < 1+macLen || Kind(b[0]) != kind {
		return nil, ErrInvalid
	}
	body, sum := b[:len(b)-macLen], b[len(b)-macLen:]
	if !hmac.Equal(sum, s.mac(body)) {
		return nil, ErrInvalid
	}
	var vals []uint64
	for rest := body[1:]; len(rest) > 0; {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, ErrInvalid
		}
		vals = append(vals, v)
		rest = rest[n:]
	}
	return vals, nil
}

// Unsubscribe is the payload of an unsubscribe link.
type Unsubscribe struct {
	SubscriberID int64
	CampaignID   int64 // the campaign the link came in; 0 when none
}

// UnsubscribeToken signs u.
func (s *Signer) UnsubscribeToken(u Unsubscribe) string {
	return s.Sign(KindUnsubscribe, uint64(u.SubscriberID), uint64(u.CampaignID))
}

// OpenUnsubscribe reads an unsubscribe token.
func (s *Signer) OpenUnsubscribe(token string) (Unsubscribe, error) {
	v, err := s.Open(KindUnsubscribe, token)
	if err != nil || len(v) != 2 {
		return Unsubscribe{}, ErrInvalid
	}
	return Unsubscribe{SubscriberID: int64(v[0]), CampaignID: int64(v[1])}, nil
}

// Confirm is the payload of a double opt-in link.
type Confirm struct {
	SubscriberID int64
	Issued       time.Time
	ListIDs      []int64
}

// ConfirmToken signs c.
func (s *Signer) ConfirmToken(c Confirm) string {
	vals := []uint64{uint64(c.SubscriberID), uint64(c.Issued.Unix())}
	for _, l := range c.ListIDs {
		vals = append(vals, uint64(l))
	}
	return s.Sign(KindConfirm, vals...)
}

// OpenConfirm reads an opt-in token. Expiry is the caller's decision.
func (s *Signer) OpenConfirm(token string) (Confirm, error) {
	v, err := s.Open(KindConfirm, token)
	if err != nil || len(v) < 3 {
		return Confirm{}, ErrInvalid
	}
	c := Confirm{SubscriberID: int64(v[0]), Issued: time.Unix(int64(v[1]), 0).UTC()}
	for _, l := range v[2:] {
		c.ListIDs = append(c.ListIDs, int64(l))
	}
	return c, nil
}

// PreferencesToken signs a link to a subscriber's preference page.
func (s *Signer) PreferencesToken(subscriberID int64) string {
	return s.Sign(KindPreferences, uint64(subscriberID))
}

// OpenPreferences reads a preference-page token.
func (s *Signer) OpenPreferences(token string) (int64, error) {
	v, err := s.Open(KindPreferences, token)
	if err != nil || len(v) != 1 {
		return 0, ErrInvalid
	}
	return int64(v[0]), nil
}

// Undo is the payload of the undo button shown after an unsubscribe: it
// names exactly the lists that the unsubscribe ended, so the undo can
// restore those and nothing else.
type Undo struct {
	SubscriberID int64
	Issued       time.Time
	ListIDs      []int64
}

// UndoToken signs u.
func (s *Signer) UndoToken(u Undo) string {
	vals := []uint64{uint64(u.SubscriberID), uint64(u.Issued.Unix())}
	for _, l := range u.ListIDs {
		vals = append(vals, uint64(l))
	}
	return s.Sign(KindUndo, vals...)
}

// OpenUndo reads an undo token. Expiry is the caller's decision.
func (s *Signer) OpenUndo(token string) (Undo, error) {
	v, err := s.Open(KindUndo, token)
	if err != nil || len(v) < 3 {
		return Undo{}, ErrInvalid
	}
	u := Undo{SubscriberID: int64(v[0]), Issued: time.Unix(int64(v[1]), 0).UTC()}
	for _, l := range v[2:] {
		u.ListIDs = append(u.ListIDs, int64(l))
	}
	return u, nil
}

// BounceToken signs a delivery id for a VERP return path.
func (s *Signer) BounceToken(deliveryID int64) string {
	return s.Sign(KindBounce, uint64(deliveryID))
}

// OpenBounce reads a VERP token.
func (s *Signer) OpenBounce(token string) (int64, error) {
	v, err := s.Open(KindBounce, token)
	if err != nil || len(v) != 1 {
		return 0, ErrInvalid
	}
	return int64(v[0]), nil
}

// InstanceTag is a short value fixed for one signing key: it makes the
// Message-IDs of two installations that share a domain distinct.
func (s *Signer) InstanceTag() string {
	return enc.EncodeToString(s.mac([]byte("message-id instance")))[:8]
}

// OpenClick reads a click token: the delivery and the link index.
func (s *Signer) OpenClick(token string) (deliveryID int64, link int, err error) {
	v, err := s.Open(KindClick, token)
	if err != nil || len(v) != 2 || v[1] > 1<<20 {
		return 0, 0, ErrInvalid
	}
	return int64(v[0]), int(v[1]), nil
}

// OpenOpen reads an open-pixel token.
func (s *Signer) OpenOpen(token string) (int64, error) {
	v, err := s.Open(KindOpen, token)
	if err != nil || len(v) != 1 {
		return 0, ErrInvalid
	}
	return int64(v[0]), nil
}
