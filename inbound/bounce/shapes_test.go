package bounce

import (
	"strings"
	"testing"
)

// TestParseShapes covers rule edges that are clearer as a few inline lines
// than as another fixture file.
func TestParseShapes(t *testing.T) {
	const tok = "aaaabbbbccccddddeeeeffffgggg2345"
	const bouncesTo = "To: bounces+" + tok + "@" + domain + "\n"
	dsn := func(statusPart string) string {
		return "From: MAILER-DAEMON@x.example\n" + bouncesTo +
			"Subject: Undelivered Mail Returned to Sender\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
			"--b\nContent-Type: text/plain\n\n" +
			"<a.b@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1 No such user\n\n" +
			"--b\nContent-Type: message/delivery-status\n\n" + statusPart + "\n--b--\n"
	}
	arf := func(report string) string {
		return "From: fbl@feedback.example\nTo: fbl@" + domain + "\nSubject: report\n" +
			"Content-Type: multipart/report; report-type=feedback-report; boundary=f\n\n" +
			"--f\nContent-Type: text/plain\n\nA complaint.\n\n" +
			"--f\nContent-Type: message/feedback-report\n\n" + report + "\n" +
			"--f\nContent-Type: text/rfc822-headers\n\nReturn-Path: <bounces+" + tok + "@" + domain + ">\nMessage-ID: <m1@" + domain + ">\n\n--f--\n"
	}
	text := func(from, subject, body string) string {
		return "From: " + from + "\n" + bouncesTo + "Subject: " + subject + "\n\n" + body
	}
	tests := []struct {
		name string
		raw  string
		want Report
	}{
		{
			name: "DSN with an empty status part falls back to the text",
			raw:  dsn("Reporting-MTA: dns; x.example\n"),
			want: Report{Kind: KindHardBounce, Recipient: "a.b@example.com", Status: "5.1.1",
				Diagnostic: "550 5.1.1 No such user", Token: tok, Reporter: "x.example"},
		},
		{
			name: "DSN recipient without Action is inferred failed from Status",
			raw:  dsn("Reporting-MTA: dns; x.example\n\nFinal-Recipient: rfc822; <C.D@example.com>\nStatus: 5.1.1\n"),
			want: Report{Kind: KindHardBounce, Recipient: "c.d@example.com", Status: "5.1.1",
				Diagnostic: "550 5.1.1 No such user", Token: tok, Reporter: "x.example"},
		},
		{
			name: "DSN status derived from a basic code",
			raw: dsn("Final-Recipient: rfc822; e@example.com\nAction: failed\n" +
				"Diagnostic-Code: smtp; 550 Requested action not taken: mailbox unavailable\n"),
			want: Report{Kind: KindHardBounce, Recipient: "e@example.com", Status: "5.0.0",
				Diagnostic: "550 Requested action not taken: mailbox unavailable", Token: tok},
		},
		{
			name: "DSN failed without any code is soft",
			raw:  dsn("Final-Recipient: rfc822; e@example.com\nAction: failed\nDiagnostic-Code: x-unix; delivery refused\n"),
			want: Report{Kind: KindSoftBounce, Recipient: "e@example.com", Diagnostic: "delivery refused", Token: tok},
		},
		{
			name: "DSN first failed recipient wins over an earlier delayed one",
			raw: dsn("Final-Recipient: rfc822; late@example.com\nAction: delayed\nStatus: 4.4.1\n\n" +
				"Final-Recipient: rfc822; gone@example.com\nAction: failed (bad address)\nStatus: 5.1.1 (no such user)\n"),
			want: Report{Kind: KindHardBounce, Recipient: "gone@example.com", Status: "5.1.1",
				Diagnostic: "550 5.1.1 No such user", Token: tok},
		},
		{
			name: "DSN with RFC 6533 escaped recipient",
			raw:  dsn("Final-Recipient: rfc822; \\x{C5}sa@exempel.se\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 unknown\n"),
			want: Report{Kind: KindHardBounce, Recipient: "åsa@exempel.se", Status: "5.1.1", Diagnostic: "550 5.1.1 unknown", Token: tok},
		},
		{
			name: "DSN found despite a Content-Type mime rejects",
			raw: strings.Replace(dsn("Final-Recipient: rfc822; e@example.com\nAction: failed\nStatus: 5.1.1\n"),
				"boundary=b", "boundary=b; boundary=other", 1),
			want: Report{Kind: KindHardBounce, Recipient: "e@example.com", Status: "5.1.1",
				Diagnostic: "550 5.1.1 No such user", Token: tok},
		},
		{
			name: "ARF auth-failure is not a complaint",
			raw:  arf("Feedback-Type: auth-failure\nUser-Agent: X/1\nVersion: 1\n"),
			want: Report{Kind: KindUnknown, Token: tok},
		},
		{
			name: "ARF redacted recipient, User-Agent as reporter",
			raw:  arf("Feedback-Type: Fraud\nUser-Agent: ExampleFBL/1.0\nVersion: 1\nOriginal-Rcpt-To: xxxxxxxx\n"),
			want: Report{Kind: KindComplaint, Diagnostic: "A complaint.", MessageID: "m1@" + domain,
				Token: tok, FeedbackType: "fraud", Reporter: "ExampleFBL/1.0"},
		},
		{
			name: "auto-submitted reply from a person",
			raw:  "From: Kim <kim@example.com>\n" + bouncesTo + "Auto-Submitted: auto-replied\nSubject: Re: Juni\n\nThanks, I could not be reached.\n",
			want: Report{Kind: KindAutoReply, Token: tok},
		},
		{
			name: "vacation notice without markers is not a delay",
			raw:  "Return-Path: <>\nFrom: Kim <kim@example.com>\n" + bouncesTo + "Subject: Away\n\nI will try to answer next week, still trying to catch up.\n",
			want: Report{Kind: KindUnknown, Token: tok},
		},
		{
			name: "quoted code ending its line",
			raw:  text("MAILER-DAEMON@x.example", "Undeliverable: x", "Remote server returned '550 5.4.1'\n"),
			want: Report{Kind: KindHardBounce, Status: "5.4.1", Diagnostic: "Remote server returned '550 5.4.1'", Token: tok},
		},
		{
			name: "windows-1252 encoded out-of-office subject",
			raw:  "Return-Path: <>\nFrom: Kim <kim@example.com>\n" + bouncesTo + "Subject: =?windows-1252?Q?Fr=E5nvaro?=\n\nUndeliverable until Monday.\n",
			want: Report{Kind: KindAutoReply, Token: tok},
		},
		{
			name: "mailer-daemon without bounce wording",
			raw:  text("MAILER-DAEMON@x.example", "Your mailbox was migrated", "Nothing to see here.\n"),
			want: Report{Kind: KindUnknown, Token: tok},
		},
		{
			name: "empty Return-Path with bounce wording",
			raw:  "Return-Path: <>\nFrom: robot@x.example\n" + bouncesTo + "Subject: hello\n\nThe message was not delivered to z@example.com.\n",
			want: Report{Kind: KindSoftBounce, Recipient: "z@example.com", Diagnostic: "The message was not delivered to z@example.com.", Token: tok},
		},
		{
			name: "delay notification text",
			raw: text("Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "Delivery Status Notification (Delay)",
				"Delivery incomplete\n\nThere was a temporary problem delivering your message to k@example.com. Gmail will retry for 47 more hours.\n\n"+
					"The response was:\n421 4.7.0 Try again later\n"),
			want: Report{Kind: KindDelayed, Recipient: "k@example.com", Status: "4.7.0", Diagnostic: "421 4.7.0 Try again later", Token: tok},
		},
		{
			name: "basic code only",
			raw:  text("MAILER-DAEMON@x.example", "failure notice", "<m@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\nRemote host said: 550 sorry\n"),
			want: Report{Kind: KindHardBounce, Recipient: "m@example.net", Status: "5.1.1", Diagnostic: "Sorry, no mailbox here by that name. (#5.1.1)", Token: tok},
		},
		{
			name: "4xx code beats user-unknown wording",
			raw:  text("MAILER-DAEMON@x.example", "failure notice", "<m@example.net>: 450 4.1.1 user unknown, try later\n"),
			want: Report{Kind: KindSoftBounce, Recipient: "m@example.net", Status: "4.1.1", Diagnostic: "450 4.1.1 user unknown, try later", Token: tok},
		},
		{
			name: "user-unknown wording without a code is hard",
			raw:  text("MAILER-DAEMON@x.example", "failure notice", "<m@example.net>: user unknown\n"),
			want: Report{Kind: KindHardBounce, Recipient: "m@example.net", Diagnostic: "<m@example.net>: user unknown", Token: tok},
		},
		{
			name: "mailbox full under a 5xx code is soft",
			raw:  text("MAILER-DAEMON@x.example", "Mail delivery failed", "<m@example.net>: 552 5.2.0 Quota exceeded (mailbox for user is full)\n"),
			want: Report{Kind: KindSoftBounce, Recipient: "m@example.net", Status: "5.2.0", Diagnostic: "552 5.2.0 Quota exceeded (mailbox for user is full)", Token: tok},
		},
		{
			name: "IP addresses and versions are not codes",
			raw:  text("MAILER-DAEMON@x.example", "failure notice", "<m@example.net>: host 10.4.5.6 (Postfix 3.4.13, port 465) timed out\n"),
			want: Report{Kind: KindSoftBounce, Recipient: "m@example.net", Diagnostic: "<m@example.net>: host 10.4.5.6 (Postfix 3.4.13, port 465) timed out", Token: tok},
		},
		{
			name: "obsolete From : syntax is a header, not an mbox line",
			raw:  "From : kim@example.com\nTo: unsubscribe+" + tok + "@" + domain + "\n\n",
			want: Report{Kind: KindUnsubscribe, Token: tok},
		},
		{
			name: "envelope unsubscribe beats a bounces To",
			raw:  text("MAILER-DAEMON@x.example", "failure notice", "<m@example.net>: 550 5.1.1 unknown\n"),
			want: Report{Kind: KindUnsubscribe, Token: "unsubscribetokenunsubscribetoken"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rcpts []string
			if tt.want.Kind == KindUnsubscribe && tt.want.Token != tok {
				rcpts = []string{"unsubscribe+" + tt.want.Token + "@" + domain}
			}
			got, err := Parse(strings.NewReader(tt.raw), rcpts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkReport(t, got)
			if got != tt.want {
				t.Errorf("Parse mismatch\n got: %#v\nwant: %#v", got, tt.want)
			}
		})
	}
}

func TestFailureKind(t *testing.T) {
	tests := []struct {
		status, text string
		want         Kind
	}{
		{"5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", KindHardBounce},
		{"5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", KindHardBounce},
		{"5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", KindHardBounce},
		{"5.4.1", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", KindHardBounce},
		{"5.0.0", "550 Requested action not taken: mailbox unavailable", KindHardBounce},
		{"5.7.1", "550 5.7.1 No such user", KindHardBounce},
		{"", "Invalid final delivery userid", KindHardBounce},
		{"5.2.2", "552 5.2.2 Mailbox full", KindSoftBounce},
		{"5.2.121", "550 5.2.121 Recipient's per hour message receive limit from specific sender exceeded", KindSoftBounce},
		{"4.4.7", "550 4.4.7 QUEUE.Expired; message expired", KindSoftBounce},
		{"4.2.0", "450 4.2.0 Mailbox temporarily unavailable", KindSoftBounce},
		{"", "the mail system gave up", KindSoftBounce},
		{"5.7.26", "550 5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy", KindPolicyBounce},
		{"5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", KindPolicyBounce},
		{"5.7.1", "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent (S3150)", KindPolicyBounce},
		{"5.7.350", "550 5.7.350 Remote server returned message detected as spam", KindPolicyBounce},
		{"5.7.606", "550 5.7.606 Access denied, banned sending IP [192.0.2.1]", KindPolicyBounce},
		{"5.7.0", "550 5.7.0 Not authorized to send mail from this IP address", KindPolicyBounce},
		{"5.7.1", "550 5.7.1 No such user; blocked using a block list", KindPolicyBounce},
		{"5.1.8", "553 5.1.8 Sender address rejected: Domain not found", KindPolicyBounce},
		{"5.1.0", "550 5.1.0 Sender address rejected: verify failed", KindPolicyBounce},
		{"5.3.4", "552 5.3.4 Message size exceeds fixed limit", KindPolicyBounce},
		{"4.7.28", "421 4.7.28 unusual rate of unsolicited mail", KindPolicyBounce},
		{"4.7.1", "450 4.7.1 Recipient address rejected: Greylisted", KindPolicyBounce},
		{"5.0.0", "554 Message not allowed - [PH01] Email not accepted for policy reasons", KindPolicyBounce},
		{"5.0.0", "550 Message rejected because of unacceptable content", KindPolicyBounce},
		{"", "rejected by the recipient's spam filter", KindPolicyBounce},
		{"5.0.0", "550 SC-001 (BAY004-MC1F12) Unfortunately, messages from 192.0.2.1 weren't sent. Hotmail does not relay dynamically-assigned IP ranges", KindPolicyBounce},
	}
	for _, tt := range tests {
		t.Run(tt.status+" "+tt.text, func(t *testing.T) {
			if got := FailureKind(tt.status, tt.text); got != tt.want {
				t.Errorf("FailureKind(%q, %q) = %s, want %s", tt.status, tt.text, got, tt.want)
			}
		})
	}
}
