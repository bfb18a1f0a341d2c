package bounce

import (
	"regexp"
	"strings"
)

// Patterns for bounces that are not RFC 3464 reports: qmail, Exim, Postfix
// without its DSN part, Exchange NDR text, Gmail, and whatever else uses
// the usual wording. Words are joined by \s+ because the texts are wrapped
// at arbitrary points.
var (
	// bounceSubjectRe matches subjects of failure and delay notices. It
	// deliberately does not match "Delivery Status Notification (Success)".
	bounceSubjectRe = regexp.MustCompile(`(?i)undelivered\s+mail|mail\s+delivery\s+(?:failed|failure|problem)|delivery\s+status\s+notification\s*(?:\((?:failure|delay)\)|:\s*(?:error|failure|failed|warning|delay(?:ed)?)\b)|undeliverable|undelivered|failure\s+notice|returned\s+mail|delivery\s+failure|non-?delivery|delivery\s+(?:has\s+)?failed|could\s+not\s+be\s+delivered|delayed\s+mail|warning:\s+message\s+\S+\s+delayed|olevererbar|kunde\s+inte\s+levereras|unzustellbar|onbestelbaar`)

	// delaySubjectRe matches subjects that announce a delay warning.
	delaySubjectRe = regexp.MustCompile(`(?i)\(delay\)|delivery\s+status\s+notification:\s*(?:warning|delay)|delayed\s+mail|warning:\s+message\s+\S+\s+delayed|delivery\s+delayed|delay(?:ed)?\s+(?:notification|warning)`)

	// bouncePhraseRe is wording that only delivery failure notices use.
	bouncePhraseRe = regexp.MustCompile(`(?i)(?:could|was|were)\s*(?:n['’]t|\s+not)\s+(?:be\s+)?delivered|(?:not|n['’]t)\s+able\s+to\s+deliver|unable\s+to\s+deliver|undeliverable|undelivered|delivery\s+(?:has\s+)?failed|delivery\s+to\s+the\s+following\s+recipients?\s+failed|failed\s+to\s+deliver|returned\s+to\s+sender|permanent\s+(?:fatal\s+)?error|following\s+address(?:\(es\)|es)?\s+failed|mail\s+delivery\s+failed|delivery\s+incomplete|message\s+not\s+delivered|retry\s+time\s+not\s+reached|retry\s+timeout\s+exceeded|error\s+has\s+occurred\s+while\s+attempting\s+to\s+deliver|was\s+not\s+delivered\s+to|message\s+was\s+undeliverable|rejected\s+by\s+the\s+recipient|cannot\s+be\s+delivered`)

	// hardPhraseRe is wording that unambiguously means the address does
	// not exist, enough to call a bounce without a code hard.
	hardPhraseRe = regexp.MustCompile(`(?i)user\s+unknown|unknown\s+user|no\s+such\s+(?:user|mailbox|recipient|address)|does\s*(?:n['’]t|\s+not)\s+exist|no\s+longer\s+exists?|address\s+not\s+found|address\s+(?:couldn['’]t|could\s+not)\s+be\s+found|recipient\s+not\s+found|recip(?:ient)?notfound|no\s+mailbox\s+here\s+by\s+that\s+name|unknown\s+(?:local[\s-]+part|recipient|mailbox)|invalid\s+(?:recipient|mailbox)|(?:mailbox|recipient(?:['’]s\s+mailbox)?)\s+is\s+invalid|mailbox\s+not\s+found|unrouteable\s+address|not\s+listed\s+in\s+(?:the\s+)?(?:domino\s+|public\s+name\s+and\s+address\s+)?(?:directory|book)|invalid\s+final\s+delivery\s+userid|(?:does\s*(?:n['’]t|\s+not))\s+have\s+an?\s+\S+\s+account|(?:account|mailbox)(?:\s+that\s+you\s+tried\s+to\s+reach)?\s+(?:is|has\s+been)\s+(?:disabled|deactivated|inactive)`)

	// tempPhraseRe is wording of transient failures.
	tempPhraseRe = regexp.MustCompile(`(?i)temporar(?:y|ily)|retry\s+time\s+not\s+reached|retry\s+timeout\s+exceeded|try\s+again\s+later|\bdeferred\b`)

	// delayPhraseRe is wording of "not delivered yet, still trying". It
	// avoids bare "will try", which people write in vacation notices.
	delayPhraseRe = regexp.MustCompile(`(?i)has\s+not\s+(?:yet\s+)?been\s+delivered|not\s+(?:been\s+)?delivered\s+yet|delivery\s+(?:of\s+(?:this|your|the)\s+message\s+)?(?:is\s+|has\s+been\s+)?delayed|message\s+(?:is\s+|was\s+|has\s+been\s+)?delayed|will\s+(?:continue\s+to\s+|keep\s+)?re-?try|will\s+be\s+re-?tried|still\s+being\s+re-?tried|delivery\s+attempts\s+will\s+continue|message\s+is\s+delayed\s+for|only\s+a\s+temporary\s+failure\s+report|(?:do\s+not|don['’]t)\s+need\s+to\s+re-?send`)

	// warningOnlyRe marks a delay warning whatever else it says.
	warningOnlyRe = regexp.MustCompile(`(?i)this\s+is\s+a\s+warning(?:\s+message)?\s+only|only\s+a\s+temporary\s+failure\s+report|no\s+action\s+is\s+required\s+on\s+your\s+part`)

	// finalFailureRe is wording that the MTA has given up, which makes
	// "delay" wording describe the history rather than the present.
	finalFailureRe = regexp.MustCompile(`(?i)permanent(?:ly)?\s+(?:error|failure|fatal|failed)|given\s+up|giving\s+up|failed\s+permanently|will\s+not\s+be\s+retried|no\s+further\s+(?:delivery\s+)?attempts`)

	// originalMarkerRe matches the line after which a text bounce quotes
	// the original message. Text after it is our own mail, so it is not
	// searched for codes and phrases, only for the returned header.
	originalMarkerRe = regexp.MustCompile(`(?im)^[ \t>]*-*[ \t]*(?:below\s+this\s+line\s+is\s+a\s+copy\s+of\s+the\s+message|this\s+is\s+a\s+copy\s+of\s+the\s+message|original\s+message\s+headers|original\s+message\s+follows|returned\s+mail\s+follows|unsent\s+message\s+follows|below\s+is\s+a\s+copy\s+of\s+the\s+original\s+message|the\s+header\s+of\s+the\s+original\s+message|-+\s*original\s+message\s*-+).*$`)

	// headerStartRe finds the returned header when prose separates it from
	// the marker.
	headerStartRe = regexp.MustCompile(`(?im)^(?:return-path|received|message-id|from|date|dkim-signature|list-unsubscribe):`)

	inlineMsgIDRe = regexp.MustCompile(`(?im)^[ \t]*message-id:[ \t]*<([^<>\s]+)>`)

	// Recipient patterns, most specific first. qmail and Postfix write
	// "<a@b>: reason"; Exim names the address in "after RCPT TO:<a@b>";
	// Exchange puts it on the line above "#550 ..."; everyone else names
	// it shortly after one of the rcptIntroRe phrases.
	angleRcptRe    = regexp.MustCompile(`(?m)^[ \t]*<([^<>\s]+@[^<>\s]+)>:|^([^<>\s:]+@[^<>\s:]+): `)
	rcptToRe       = regexp.MustCompile(`(?i)rcpt\s+to:?\s*<([^<>\s]+@[^<>\s]+)>`)
	exchangeRcptRe = regexp.MustCompile(`(?m)^[ \t]*<?([^<>\s]+@[^<>\s]+?)>?[ \t]*(?:\([^)\n]*\))?[ \t]*\n[ \t]*#[45]\d\d`)
	rcptIntroRe    = regexp.MustCompile(`(?i)delivered\s+to|deliver\s+your\s+message\s+to|your\s+message\s+to|following\s+(?:e-?mail\s+)?(?:address(?:\(es\)|es)?|recipients?)|recipients\s+or\s+groups|been\s+delivered\s+is`)
)

