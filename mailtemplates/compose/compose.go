// Package compose renders a campaign for one recipient: the part that the
// worker's senders, test sends, opt-in mail and the API's lint, preview
// and public archive share, so that a preview is what a subscriber gets.
// cmd builds one Composer from its Config and hands it to both.
package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

// Composer turns a campaign into messages: the part that the sender, test
// sends and the API's preview share, so a preview is what a subscriber
// gets, but for the signature, the tracking and the personal links
// (StaffRecipient).
type Composer struct {
	baseURL      string
	returnPath   string
	from         mail.Address
	org          string
	mailtoDomain string
	tmpl         *mailtemplates.Templates
	sign         *links.Signer
	tag          string
	bounceDomain string
	noVERP       bool
}

// Config is what the mail says about its sender and where its links lead.
type Config struct {
	BaseURL      string       // public URL of the API, for links in mail
	From         mail.Address // default sender
	Org          string       // organisation name in the mail layout; default From's name
	ReturnPath   string       // envelope sender; default From's address
	MailtoDomain string       // domain of unsubscribe+token@ addresses; default From's domain
	// BounceDomain is the domain of the per-delivery VERP envelope sender
	// bounces+<token>@; default MailtoDomain. Its MX must reach utskick.
	BounceDomain string
	// NoVERP sends every message with ReturnPath as its envelope sender.
	NoVERP bool
}

