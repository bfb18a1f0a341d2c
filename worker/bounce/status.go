package bounce

import (
	"regexp"
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
