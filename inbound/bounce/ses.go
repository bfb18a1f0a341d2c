package bounce

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Amazon SES reports bounces and complaints as JSON notifications, not as
// mail: published to an SNS topic, they reach utskick either posted as
// they are or as the body of the mail an SNS e-mail subscription sends.
// Both the SES notification ("notificationType") and SES event publishing
// ("eventType") shapes are read, bare or inside the SNS envelope.

// snsEnvelope is the part of an SNS notification that carries the message.
type snsEnvelope struct {
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// sesNotification is the part of an SES notification utskick uses.
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		ReportingMTA      string `json:"reportingMTA"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		UserAgent             string `json:"userAgent"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Mail struct {
		Source      string   `json:"source"`
		MessageID   string   `json:"messageId"`
		Destination []string `json:"destination"`
		Headers     []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// parseNotificationJSON reads b as an SES notification, bare or in an SNS
// envelope. Only the first JSON value counts: the mail SNS sends adds a
// footer after it. ok is false when b is not such a notification.
func parseNotificationJSON(b []byte) (Report, bool) {
	b = bytes.TrimLeft(b, " \t\r\n\xef\xbb\xbf")
	if len(b) == 0 || b[0] != '{' {
		return Report{}, false
	}
	var raw json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&raw); err != nil {
		return Report{}, false
	}
	var env snsEnvelope
	if json.Unmarshal(raw, &env) == nil && env.Type == "Notification" && env.Message != "" {
		raw = json.RawMessage(env.Message)
	}
	var n sesNotification
	if err := json.Unmarshal(raw, &n); err != nil {
		return Report{}, false
	}
	typ := n.NotificationType
	if typ == "" {
		typ = n.EventType
	}
	if typ == "" {
		return Report{}, false
	}
	rep := Report{Kind: KindUnknown, MessageID: strings.Trim(n.Mail.CommonHeaders.MessageID, "<> ")}
	if rep.MessageID == "" {
		for _, h := range n.Mail.Headers {
			if strings.EqualFold(h.Name, "message-id") {
				rep.MessageID = strings.Trim(h.Value, "<> ")
			}
		}
	}
	if _, tok, ok := TokenFromAddress(n.Mail.Source); ok {
		rep.Token = tok
	} else {
		var orig header
		for _, h := range n.Mail.Headers {
			orig = append(orig, field{name: strings.ToLower(h.Name), value: h.Value})
		}
		rep.Token = tokenFromOriginal(orig)
	}
	switch {
	case typ == "Bounce" && n.Bounce != nil:
		b := n.Bounce
		rep.Reporter = stripType(b.ReportingMTA)
		if len(b.BouncedRecipients) > 0 {
			r := b.BouncedRecipients[0]
			for _, x := range b.BouncedRecipients {
				if contains(lower(n.Mail.Destination), strings.ToLower(x.EmailAddress)) {
					r = x
					break
				}
			}
			rep.Recipient = strings.ToLower(strings.TrimSpace(r.EmailAddress))
			rep.Diagnostic = stripType(r.DiagnosticCode)
			rep.Status = parseStatus(r.Status)
		}
		if rep.Status == "" {
			rep.Status = statusFromText(rep.Diagnostic)
		}
		rep.Kind = sesBounceKind(b.BounceType, b.BounceSubType, rep.Status, rep.Diagnostic)
	case typ == "Complaint" && n.Complaint != nil:
		c := n.Complaint
		rep.FeedbackType = strings.ToLower(strings.TrimSpace(c.ComplaintFeedbackType))
		if rep.FeedbackType == "not-spam" {
			return Report{Kind: KindUnknown, Token: rep.Token}, true
		}
		rep.Kind, rep.Reporter = KindComplaint, c.UserAgent
		if len(c.ComplainedRecipients) > 0 {
			rep.Recipient = strings.ToLower(strings.TrimSpace(c.ComplainedRecipients[0].EmailAddress))
		}
	default:
		// Delivery, Send, Open and the other event types: nothing to do.
		return Report{Kind: KindUnknown, Token: rep.Token}, true
	}
	return rep, true
}

// sesBounceKind maps SES's bounce type and subtype, and the remote
// server's own status and text where SES passes them on: a "Permanent"
// bounce SES calls "General" can still be a DMARC rejection.
func sesBounceKind(bounceType, subType, status, diag string) Kind {
	switch subType {
	case "MessageTooLarge", "ContentRejected", "AttachmentRejected":
		return KindPolicyBounce
	case "MailboxFull":
		return KindSoftBounce
	case "NoEmail", "Suppressed", "OnAccountSuppressionList":
		// The address does not exist, or SES refuses it because it
		// recently bounced as one that does not.
		return KindHardBounce
	}
	switch bounceType {
	case "Permanent":
		if status == "" {
			status = "5.0.0"
		}
		return FailureKind(status, diag)
	case "Transient":
		if k := FailureKind(status, diag); k == KindPolicyBounce {
			return k
		}
		return KindSoftBounce
	default: // "Undetermined"
		return KindSoftBounce
	}
}

// notificationInBody finds an SES notification in the plain-text body of
// a mail from an SNS e-mail subscription.
func notificationInBody(msg *entity) (Report, bool) {
	if len(msg.parts) > 0 || (msg.mediaType != "text/plain" && msg.mediaType != "application/json") {
		return Report{}, false
	}
	return parseNotificationJSON(msg.body)
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}