func (c *Config) setDefaults() {
	if c.Org == "" {
		c.Org = c.From.Name
	}
	if c.ReturnPath == "" {
		c.ReturnPath = c.From.Address
	}
	if c.MailtoDomain == "" {
		c.MailtoDomain = DomainOf(c.From.Address)
	}
	if c.BounceDomain == "" {
		c.BounceDomain = c.MailtoDomain
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
}

// DomainOf is the domain of an address, "localhost" for one without.
func DomainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// New returns a Composer for cfg, its blanks filled with defaults.
func New(cfg Config, tmpl *mailtemplates.Templates, sign *links.Signer) *Composer {
	cfg.setDefaults()
	return &Composer{baseURL: cfg.BaseURL, returnPath: cfg.ReturnPath, from: cfg.From, org: cfg.Org, mailtoDomain: cfg.MailtoDomain,
		tmpl: tmpl, sign: sign, tag: sign.InstanceTag(), bounceDomain: cfg.BounceDomain, noVERP: cfg.NoVERP}
}

// Composed is a campaign ready to be written for any recipient.
type Composed struct {
	Lists    []store.List
	From     mail.Address
	Compiled *mailtemplates.Compiled
	// Sender is the identity the mail was made with: the lead list's
	// overrides over the instance's (Settings → Sender identity).
	Sender store.SenderIdentity
}

// Compose compiles c with its lists. The first list decides the layout
// (its staff template, or the built-in one), the content language and
// whether there is a "view in browser" link to the public archive.
func (cp *Composer) Compose(ctx context.Context, st *store.Store, c *store.Campaign) (*Composed, error) {
	return cp.compose(ctx, st, c, nil)
}

// ComposeArchive compiles c as it is shown in list l's public archive:
// l's layout, and a footer that invites to subscribe. Write it for
// ArchiveRecipient(l), which carries no personal links.
func (cp *Composer) ComposeArchive(ctx context.Context, st *store.Store, c *store.Campaign, l *store.List) (*Composed, error) {
	return cp.compose(ctx, st, c, l)
}

// FromError is a campaign whose stored from is not an address (a row
// saved before the API checked it): the content is wrong, not the
// server, so the API answers 400 naming from.
type FromError struct {
	CampaignID int64
	From       string
	Err        error
}

func (e *FromError) Error() string {
	return fmt.Sprintf("campaign %d from %q: %v", e.CampaignID, e.From, e.Err)
}

func (e *FromError) Unwrap() error { return e.Err }

func (cp *Composer) compose(ctx context.Context, st *store.Store, c *store.Campaign, archive *store.List) (*Composed, error) {
	e := &Composed{From: cp.from}
	for _, id := range c.ListIDs {
		l, err := st.List(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("campaign %d list %d: %w", c.ID, id, err)
		}
		e.Lists = append(e.Lists, *l)
	}
	names := make([]string, len(e.Lists))
	var track mailtemplates.Tracking
	for i, l := range e.Lists {
		names[i] = l.Name
		track.Clicks = track.Clicks || l.TrackClicks
		track.Opens = track.Opens || l.TrackOpens
	}
	in := mailtemplates.CampaignInput{
		Subject: c.Subject, Preheader: c.Preheader, Body: c.Body, From: e.From,
		ListName: strings.Join(names, ", "), Org: cp.org, Tracking: track,
		Headers: []mailtemplates.Header{{Name: "Precedence", Value: "bulk"}},
	}
	lead := (*store.List)(nil)
	if len(e.Lists) > 0 {
		lead = &e.Lists[0]
		// List-Id names the campaign's first list; RFC 2919 wants one.
		in.ListID = lead.Slug + "." + cp.mailtoDomain
		in.Headers = append(in.Headers, mailtemplates.Header{Name: "Feedback-ID",
			Value: fmt.Sprintf("c%d:l%d:%s:utskick", c.ID, lead.ID, cp.tag)})
	}
	if archive != nil {
		lead = archive
		in.Archive, in.ListName = true, archive.Name
	}
	var err error
	if e.From, e.Sender, err = cp.Sender(ctx, st, lead); err != nil {
		return nil, fmt.Errorf("campaign %d: %w", c.ID, err)
	}
	in.PostalAddress, in.Contact = e.Sender.PostalAddress, e.Sender.Contact
	// From: the campaign's own, else the sender identity's.
	if c.FromAddr != "" {
		a, err := mail.ParseAddress(c.FromAddr)
		if err != nil {
			return nil, &FromError{CampaignID: c.ID, From: c.FromAddr, Err: err}
		}
		e.From = *a
	}
	in.From = e.From
	// Reply-To: the campaign's own, else its first list's, else the
	// instance's; none for the archive, which nobody replies to.
	if reply := c.ReplyTo; archive == nil {
		if reply == "" {
			reply = e.Sender.ReplyTo
		}
		if reply != "" {
			a, err := mail.ParseAddress(reply)
			if err != nil {
				return nil, fmt.Errorf("campaign %d reply-to %q: %w", c.ID, reply, err)
			}
			in.Headers = append(in.Headers, mailtemplates.Header{Name: "Reply-To", Value: a.String()})
		}
	}
	if lead != nil {
		in.Language = lead.Language
		if lead.Archive && archive == nil {
			in.ArchiveURL = cp.ArchiveURL(lead.Slug, c.ID)
		}
		if lead.TemplateID != nil {
			l, err := cp.layout(ctx, st, *lead.TemplateID)
			if err != nil {
				return nil, fmt.Errorf("campaign %d list %s: %w", c.ID, lead.Slug, err)
			}
			in.Layout = l
		}
	}
	comp, err := cp.tmpl.CompileCampaign(ctx, in)
	var le *mailtemplates.LayoutError
	if archive != nil && in.Layout != nil && errors.As(err, &le) {
		// A public reader gets the issue in the built-in layout rather
		// than an error, or a stored layout's redirect or script.
		in.Layout = nil
		comp, err = cp.tmpl.CompileCampaign(ctx, in)
	}
	if err != nil {
		return nil, fmt.Errorf("compile campaign %d: %w", c.ID, err)
	}
	e.Compiled = comp
	return e, nil
}

// layout loads and parses staff template id.
func (cp *Composer) layout(ctx context.Context, st *store.Store, id int64) (*mailtemplates.Layout, error) {
	t, err := st.Template(ctx, id)
	if err != nil {
		return nil, err
	}
	colors, err := ThemeColors(t.Theme)
	if err != nil {
		return nil, fmt.Errorf("template %d: %w", id, err)
	}
	return cp.tmpl.ParseLayout(t.Name, t.CompiledHTML, colors)
}

// ThemeColors reads a template's stored theme.
func ThemeColors(a store.Attributes) (mailtemplates.ThemeColors, error) {
	var c mailtemplates.ThemeColors
	b, err := json.Marshal(a)
	if err != nil {
		return c, err
	}
	err = json.Unmarshal(b, &c)
	return c, err
}

// ArchiveURL is the public page of campaign id in list slug's archive.
func (cp *Composer) ArchiveURL(slug string, id int64) string {
	return fmt.Sprintf("%s/archive/%s/%d", cp.baseURL, slug, id)
}

// ArchiveRecipient is the reader of the public archive: nobody in
// particular. Placeholders show their defaults, and the unsubscribe and
// preferences links lead to the list's subscribe page (its archive, for a
// private list) instead of anyone's settings.
func (cp *Composer) ArchiveRecipient(l *store.List) *mailtemplates.Recipient {
	link := cp.baseURL + "/subscribe/" + l.Slug
	if l.Visibility != store.VisibilityPublic {
		link = cp.baseURL + "/archive/" + l.Slug
	}
	return &mailtemplates.Recipient{Language: l.Language, UnsubscribeURL: link, PreferencesURL: link}
}

// PlainReturnPath is the envelope sender of mail that is not a delivery
// (opt-in confirmations, test sends): UTSKICK_RETURN_PATH.
func (cp *Composer) PlainReturnPath() string { return cp.returnPath }

// Recipient builds the per-recipient values of a campaign message.
func (cp *Composer) Recipient(campaignID int64, from mail.Address, r store.Recipient, now time.Time) *mailtemplates.Recipient {
	unsub := cp.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: r.SubscriberID, CampaignID: campaignID})
	mid := r.MessageID
	if mid == "" {
		mid = cp.MessageID(r.DeliveryID, campaignID, from)
	}
	return &mailtemplates.Recipient{
		Email: r.Email, Name: r.Name, Language: r.Language, Attributes: r.Attributes,
		UnsubscribeURL:    cp.baseURL + "/unsubscribe/" + unsub,
		UnsubscribeMailto: "mailto:unsubscribe+" + unsub + "@" + cp.mailtoDomain + "?subject=unsubscribe",
		PreferencesURL:    cp.baseURL + "/preferences/" + cp.sign.PreferencesToken(r.SubscriberID),
		MessageID:         mid,
		Date:              now,
	}
}

