package bounce

import (
	"regexp"
	"strconv"
	"strings"
)

// numericRunRe matches maximal runs like "550", "5.1.1" or "192.0.2.1".
// Codes are recognised by inspecting whole runs, so an IP address or a
// version number is never mistaken for the code hidden inside it.
var numericRunRe = regexp.MustCompile(`[0-9]+(?:\.[0-9]+)*`)

// isEnhanced reports whether run is an RFC 3463 enhanced status code
// (class.subject.detail) whose class is one of classes.
func isEnhanced(run, classes string) bool {
	parts := strings.Split(run, ".")
	return len(parts) == 3 &&
		len(parts[0]) == 1 && strings.Contains(classes, parts[0]) &&
		len(parts[1]) >= 1 && len(parts[1]) <= 3 &&
		len(parts[2]) >= 1 && len(parts[2]) <= 3
}

// isBasic reports whether run is an SMTP failure reply code. Only the
// ranges SMTP servers actually use (421-459, 500-559) are accepted, which
// keeps port numbers and the like out.
func isBasic(run string) bool {
	return len(run) == 3 &&
		(run[0] == '4' && run[1] >= '2' && run[1] <= '5' ||
			run[0] == '5' && run[1] >= '0' && run[1] <= '5')
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// findCodes returns the first failure enhanced status code and the first
// basic SMTP reply code in free text, with their offsets (-1 if absent).
func findCodes(s string) (enhanced string, enhancedAt int, basic string, basicAt int) {
	enhancedAt, basicAt = -1, -1
	for off := 0; off < len(s) && (enhancedAt < 0 || basicAt < 0); {
		loc := numericRunRe.FindStringIndex(s[off:])
		if loc == nil {
			break
		}
		start, end := off+loc[0], off+loc[1]
		off = end
		var prev, next byte
		if start > 0 {
			prev = s[start-1]
		}
		if end < len(s) {
			next = s[end]
		}
		// A code is a word of its own; "550-5.1.1" (a multi-line reply)
		// is the one place where a hyphen may touch one.
		if isWordByte(prev) || isWordByte(next) || prev == '.' || prev == '+' {
			continue
		}
		run := s[start:end]
		switch {
		case enhancedAt < 0 && isEnhanced(run, "45"):
			enhanced, enhancedAt = run, start
		case basicAt < 0 && prev != '-' && isBasic(run):
			basic, basicAt = run, start
		}
	}
	return enhanced, enhancedAt, basic, basicAt
}

// statusFromText derives a status from free text: the first enhanced code,
// else the class of the first basic reply code as X.0.0.
func statusFromText(s string) string {
	enhanced, _, basic, _ := findCodes(s)
	switch {
	case enhanced != "":
		return enhanced
	case basic != "":
		return basic[:1] + ".0.0"
	default:
		return ""
	}
}

// parseStatus returns the enhanced code that starts a DSN Status field
// ("5.1.1", "4.4.7 (delivery time expired)"), or "" if it has none.
func parseStatus(v string) string {
	v = strings.TrimSpace(v)
	run := numericRunRe.FindString(v)
	if run == "" || !strings.HasPrefix(v, run) || !isEnhanced(run, "245") {
		return ""
	}
	return run
}

// statusClass returns the class digit of an enhanced status, or 0.
func statusClass(status string) byte {
	if status == "" {
		return 0
	}
	return status[0]
}

// fullRe matches the ways servers say a mailbox is over its quota.
var fullRe = regexp.MustCompile(`(?i)mailbox\s+(?:is\s+)?full|quota\s+exceeded|over\s*quota|exceeded\s+(?:the\s+|its\s+|their\s+|your\s+)?(?:storage\s+|mailbox\s+|disk\s+)?(?:quota|storage\s+allocation)|insufficient\s+(?:system\s+)?storage|mailbox\s+size\s+limit\s+exceeded|user\s+is\s+over\s+(?:the\s+)?quota`)

// isMailboxFull reports a full mailbox, by RFC 3463 X.2.2 or by wording.
// A full mailbox is usually temporary whatever the class the server chose,
// so it is treated as soft even under a 5.x.x code.
func isMailboxFull(status, text string) bool {
	return len(status) == 5 && status[1:] == ".2.2" || fullRe.MatchString(text)
}

// policyRe is wording of a rejection for the sender's sake rather than the
// recipient's: a block list or poor reputation, spam or content filters,
// failed SPF/DKIM/DMARC, relaying, rate limits, greylisting, an oversized
// or malformed message. None of it says anything about the address, so a
// policy rejection must never suppress it. It is matched against
// lower-cased text: without (?i) Go's matcher does not fold every rune of a
// long notice through all the alternatives.
var policyRe = regexp.MustCompile(
	`spamhaus|spamcop|barracuda|\bsorbs\b|\bsurbl\b|\buribl\b|\bdnsbl\b|\brbl\b|` +
		`\bblock(?:ed|ing)?\b|block\s*list|black\s*list|deny\s*list|\blisted\s+(?:on|in|at|by)\b|` +
		`\[(?:bl|ph|ts|tss|hm|rl|gl)\d\d\]|\(s3150\)|\b(?:sc|dy|ou|cs)-00\d\b|messages?\s+from\s+\S+\s+(?:weren['’]t|were\s+not)\s+sent|` +
		`reputation|\bspam\b|unsolicited|bulk\s+mail|\bjunk\b|` +
		`content\s+(?:restrictions?|filter(?:ing)?|rejected|policy)|message\s+content|(?:rejected|refused|blocked|not\s+accepted)\b[^.\n]{0,40}\bcontent\b|unacceptable\s+content|` +
		`\bvirus(?:es)?\b|malware|phish|suspicious|security\s+issue|` +
		`\bpolic(?:y|ies)\b|dmarc|\bspf\b|\bdkim\b|unauthenticated|not\s+authenticated|authentication\s+(?:required|failed|failure|checks|results)|` +
		`not\s+(?:authori[sz]ed|allowed|permitted)|access\s+denied|` +
		`relay(?:ing)?\s+(?:access\s+)?(?:denied|not\s+permitted|prohibited)|unable\s+to\s+relay|(?:does\s*(?:n['’]t|\s+not))\s+relay|administrative\s+prohibition|prohibited|` +
		`sender\s+(?:address\s+)?(?:rejected|denied|blocked|verify\s+failed)|domain\s+of\s+sender|sender\s+domain|client\s+host\s+rejected|` +
		`\bhelo\b|\behlo\b|reverse\s+dns|\bptr\b|\brdns\b|` +
		`banned|gr[ae]ylist|rate[\s-]*limit|unusual\s+rate|unexpected\s+volume|user\s+complaints|too\s+many\s+(?:messages|connections|recipients)|` +
		`message\s+(?:size|too\s+(?:big|large|long))|size\s+exceeds|exceeds\s+(?:the\s+)?(?:fixed\s+)?(?:maximum\s+)?(?:message\s+)?size|` +
		`invalid\s+mime|mime\s+content|external\s+forwarding`)

// isPolicy reports wording of a policy rejection.
func isPolicy(text string) bool { return policyRe.MatchString(strings.ToLower(text)) }

// statusParts splits an enhanced status into class, subject and detail
// numbers; ok is false for "" and malformed codes.
func statusParts(status string) (class byte, subject, detail int, ok bool) {
	parts := strings.Split(status, ".")
	if len(parts) != 3 || len(parts[0]) != 1 {
		return 0, 0, 0, false
	}
	s, err1 := strconv.Atoi(parts[1])
	d, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return parts[0][0], s, d, true
}

// FailureKind decides what a delivery failure means from its RFC 3463
// status (possibly "") and the text that explains it, whether a DSN
// reported it or the server said it during the SMTP conversation: the
// address is gone (hard), it may work later (soft), or the receiving side
// refused us for a reason of its own (policy). The enhanced code decides
// where it is precise; wording decides where codes are generic or
// missing. The text must be about this one recipient only.
func FailureKind(status, text string) Kind {
	class, subject, detail, coded := statusParts(status)
	policy, hard := isPolicy(text), hardPhraseRe.MatchString(text)
	switch {
	case isMailboxFull(status, text) && !policy:
		return KindSoftBounce
	case coded && subject == 7:
		// X.7.x is "security or policy status". Some servers still say
		// "no such user" under 5.7.1; believe them only when nothing in
		// the text is about policy.
		if class == '5' && hard && !policy {
			return KindHardBounce
		}
		return KindPolicyBounce
	case coded && subject == 1 && (detail == 7 || detail == 8):
		return KindPolicyBounce // bad sender address: ours, not theirs
	case coded && subject == 4 && detail == 1 && class == '5' && strings.Contains(strings.ToLower(text), "recipient address rejected"):
		// Exchange Online's directory-based edge blocking: the recipient
		// is not in the directory, whatever "access denied" says.
		return KindHardBounce
	case coded && (subject == 3 && detail == 4 || subject == 2 && detail == 3 || subject == 6):
		return KindPolicyBounce // our message is too big or malformed
	case coded && subject == 4 && (detail == 6 || detail == 7):
		return KindSoftBounce // routing loop, delivery time expired
	case coded && class == '5' && subject == 1 && !(policy && !hard):
		return KindHardBounce // the address: mailbox, domain, syntax, moved, null MX
	case policy && !hard:
		return KindPolicyBounce
	case coded && class == '5' && subject == 2 && detail != 1:
		return KindSoftBounce // mailbox status other than disabled: full, limits
	case class == '5':
		return KindHardBounce
	case class == '4':
		return KindSoftBounce
	case tempPhraseRe.MatchString(text):
		return KindSoftBounce
	case hard:
		return KindHardBounce
	default:
		// Clearly a failure, but nothing says it is permanent.
		return KindSoftBounce
	}
}
