package mailtemplates

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// OptinInput is a double opt-in confirmation mail.
type OptinInput struct {
	Language string
	From     mail.Address
	To       mail.Address
	Org      string
	// PostalAddress and Contact are the sender's, for the footer; ""
	// leaves a line out.
	PostalAddress, Contact string
	ListNames              []string
	ConfirmURL             string
	Expires                time.Time
	MessageID              string
	Date                   time.Time
}

// systemMail is the content of a mail utskick sends on its own behalf.
type systemMail struct {
	Lang, Subject, Preheader, Heading, Org string
	Paragraphs, SmallPrint                 []string
	ButtonText, ButtonURL                  string
	Theme                                  *Theme
}

// WriteOptin appends the confirmation mail to buf.
func (t *Templates) WriteOptin(buf *bytes.Buffer, in OptinInput) error {
	lang := NormalizeLanguage(in.Language)
	cat := t.cats[lang]
	lists := joinNames(in.ListNames, cat)
	// The reader's time (Europe/Stockholm), in the mail's language: a
	// UTC time once made "until 10:00" of a link that worked until 11.
	date := LocalTime(in.Expires, lang)
	m := systemMail{
		Lang: lang, Org: in.Org, Theme: DefaultTheme,
		Subject:    cat.T("optin.subject", "lists", lists),
		Preheader:  cat.T("optin.preheader"),
		Heading:    cat.T("optin.heading"),
		Paragraphs: []string{cat.T("optin.body", "lists", lists)},
		ButtonText: cat.T("optin.button"), ButtonURL: in.ConfirmURL,
		SmallPrint: []string{cat.T("optin.expires", "date", date), cat.T("optin.ignore"), cat.T("optin.why", "lists", lists)},
	}
	if in.PostalAddress != "" {
		m.SmallPrint = append(m.SmallPrint, cat.T("footer.sender", "org", in.Org)+". "+cat.T("footer.address", "address", in.PostalAddress))
	}
	if in.Contact != "" {
		m.SmallPrint = append(m.SmallPrint, in.Contact)
	}
	return t.writeSystem(buf, m, in.From, in.To, in.MessageID, in.Date)
}

func joinNames(names []string, cat Catalog) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + cat.T("join.and") + names[len(names)-1]
}