// rcptWindow is how far after an introducing phrase the recipient may be.
const rcptWindow = 300

// isBounceSender reports a sender that only bounces come from. Return-Path
// <> alone is not enough for everything: RFC 3834 auto-replies use it too.
func isBounceSender(h header) bool {
	if strings.ReplaceAll(h.get("return-path"), " ", "") == "<>" {
		return true
	}
	return isDaemonFrom(h)
}

// isDaemonFrom reports a From of the mail system itself.
func isDaemonFrom(h header) bool {
	from := strings.ToLower(decodeHeader(h.get("from")))
	for _, s := range []string{"mailer-daemon", "mailerdaemon", "postmaster@", "mail delivery subsystem", "mail delivery system", "mail delivery service", "microsoftexchange"} {
		if strings.Contains(from, s) {
			return true
		}
	}
	return false
}

// hasBounceWording reports wording that a bounce has and a person's mail
// rarely does.
func hasBounceWording(s string) bool {
	return bouncePhraseRe.MatchString(s) || hardPhraseRe.MatchString(s) ||
		delayPhraseRe.MatchString(s) || fullRe.MatchString(s)
}

// parseTextBounce classifies a bounce from its wording. Unless known is
// set (the message is a DSN whose report part was unusable), it first
// decides whether the message is a bounce at all: a bounce subject, or a
// bounce sender together with bounce wording. Being conservative matters
// more than recall here: a false hard bounce unsubscribes a real person.
func parseTextBounce(msg *entity, known bool) (Report, header) {
	subject := decodeHeader(msg.header.get("subject"))
	analysis, inline := cutAtOriginal(humanText(msg))
	if !known && !bounceSubjectRe.MatchString(subject) &&
		!(isBounceSender(msg.header) && hasBounceWording(analysis)) {
		return Report{Kind: KindUnknown}, nil
	}

	orig := attachedOriginal(msg)
	if orig == nil {
		orig = inlineOriginal(inline)
	}
	msgID := messageID(orig)
	if msgID == "" {
		if m := inlineMsgIDRe.FindStringSubmatch(inline); m != nil {
			msgID = m[1]
		}
	}

	// A notice about several recipients is judged by what it says about
	// ours alone: another recipient's "mailbox full" says nothing about
	// the address we sent to.
	text := recipientSegment(analysis, sentTo(orig))
	status := statusFromText(text)
	rep := Report{
		Recipient:  textRecipient(text),
		Status:     status,
		Diagnostic: codeDiagnostic(text),
		MessageID:  msgID,
	}
	if rep.Diagnostic == "" {
		rep.Diagnostic = reasonLine(text)
	}

	delayed := warningOnlyRe.MatchString(analysis) || delaySubjectRe.MatchString(subject) ||
		(delayPhraseRe.MatchString(analysis) && !finalFailureRe.MatchString(analysis))
	if delayed {
		rep.Kind = KindDelayed
	} else {
		rep.Kind = FailureKind(status, text)
	}
	return rep, orig
}

