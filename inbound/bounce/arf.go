package bounce

import "strings"

// feedbackTypes is the machine-readable part of an RFC 5965 (ARF) report.
var feedbackTypes = []string{"message/feedback-report"}

// parseARF classifies a message carrying a feedback-report part. Like
// parseDSN it trusts the part itself rather than the report-type parameter.
func parseARF(msg, part *entity) (Report, header) {
	orig := attachedOriginal(msg)

	// The report is one field block; merging any further blocks keeps
	// fields that a sloppy generator separated with a blank line.
	var fields header
	for _, b := range fieldBlocks(part.body) {
		fields = append(fields, b...)
	}

	feedbackType := ""
	if f := strings.Fields(strings.ToLower(fields.get("feedback-type"))); len(f) > 0 {
		feedbackType = f[0]
	}
	switch feedbackType {
	case "not-spam":
		// The recipient rescued the message from the spam folder.
		return Report{Kind: KindUnknown}, orig
	case "auth-failure":
		// RFC 6591 authentication failure reports are DMARC/SPF forensics
		// about our domain, not a subscriber complaining; suppressing the
		// recipient for them would be wrong.
		return Report{Kind: KindUnknown}, orig
	}

	reporter := stripType(fields.get("reporting-mta"))
	if reporter == "" {
		reporter = collapse(fields.get("user-agent"))
	}
	recipient := normalizeAddress(fields.get("original-rcpt-to"))
	if !strings.Contains(recipient, "@") {
		recipient = "" // redacted by the reporter, e.g. "xxxxxxxx"
	}
	analysis, _ := cutAtOriginal(humanText(msg))
	return Report{
		Kind:         KindComplaint,
		Recipient:    recipient,
		Diagnostic:   collapse(analysis),
		MessageID:    messageID(orig),
		FeedbackType: feedbackType,
		Reporter:     reporter,
	}, orig
}