func (t *Templates) writeSystem(buf *bytes.Buffer, m systemMail, from, to mail.Address, msgID string, date time.Time) error {
	var hb, tb bytes.Buffer
	if err := t.html.ExecuteTemplate(&hb, "system.html", m); err != nil {
		return fmt.Errorf("system mail layout: %w", err)
	}
	if err := t.text.ExecuteTemplate(&tb, "system.txt", m); err != nil {
		return fmt.Errorf("system mail text layout: %w", err)
	}
	boundary := "=_utskick_" + t.nonce()
	writeHeader(buf, "Date", date.Format(time.RFC1123Z))
	writeHeader(buf, "From", from.String())
	writeHeader(buf, "To", to.String())
	writeHeader(buf, "Subject", encodeHeaderText(len("Subject"), m.Subject))
	writeHeader(buf, "Message-ID", "<"+msgID+">")
	writeHeader(buf, "Auto-Submitted", "auto-generated")
	writeHeader(buf, "MIME-Version", "1.0")
	writeHeader(buf, "Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	buf.WriteString("\r\n--" + boundary + "\r\n")
	buf.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	enc, _ := appendQP(nil, tb.String(), 0)
	buf.Write(enc)
	buf.WriteString("\r\n--" + boundary + "\r\n")
	buf.WriteString("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	enc, _ = appendQP(nil, hb.String(), 0)
	buf.Write(enc)
	buf.WriteString("\r\n--" + boundary + "--\r\n")
	return nil
}

// AccountLinkInput is a mail with a one-time link to a staff account's
// set-password page: an invitation or a password reset.
type AccountLinkInput struct {
	Purpose   string // "invite" or "reset"
	Language  string
	From      mail.Address
	To        mail.Address
	Org       string
	Inviter   string // who sent an invitation; "" leaves them unnamed
	URL       string
	Expires   time.Time
	MessageID string
	Date      time.Time
}

// WriteAccountLink appends an invitation or password-reset mail to buf.
func (t *Templates) WriteAccountLink(buf *bytes.Buffer, in AccountLinkInput) error {
	lang := NormalizeLanguage(in.Language)
	cat := t.cats[lang]
	k := "account." + in.Purpose + "."
	if in.Purpose != "invite" && in.Purpose != "reset" {
		return fmt.Errorf("account mail: unknown purpose %q", in.Purpose)
	}
	body := cat.T(k+"body", "org", in.Org)
	if in.Purpose == "invite" {
		if in.Inviter != "" {
			body = cat.T(k+"body", "inviter", in.Inviter, "org", in.Org)
		} else {
			body = cat.T(k+"body_anon", "org", in.Org)
		}
	}
	m := systemMail{
		Lang: lang, Org: in.Org, Theme: DefaultTheme,
		Subject: cat.T(k+"subject", "org", in.Org), Preheader: cat.T(k + "preheader"), Heading: cat.T(k + "heading"),
		Paragraphs: []string{body},
		ButtonText: cat.T(k + "button"), ButtonURL: in.URL,
		SmallPrint: []string{cat.T("account.expires", "date", LocalTime(in.Expires, lang)), cat.T(k + "ignore")},
	}
	return t.writeSystem(buf, m, in.From, in.To, in.MessageID, in.Date)
}

// Kinds of approval mail (four eyes), sent to staff.
const (
	ApprovalRequested = "approval_request"  // to the publishers who may approve
	ApprovalApproved  = "approval_approved" // to the one who asked
	ApprovalRejected  = "approval_rejected" // to the one who asked, with the comment
)

// ApprovalInput is a mail about a campaign waiting for, or given, a
// second publisher's approval.
type ApprovalInput struct {
	Kind      string // ApprovalRequested, ApprovalApproved or ApprovalRejected
	Language  string
	From, To  mail.Address
	Org       string
	Campaign  string // the campaign's name
	Subject   string // its subject line
	Lists     []string
	Actor     string    // who asked (a request) or decided (approved, rejected); "" unnamed
	SendAt    time.Time // the time asked for, or the time it goes; zero: at once
	Comment   string    // the reviewer's comment of a rejection
	URL       string    // the campaign's page in the workspace
	MessageID string
	Date      time.Time
}

// WriteApproval appends an approval mail to buf.
func (t *Templates) WriteApproval(buf *bytes.Buffer, in ApprovalInput) error {
	switch in.Kind {
	case ApprovalRequested, ApprovalApproved, ApprovalRejected:
	default:
		return fmt.Errorf("approval mail: unknown kind %q", in.Kind)
	}
	lang := NormalizeLanguage(in.Language)
	cat := t.cats[lang]
	k := in.Kind + "."
	actor := in.Actor
	if actor == "" {
		actor = cat.T("approval.someone")
	}
	when := cat.T("approval.at_once")
	if in.Kind == ApprovalApproved {
		when = cat.T("approval.now")
	}
	if !in.SendAt.IsZero() {
		when = LocalTime(in.SendAt, lang)
	}
	lists := joinNames(in.Lists, cat)
	args := []string{"actor", actor, "campaign", in.Campaign, "subject", in.Subject, "lists", lists, "when", when, "org", in.Org}
	m := systemMail{
		Lang: lang, Org: in.Org, Theme: DefaultTheme,
		Subject: cat.T(k+"subject", args...), Preheader: cat.T(k+"preheader", args...), Heading: cat.T(k+"heading", args...),
		Paragraphs: []string{cat.T(k+"body", args...)},
		ButtonText: cat.T(k+"button", args...), ButtonURL: in.URL,
		SmallPrint: []string{cat.T(k+"why", args...)},
	}
	if in.Kind == ApprovalRejected && strings.TrimSpace(in.Comment) != "" {
		m.Paragraphs = append(m.Paragraphs, "”"+strings.TrimSpace(in.Comment)+"”")
	}
	return t.writeSystem(buf, m, in.From, in.To, in.MessageID, in.Date)
}
