package bounce

import (
	"regexp"
	"strings"
)

// autoReplySubjectRe matches the subjects vacation and out-of-office
// responders use, in the languages utskick's subscribers write in.
var autoReplySubjectRe = regexp.MustCompile(`(?i)out\s+of\s+(?:the\s+)?office|automatic\s+reply|auto[\s-]?reply|auto[\s-]?response|autosvar|automatiskt?\s+svar|frånvaro|frånvarande|abwesenheit|vacation|réponse\s+automatique|^\s*auto:`)

// isAutoReply reports an automatic reply (RFC 3834 or a common
// non-standard shape). It is asked only after the DSN and ARF checks, and
// it must not swallow text bounces: Exim, for one, marks its bounces
// Auto-Submitted: auto-replied, so that field counts only when the mail
// system itself is not the sender.
func isAutoReply(h header) bool {
	subject := decodeHeader(h.get("subject"))
	if bounceSubjectRe.MatchString(subject) {
		return false
	}
	if autoReplySubjectRe.MatchString(subject) {
		return true
	}
	if h.has("x-autoreply") || h.has("x-autorespond") || h.has("x-autoresponder") {
		return true
	}
	if strings.EqualFold(strings.TrimSpace(h.get("precedence")), "auto_reply") {
		return true
	}
	submitted, _, _ := strings.Cut(strings.ToLower(h.get("auto-submitted")), ";")
	submitted = strings.TrimSpace(submitted)
	return submitted != "" && submitted != "no" && !isDaemonFrom(h)
}