// sentTo returns the lower-case addresses the returned original message
// was addressed to: the subscriber, as utskick sends one message per
// recipient.
func sentTo(orig header) []string {
	var out []string
	for _, v := range orig.values("to") {
		out = append(out, addresses(decodeHeader(v))...)
	}
	return out
}

// rcptLineRe matches the line that opens one recipient's part of a text
// notice: qmail's and Postfix's "<a@b>:", Exim's indented "  a@b" on a
// line of its own, and OpenSMTPD's "a@b: reason".
var rcptLineRe = regexp.MustCompile(`(?m)^(?:[ \t]*<([^<>\s]+@[^<>\s]+)>:|[ \t]{1,4}([^<>\s:]+@[^<>\s:]+)[ \t]*$|([^<>\s:]+@[^<>\s:]+): )`)

// recipientSegment cuts a notice that lists several recipients down to
// its introduction and the part about the recipient we sent to (the first
// listed when none of them is ours). A notice about one recipient comes
// back as it is.
func recipientSegment(text string, ours []string) string {
	locs := rcptLineRe.FindAllStringSubmatchIndex(text, 50)
	type seg struct {
		addr       string
		start, end int
	}
	var segs []seg
	distinct := map[string]bool{}
	for _, m := range locs {
		addr := ""
		for g := 1; g <= 3; g++ {
			if m[2*g] >= 0 {
				addr = strings.ToLower(text[m[2*g]:m[2*g+1]])
			}
		}
		if _, _, ours := TokenFromAddress(addr); ours {
			continue
		}
		if n := len(segs); n > 0 {
			if segs[n-1].addr == addr {
				continue // the same recipient named again in its own part
			}
			segs[n-1].end = m[0]
		}
		segs = append(segs, seg{addr: addr, start: m[0], end: len(text)})
		distinct[addr] = true
	}
	if len(distinct) < 2 {
		return text
	}
	pick := segs[0]
	for _, s := range segs {
		if contains(ours, s.addr) {
			pick = s
			break
		}
	}
	return text[:segs[0].start] + text[pick.start:pick.end]
}

// cutAtOriginal splits a bounce text into the bounce's own words and the
// quoted original message after the marker line (empty if there is none).
func cutAtOriginal(text string) (analysis, inline string) {
	loc := originalMarkerRe.FindStringIndex(text)
	if loc == nil {
		return text, ""
	}
	return text[:loc[0]], text[loc[1]:]
}

// inlineOriginal parses the header of an original message quoted in a
// text bounce, or returns nil.
func inlineOriginal(inline string) header {
	s := strings.TrimLeft(inline, " \t\r\n")
	if s == "" {
		return nil
	}
	if h, _, ok := readHeader([]byte(s)); ok && len(h) > 0 {
		return h
	}
	loc := headerStartRe.FindStringIndex(s)
	if loc == nil {
		return nil
	}
	h, _, _ := readHeader([]byte(s[loc[0]:]))
	return h
}