// StaffRecipient is Recipient for what staff see or send themselves
// (previews, the lint, test sends): the person's name, language and
// attributes, but unsubscribe, preference and mailto links that act for
// nobody. Their tokens name subscriber 0, which the pages and the mailto
// handler answer as a test link, so no staff role ever holds a token that
// could change a person's lists or settings as if the person had.
func (cp *Composer) StaffRecipient(campaignID int64, from mail.Address, r store.Recipient, now time.Time) *mailtemplates.Recipient {
	r.SubscriberID, r.DeliveryID = 0, 0
	return cp.Recipient(campaignID, from, r, now)
}

// MessageIDSuffix completes "d<delivery>.c<campaign>" into a Message-ID.
func (cp *Composer) MessageIDSuffix(from mail.Address) string {
	return "." + cp.tag + "@" + DomainOf(from.Address)
}

// MessageID is stable per delivery: a resend after a crash carries the
// same Message-ID, so receivers can drop the duplicate. The claim stores
// the same value on the row.
func (cp *Composer) MessageID(deliveryID, campaignID int64, from mail.Address) string {
	return fmt.Sprintf("d%d.c%d%s", deliveryID, campaignID, cp.MessageIDSuffix(from))
}

// Sender is who mail for list l (nil: no list) comes from: the
// instance's sender identity with l's overrides, and its From address,
// where UTSKICK_FROM fills in a name or address neither sets.
func (cp *Composer) Sender(ctx context.Context, st *store.Store, l *store.List) (mail.Address, store.SenderIdentity, error) {
	ident, err := st.SenderIdentity(ctx)
	if err != nil {
		return cp.from, ident, err
	}
	ident = ident.ForList(l)
	from := cp.from
	if ident.FromName != "" {
		from.Name = ident.FromName
	}
	if ident.FromAddress != "" {
		from.Address = ident.FromAddress
	}
	return from, ident, nil
}

// From is the default sender.
func (cp *Composer) From() mail.Address { return cp.from }

// Org is the organisation named in mail.
func (cp *Composer) Org() string { return cp.org }

// BaseURL is the public URL that links in mail lead to, without a
// trailing slash.
func (cp *Composer) BaseURL() string { return cp.baseURL }

// ReturnPath is the envelope sender of one delivery: the VERP address
// bounces+<signed delivery id>@<bounce domain>, so a bounce that arrives
// long after the SMTP conversation still names its delivery, whatever the
// receiving system did to the message. One HMAC per message.
func (cp *Composer) ReturnPath(deliveryID int64) string {
	if cp.noVERP {
		return cp.returnPath
	}
	return "bounces+" + cp.sign.BounceToken(deliveryID) + "@" + cp.bounceDomain
}

// Track gives one recipient's message its tracked links and open pixel,
// as far as t (the subscriber's consent and the lists' switches) allows.
// Link tokens are signed (delivery, link index); the redirect looks the
// URL up by them and never takes it from the request.
func (cp *Composer) Track(r *mailtemplates.Recipient, deliveryID int64, t store.Tracking) {
	if t.Clicks {
		r.LinkURL = func(i int) string {
			return cp.baseURL + "/l/" + cp.sign.Sign(links.KindClick, uint64(deliveryID), uint64(i))
		}
	}
	if t.Opens {
		r.OpenURL = cp.baseURL + "/o/" + cp.sign.Sign(links.KindOpen, uint64(deliveryID))
	}
}
