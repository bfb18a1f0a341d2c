package mailer

import (
	"context"
	"errors"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	"github.com/storsthlm/utskick/inbound/bounce"
)

// Class is what an SMTP outcome means for the delivery.
type Class int

// Outcome classes.
const (
	Sent      Class = iota // 2xx: the server took responsibility for the message
	Temporary              // 4xx or a network failure: try again later
	Permanent              // 5xx: do not try again
)

func (c Class) String() string {
	return [...]string{"sent", "temporary", "permanent"}[c]
}

// Result is the classified outcome of one send.
type Result struct {
	Class    Class
	Code     int    // basic reply code, 0 for network errors
	Enhanced string // RFC 3463 enhanced status code, e.g. "5.1.1", if the server gave one
	Text     string // the server's text (or the error), for the delivery record
	// Reconnect says the session is unusable: 421, a dropped connection,
	// a timeout. The other messages of the batch go on over a new one.
	Reconnect bool
	// HardBounce says the address itself does not exist (5.1.x, or a 550
	// saying so); it is suppressed so no later campaign tries it again.
	HardBounce bool
	// Policy says a permanent failure is the receiver refusing us, not
	// the address: DMARC or SPF, a block list, a content filter (5.7.x,
	// a bad sender address, or a 5xx saying so). The address is never
	// suppressed for it.
	Policy bool
}

var enhancedRE = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})\b`)

var noSuchUser = regexp.MustCompile(`(?i)(no such (user|mailbox|recipient)|user unknown|unknown user|mailbox (unavailable|not found)|does not exist|recipient (address )?rejected: user|address rejected|invalid recipient)`)

// policyOf judges a 5xx reply with the same rules as a bounce reported
// later, so that a refusal means the same whether it came during the SMTP
// conversation or in a DSN.
func policyOf(code int, enhanced, text string) bool {
	status := enhanced
	if status == "" {
		status = strconv.Itoa(code/100) + ".0.0"
	}
	return bounce.FailureKind(status, text) == bounce.KindPolicyBounce
}

// Classify turns the error of one SMTP transaction into a Result, after
// RFC 5321 §4.2 (reply codes) and RFC 3463 (enhanced codes). It is the one
// place that decides whether a failure is retried.
func Classify(err error) Result {
	if err == nil {
		return Result{Class: Sent, Code: 250}
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		r := Result{Code: tp.Code, Text: strings.TrimSpace(tp.Msg)}
		if m := enhancedRE.FindStringSubmatch(r.Text); m != nil {
			r.Enhanced = m[1] + "." + m[2] + "." + m[3]
		}
		switch {
		case tp.Code >= 200 && tp.Code < 300:
			r.Class = Sent
		case tp.Code >= 500 && tp.Code < 600:
			r.Class = Permanent
			// 5.1.x is about the address: bad mailbox (1), bad domain (2),
			// bad syntax (3), moved (6), null MX (10). Without an enhanced
			// code, trust only an unambiguous text on a 550.
			sub, _ := strconv.Atoi(strings.Split(r.Enhanced+"..", ".")[1])
			r.HardBounce = r.Enhanced != "" && sub == 1 && r.Enhanced[0] == '5' ||
				r.Enhanced == "" && tp.Code == 550 && noSuchUser.MatchString(r.Text)
		case tp.Code == 421:
			// "Service not available, closing transmission channel".
			r.Class, r.Reconnect = Temporary, true
		default:
			// 4xx, and codes outside the RFC's ranges: retry.
			r.Class = Temporary
		}
		if r.Enhanced != "" && r.Enhanced[0] != byte('0'+tp.Code/100) {
			// An enhanced code whose class contradicts the basic code is
			// ignored, as RFC 3463 §2 asks.
			r.Enhanced, r.HardBounce = "", false
		}
		if r.Class == Permanent && policyOf(tp.Code, r.Enhanced, r.Text) {
			// "550 5.7.1 ... blocked using Spamhaus", "5.1.8 Sender
			// address rejected", "554 Message rejected due to content":
			// nothing is wrong with the address.
			r.Policy, r.HardBounce = true, false
		}
		return r
	}
	// Anything else went wrong on the way: the connection, a timeout, the
	// context. Nothing says the message was refused, so it is retried
	// over a fresh connection.
	r := Result{Class: Temporary, Text: err.Error(), Reconnect: true}
	if errors.Is(err, context.Canceled) {
		r.Text = "cancelled: " + r.Text
	}
	return r
}