// textRecipient finds the failed recipient in a bounce text.
func textRecipient(analysis string) string {
	for _, m := range angleRcptRe.FindAllStringSubmatch(analysis, 20) {
		if a, ok := acceptRecipient(m[1] + m[2]); ok {
			return a
		}
	}
	for _, loc := range rcptIntroRe.FindAllStringIndex(analysis, 20) {
		window := analysis[loc[1]:min(loc[1]+rcptWindow, len(analysis))]
		for _, addr := range addrRe.FindAllString(window, 10) {
			if a, ok := acceptRecipient(addr); ok {
				return a
			}
		}
	}
	for _, re := range []*regexp.Regexp{rcptToRe, exchangeRcptRe} {
		for _, m := range re.FindAllStringSubmatch(analysis, 20) {
			if a, ok := acceptRecipient(m[1]); ok {
				return a
			}
		}
	}
	return ""
}

// acceptRecipient rejects addresses a bounce text names that are not the
// failed recipient: our own token addresses and the mail system's.
func acceptRecipient(addr string) (string, bool) {
	a := strings.ToLower(strings.Trim(addr, "<>.,;:"))
	local, domain, found := strings.Cut(a, "@")
	if !found || local == "" || !strings.Contains(domain, ".") {
		return "", false
	}
	if _, _, ours := TokenFromAddress(a); ours {
		return "", false
	}
	switch local {
	case "mailer-daemon", "postmaster", "mailerdaemon":
		return "", false
	}
	return a, true
}

// codeLine returns the diagnostic starting at the reply code text[pos:end]:
// the rest of its line plus the lines after it that are indented deeper,
// which is how Postfix and Exim wrap a long server reply. A code that ends
// its line with nothing wrapped after it, like qmail's "Sorry, no mailbox
// here by that name. (#5.1.1)", is explained by what precedes it, so the
// whole line is taken instead.
func codeLine(text string, pos, end int) string {
	lineStart := strings.LastIndexByte(text[:pos], '\n') + 1
	indent := indentOf(text[lineStart:])
	line, rest, _ := strings.Cut(text[pos:], "\n")
	var wrapped []string
	for size := len(line); size < maxFieldLen && rest != ""; {
		var next string
		next, rest, _ = strings.Cut(rest, "\n")
		if strings.TrimSpace(next) == "" || indentOf(next) <= indent {
			break
		}
		wrapped = append(wrapped, next)
		size += len(next)
	}
	bare := strings.Trim(line[end-pos:], " \t)]#'\".,;:0123456789") == ""
	if bare && len(wrapped) == 0 {
		return collapse(text[lineStart:pos] + line)
	}
	d := strings.TrimRight(collapse(line+" "+strings.Join(wrapped, " ")), " #")
	// Exchange wraps its code line in "#...##" or quotes it; sendmail
	// writes "(reason: ...)". The wrapper is not part of the reply.
	if pos > 0 && (text[pos-1] == '\'' || text[pos-1] == '"') {
		d = strings.TrimSuffix(d, text[pos-1:pos])
	}
	if strings.HasSuffix(d, ")") && strings.Count(d, ")") > strings.Count(d, "(") {
		d = d[:len(d)-1]
	}
	return d
}

// codeDiagnostic returns the diagnostic at the first reply code in text,
// or "". With "550 5.1.1 ..." it starts at the basic code.
func codeDiagnostic(text string) string {
	enhanced, pos, basic, basicAt := findCodes(text)
	end := pos + len(enhanced)
	if basicAt >= 0 && (pos < 0 || basicAt < pos) {
		pos, end = basicAt, basicAt+len(basic)
	}
	if pos < 0 {
		return ""
	}
	return codeLine(text, pos, end)
}

// reasonLine returns the line with the most telling phrase of a bounce
// without a code (transient wording first, as it decides the kind), or
// else its first non-blank line.
func reasonLine(text string) string {
	for _, re := range []*regexp.Regexp{tempPhraseRe, hardPhraseRe, fullRe, bouncePhraseRe} {
		if loc := re.FindStringIndex(text); loc != nil {
			start := strings.LastIndexByte(text[:loc[0]], '\n') + 1
			end := len(text)
			if i := strings.IndexByte(text[loc[0]:], '\n'); i >= 0 {
				end = loc[0] + i
			}
			return collapse(text[start:end])
		}
	}
	for line := range strings.Lines(text) {
		if l := collapse(line); l != "" {
			return l
		}
	}
	return ""
}

func indentOf(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t"))
}
