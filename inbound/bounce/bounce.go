// Package bounce classifies one inbound message received on utskick's
// bounce, feedback-loop or unsubscribe addresses.
//
// Campaign mail goes out with a per-delivery VERP envelope sender
// bounces+<token>@<domain> and a List-Unsubscribe of
// mailto:unsubscribe+<token>@<domain>. What comes back — RFC 3464 and
// RFC 6533 delivery status notifications, RFC 5965 abuse reports, the many
// non-standard bounce texts MTAs still send, mailto unsubscribes, and noise
// such as out-of-office replies — reaches the service as raw RFC 5322
// bytes. Parse turns one such message into a Report carrying the delivery
// token; mapping the token to a delivery and acting on the report is the
// caller's business. The package only parses: it knows nothing of storage,
// token cryptography, HTTP or SMTP.
package bounce

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says what an inbound message is.
type Kind string

// The kinds of inbound message.
const (
	KindHardBounce   Kind = "hard_bounce"   // the address is gone: no such user, domain, disabled mailbox
	KindSoftBounce   Kind = "soft_bounce"   // transient failure (4.x.x), mailbox full, or a failure with no usable code
	KindPolicyBounce Kind = "policy_bounce" // refused for the sender's sake: DMARC/SPF, block lists, spam or content filters, size
	KindDelayed      Kind = "delayed"       // delivery delayed; a warning, not a failure
	KindComplaint    Kind = "complaint"     // RFC 5965 abuse or fraud report, or an Amazon SES complaint
	KindUnsubscribe  Kind = "unsubscribe"   // mail to an unsubscribe+<token>@ address, or an "unsubscribe" reply to a bounces+<token>@ one
	KindAutoReply    Kind = "auto_reply"    // vacation, out-of-office and other automatic replies: ignore it
	KindUnknown      Kind = "unknown"       // anything else (spam, success DSNs, people's replies): ignore it
)

// Report is what Parse found. Every string field is valid UTF-8 without
// control characters, at most 500 bytes long, and empty when unknown.
type Report struct {
	Kind Kind
	// Recipient is the failed recipient, lower-cased: the DSN's
	// Original-Recipient (the address we sent to) or else its
	// Final-Recipient, the ARF Original-Rcpt-To, or the address named by
	// a text bounce.
	Recipient string
	// Status is the RFC 3463 enhanced status code, e.g. "5.1.1". When the
	// message has only a basic SMTP reply code it is "5.0.0" or "4.0.0".
	Status string
	// Diagnostic is the Diagnostic-Code text without its type prefix, or
	// the human-readable reason, with whitespace collapsed.
	Diagnostic string
	// MessageID is the Message-ID of the original message we sent, without
	// angle brackets, taken from the returned message or its header.
	MessageID string
	// Token is the <token> of a bounces+<token>@ or unsubscribe+<token>@
	// address; see Parse for where it is looked for.
	Token string
	// FeedbackType is the lower-cased ARF Feedback-Type of a complaint.
	FeedbackType string
	// Reporter is the DSN or ARF Reporting-MTA name, or the ARF User-Agent.
	Reporter string
}

// ErrNotMail is wrapped by the error Parse returns for input that is not an
// RFC 5322 message at all, so that callers can tell bad input (reject it)
// from a failing reader (retry).
var ErrNotMail = errors.New("not an RFC 5322 message")

// maxBytes bounds how much input Parse reads. Everything that classifies a
// message (its header, the human-readable part, the delivery-status or
// feedback-report part, the returned header) comes near its start, so a
// longer message is classified from its first maxBytes bytes, not rejected.
const maxBytes = 10 << 20

// maxFieldLen bounds every Report string so that callers can store them
// without further checks.
const maxFieldLen = 500

