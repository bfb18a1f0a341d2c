package bounce

import (
	"regexp"
	"strings"
)

// People answer a newsletter with "unsubscribe" and their mail program
// sends the answer to the envelope sender, the bounces+<token>@ address.
// Such a message asks to leave as clearly as the List-Unsubscribe mailto
// does, so it is honoured, but only when it says nothing else: the
// subject, or the first line the person wrote, starts with one of these
// words and is short.
var unsubscribeWordRe = regexp.MustCompile(`(?i)^(?:(?:please|pls|kindly|vänligen|snälla)\s+(?:unsubscribe|avregistrera)|unsubscribe|unsub\b|remove(?:\s+me)?\b|stop\b|stopp\b|avregistrera|avanmäl|avsluta|sluta\s+skicka|abmelden|désinscri|desinscri)`)

// replyPrefixRe strips the reply prefixes mail programs add to a subject.
var replyPrefixRe = regexp.MustCompile(`(?i)^(?:(?:re|sv|aw|vs|antw|réf|ref)\s*(?:\[\d+\])?\s*:\s*)+`)

// maxUnsubscribeLine bounds the line that may ask to unsubscribe; a longer
// one is a message about something else.
const maxUnsubscribeLine = 80

// asksToUnsubscribe reports a person's message whose subject or first
// written line asks to unsubscribe. It is asked only of messages that are
// not bounces, reports or automatic replies.
func asksToUnsubscribe(msg *entity) bool {
	if isDaemonFrom(msg.header) {
		return false
	}
	subject := strings.TrimSpace(decodeHeader(msg.header.get("subject")))
	if strings.HasPrefix(strings.ToLower(subject), "fw") {
		return false // a forward of the newsletter, not an answer to it
	}
	if s := replyPrefixRe.ReplaceAllString(subject, ""); len(s) <= maxUnsubscribeLine && unsubscribeWordRe.MatchString(s) {
		return true
	}
	for line := range strings.Lines(humanText(msg)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		return len(line) <= maxUnsubscribeLine && unsubscribeWordRe.MatchString(line)
	}
	return false
}