// Parse reads one raw RFC 5322 message (header and body, CRLF, LF or CR
// line endings) and classifies it. An Amazon SES bounce or complaint
// notification, as SES publishes it or wrapped in an SNS notification, is
// accepted too, raw or as the body of the mail SNS sends. envelopeRcpts are the SMTP RCPT TO addresses
// the message arrived for; they may be empty when it came over HTTP.
//
// The token is taken from the first of: envelopeRcpts; the message's To,
// Delivered-To, X-Original-To and Envelope-To fields; and, for a DSN, an
// ARF report or a text bounce, the returned original message's
// Return-Path, its List-Unsubscribe, and any other bounces+<token>@ address
// in its header. A message addressed (in the envelope or those fields) to
// unsubscribe+<token>@ is KindUnsubscribe whatever its content; a person's
// message to bounces+<token>@ that only asks to unsubscribe is too.
//
// Parse returns an error only when r fails or the input is not mail at all
// (wrapping ErrNotMail); anything parseable that it does not recognise is
// KindUnknown with a nil error. It reads at most 10 MiB of r.
func Parse(r io.Reader, envelopeRcpts []string) (Report, error) {
	if r == nil {
		return Report{}, errors.New("bounce: parse: nil reader")
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxBytes))
	if err != nil {
		return Report{}, fmt.Errorf("bounce: read message: %w", err)
	}
	if rep, ok := parseNotificationJSON(raw); ok {
		return rep.sanitized(), nil
	}
	msg, err := parseMessage(raw)
	if err != nil {
		return Report{}, fmt.Errorf("bounce: parse message: %w", err)
	}
	return classify(msg, envelopeRcpts).sanitized(), nil
}

// classify applies the rules in order of how certain they are: an
// unsubscribe address, then the two machine-readable report formats, then
// auto-replies, then the text heuristics.
func classify(msg *entity, envelopeRcpts []string) Report {
	bouncesToken, unsubscribeToken := addressedTokens(msg.header, envelopeRcpts)
	if unsubscribeToken != "" {
		return Report{Kind: KindUnsubscribe, Token: unsubscribeToken}
	}

	var (
		rep  Report
		orig header // header of the returned original message, if any
	)
	if part := msg.find(feedbackTypes...); part != nil {
		rep, orig = parseARF(msg, part)
	} else if part := msg.find(deliveryStatusTypes...); part != nil {
		rep, orig = parseDSN(msg, part)
	} else if n, ok := notificationInBody(msg); ok {
		if n.Token == "" {
			n.Token = bouncesToken
		}
		return n
	} else if isAutoReply(msg.header) {
		rep = Report{Kind: KindAutoReply}
	} else {
		rep, orig = parseTextBounce(msg, false)
		if rep.Kind == KindUnknown && bouncesToken != "" && asksToUnsubscribe(msg) {
			return Report{Kind: KindUnsubscribe, Token: bouncesToken}
		}
	}

	rep.Token = bouncesToken
	if rep.Token == "" {
		rep.Token = tokenFromOriginal(orig)
	}
	if rep.Kind == KindUnknown || rep.Kind == KindAutoReply {
		// Callers ignore these; the token is kept only so that they can
		// log which delivery the noise was about.
		return Report{Kind: rep.Kind, Token: rep.Token}
	}
	return rep
}

// sanitized makes every field safe to store and display: bounce text comes
// in any charset and may carry NULs, which e.g. PostgreSQL rejects.
func (r Report) sanitized() Report {
	r.Recipient = clean(r.Recipient)
	r.Status = clean(r.Status)
	r.Diagnostic = clean(r.Diagnostic)
	r.MessageID = clean(r.MessageID)
	r.Token = clean(r.Token)
	r.FeedbackType = clean(r.FeedbackType)
	r.Reporter = clean(r.Reporter)
	return r
}

// clean makes s valid UTF-8, turns control characters and whitespace runs
// into single spaces, trims it and cuts it to maxFieldLen bytes on a rune
// boundary.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(s) <= maxFieldLen {
		return s
	}
	cut := maxFieldLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut])
}

// collapse joins whitespace runs, including line breaks from folding, into
// single spaces.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
