package api

// Settings (admin): API tokens, webhooks, the sender identity and the
// sending domain's DNS. Each screen calls what the JSON API calls
// (newToken, revokeToken, addWebhook, setSender), so a rule lives in one
// place; the pages only turn its errors into words next to the fields.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/store"
)

// --- API tokens ---------------------------------------------------------

type tokenForm struct {
	Name string `form:"name"`
	Role string `form:"role"`
}

// roleOption is a role to choose with what it may do.
type roleOption struct{ Value, Desc string }

type tokensData struct {
	webPage
	Tokens []store.APIToken
	Roles  []roleOption
	Form   tokenForm
	// Created and Secret show a new token's secret, once.
	Created *store.APIToken
	Secret  string
}

func (s *Server) tokensData(c echo.Context) (tokensData, error) {
	ts, err := s.st.Tokens(c.Request().Context())
	if err != nil {
		return tokensData{}, err
	}
	// What each role may do through the API (the keys are literals so
	// that the catalog test sees them).
	desc := map[string]string{store.RoleViewer: "tokens.role_viewer", store.RoleEditor: "tokens.role_editor", store.RoleAdmin: "tokens.role_admin"}
	p := tokensData{webPage: s.page(c, "tokens.title", "settings"), Tokens: ts, Form: tokenForm{Role: store.RoleViewer}}
	for _, r := range []string{store.RoleViewer, store.RoleEditor, store.RoleAdmin} {
		p.Roles = append(p.Roles, roleOption{Value: r, Desc: s.t(c, desc[r])})
	}
	return p, nil
}

func (s *Server) tokensPage(c echo.Context) error {
	p, err := s.tokensData(c)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "tokens", p.Lang, p)
}

// tokensCreate makes a token and shows its secret on the answer itself,
// not after a redirect: it is kept nowhere, so it can be shown only now.
func (s *Server) tokensCreate(c echo.Context) error {
	var f tokenForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	t, secret, err := s.newToken(c.Request().Context(), tokenRequest{Name: &f.Name, Role: &f.Role}, actor(c))
	p, lerr := s.tokensData(c)
	if lerr != nil {
		return lerr
	}
	if err != nil {
		if p.Errors = s.formErrors(c, err); p.Errors == nil {
			return err
		}
		p.Form = f
		return s.renderWeb(c, http.StatusUnprocessableEntity, "tokens", p.Lang, p)
	}
	p.Created, p.Secret = t, secret
	p.Flash = s.t(c, "flash.token_created")
	return s.renderWeb(c, http.StatusCreated, "tokens", p.Lang, p)
}

// tokensRevoke deletes a token. The last admin token stays, with the
// store's reason, as the API answers it.
func (s *Server) tokensRevoke(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	err = s.revokeToken(c.Request().Context(), id, actor(c))
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		p, lerr := s.tokensData(c)
		if lerr != nil {
			return lerr
		}
		p.Flash, p.FlashError = s.t(c, "flash.last_admin_token"), true
		return s.renderWeb(c, http.StatusConflict, "tokens", p.Lang, p)
	}
	if err != nil {
		return err
	}
	s.flash(c, "flash.token_revoked")
	return redirect(c, "/admin/settings/tokens")
}

// --- Webhooks -----------------------------------------------------------

type webhookForm struct {
	URL         string   `form:"url"`
	Events      []string `form:"events"`
	Description string   `form:"description"`
}

// eventOption is a webhook event to tick, with its words.
type eventOption struct{ Value, Label string }

// eventKeys are the words of each webhook event.
var eventKeys = map[string]string{
	store.HookSubscribed:      "webhooks.event.subscriber.subscribed",
	store.HookConfirmed:       "webhooks.event.subscriber.confirmed",
	store.HookUnsubscribed:    "webhooks.event.subscriber.unsubscribed",
	store.HookBounced:         "webhooks.event.delivery.bounced",
	store.HookSoftBounced:     "webhooks.event.delivery.soft_bounced",
	store.HookPolicyBounced:   "webhooks.event.delivery.policy_bounced",
	store.HookComplained:      "webhooks.event.delivery.complained",
	store.HookCampaignStarted: "webhooks.event.campaign.started",
	store.HookCampaignSent:    "webhooks.event.campaign.sent",
	store.HookCampaignPaused:  "webhooks.event.campaign.paused",
	store.HookCampaignCancel:  "webhooks.event.campaign.cancelled",
	store.HookAll:             "webhooks.all",
}

type webhooksData struct {
	webPage
	Webhooks []store.Webhook
	Events   []eventOption
	Form     webhookForm
	Created  *store.Webhook // its secret is shown once
}

// Checked tells the form whether event e is ticked.
func (f webhookForm) Checked(e string) bool {
	for _, x := range f.Events {
		if x == e {
			return true
		}
	}
	return false
}

func (s *Server) webhooksData(c echo.Context) (webhooksData, error) {
	ws, err := s.st.Webhooks(c.Request().Context())
	if err != nil {
		return webhooksData{}, err
	}
	for i := range ws {
		ws[i].Secret = "" // shown once, at creation
	}
	p := webhooksData{webPage: s.page(c, "webhooks.title", "settings"), Webhooks: ws}
	for _, e := range append([]string{store.HookAll}, store.HookEvents...) {
		label := e
		if k, ok := eventKeys[e]; ok {
			label = s.t(c, k)
		}
		p.Events = append(p.Events, eventOption{Value: e, Label: label})
	}
	return p, nil
}

func (s *Server) webhooksPage(c echo.Context) error {
	p, err := s.webhooksData(c)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "webhooks", p.Lang, p)
}

func (s *Server) webhooksAdd(c echo.Context) error {
	var f webhookForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	req := webhookRequest{URL: &f.URL, Description: &f.Description}
	if len(f.Events) > 0 {
		evs := f.Events
		if f.Checked(store.HookAll) {
			evs = []string{store.HookAll}
		}
		req.Events = &evs
	}
	w, err := s.addWebhook(c.Request().Context(), req)
	p, lerr := s.webhooksData(c)
	if lerr != nil {
		return lerr
	}
	if err != nil {
		if p.Errors = s.formErrors(c, err); p.Errors == nil {
			return err
		}
		// events[2] and the like are about the boxes as a whole.
		for k, v := range p.Errors {
			if strings.HasPrefix(k, "events[") {
				p.Errors["events"] = v
			}
		}
		p.Form = f
		return s.renderWeb(c, http.StatusUnprocessableEntity, "webhooks", p.Lang, p)
	}
	p.Created = w
	p.Flash = s.t(c, "flash.webhook_added")
	return s.renderWeb(c, http.StatusCreated, "webhooks", p.Lang, p)
}

func (s *Server) webhooksDelete(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteWebhook(c.Request().Context(), id); err != nil {
		return err
	}
	s.flash(c, "flash.webhook_deleted")
	return redirect(c, "/admin/settings/webhooks")
}

type webhookData struct {
	webPage
	Webhook    store.Webhook
	Deliveries []store.WebhookDelivery
}

// webhookPage is one webhook's recent deliveries, newest first.
func (s *Server) webhookPage(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ws, err := s.st.Webhooks(ctx)
	if err != nil {
		return err
	}
	p := webhookData{webPage: s.page(c, "webhooks.deliveries_title", "settings")}
	found := false
	for _, w := range ws {
		if w.ID == id {
			p.Webhook, found = w, true
		}
	}
	if !found {
		return echo.NewHTTPError(http.StatusNotFound, "no such webhook")
	}
	p.Webhook.Secret = ""
	if p.Deliveries, _, err = s.st.WebhookDeliveries(ctx, id, 0, 50); err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "webhook", p.Lang, p)
}

// --- Sender identity ----------------------------------------------------

type senderForm struct {
	FromName      string `form:"from_name"`
	FromAddress   string `form:"from_address"`
	ReplyTo       string `form:"reply_to"`
	PostalAddress string `form:"postal_address"`
	Contact       string `form:"contact"`
}

type senderData struct {
	webPage
	Form        senderForm
	DefaultFrom string // UTSKICK_FROM, what empty from fields mean
	DefaultName string
	DefaultAddr string
	UpdatedAt   *time.Time
}

func (s *Server) senderData(c echo.Context) (senderData, error) {
	id, err := s.st.SenderIdentity(c.Request().Context())
	if err != nil {
		return senderData{}, err
	}
	def := s.compose.From()
	return senderData{webPage: s.page(c, "sender.title", "settings"),
		Form:        senderForm{FromName: id.FromName, FromAddress: id.FromAddress, ReplyTo: id.ReplyTo, PostalAddress: id.PostalAddress, Contact: id.Contact},
		DefaultName: def.Name, DefaultAddr: def.Address, UpdatedAt: id.UpdatedAt}, nil
}

func (s *Server) senderPage(c echo.Context) error {
	p, err := s.senderData(c)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "sender", p.Lang, p)
}

func (s *Server) senderSubmit(c echo.Context) error {
	var f senderForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	req := senderRequest{FromName: &f.FromName, FromAddress: &f.FromAddress, ReplyTo: &f.ReplyTo,
		PostalAddress: &f.PostalAddress, Contact: &f.Contact}
	_, err := s.setSender(c.Request().Context(), req, actor(c))
	if err == nil {
		s.flash(c, "flash.sender_saved")
		return redirect(c, "/admin/settings/sender")
	}
	p, lerr := s.senderData(c)
	if lerr != nil {
		return lerr
	}
	if p.Errors = s.formErrors(c, err); p.Errors == nil {
		return err
	}
	p.Form = f
	return s.renderWeb(c, http.StatusUnprocessableEntity, "sender", p.Lang, p)
}

// --- The sending domain: DKIM, SPF, DMARC -------------------------------

// dnsCheck is one line of the domain page: what was looked up, what was
// found, and a verdict: ok, warn (missing or wrong) or unknown (could
// not check, with the reason; never a pass or a fail).
type dnsCheck struct {
	Name, Record, Verdict, Note string
	// VerdictText is the verdict in words.
	VerdictText string
}

type domainData struct {
	webPage
	FromDomain string
	// DKIM is nil when signing is off.
	DKIM       *lint.DKIMKey
	DKIMName   string
	DKIMAlg    string
	DKIMCheck  *dnsCheck
	SPF, DMARC dnsCheck
	ReturnPath string
}

// domainPage looks up the sending domain's records now, each lookup
// bounded (Deps.DNSTimeout), and shows what to publish.
func (s *Server) domainPage(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := s.st.SenderIdentity(ctx)
	if err != nil {
		return err
	}
	from := s.compose.From().Address
	if id.FromAddress != "" {
		from = id.FromAddress
	}
	p := domainData{webPage: s.page(c, "domain.title", "settings"), FromDomain: domainOf(from)}
	in := lint.DomainInput{FromDomain: p.FromDomain}
	if rp := s.compose.ReturnPath(0); rp != "" {
		p.ReturnPath = domainOf(rp)
		in.ReturnPathDomain = p.ReturnPath
	}
	if s.dkim != nil {
		p.DKIM = s.dkim
		p.DKIMName, p.DKIMAlg = p.DKIM.Selector+"._domainkey."+p.DKIM.Domain, lint.Tag(p.DKIM.Record, "k")
		in.DKIM = p.DKIM
	}
	st := s.checkDomain(ctx, in)
	cat := s.web.cats[p.Lang]
	unknown := func(l *lint.Lookup) dnsCheck {
		return dnsCheck{Name: l.Name, Verdict: "unknown", Note: cat.T("domain.unchecked", "reason", dnsReason(cat, l.Err))}
	}
	if k := st.DKIM; k != nil {
		switch {
		case k.Err != nil:
			c := unknown(k)
			p.DKIMCheck = &c
		case k.Record == "":
			p.DKIMCheck = &dnsCheck{Name: k.Name, Verdict: "warn", Note: cat.T("domain.dkim_missing")}
		case !st.DKIMMatches:
			p.DKIMCheck = &dnsCheck{Name: k.Name, Record: k.Record, Verdict: "warn", Note: cat.T("domain.dkim_mismatch")}
		default:
			p.DKIMCheck = &dnsCheck{Name: k.Name, Record: k.Record, Verdict: "ok", Note: cat.T("domain.dkim_ok")}
		}
	}
	if l := st.SPF; l != nil {
		switch {
		case l.Err != nil:
			p.SPF = unknown(l)
		case l.Record == "":
			p.SPF = dnsCheck{Name: l.Name, Verdict: "warn", Note: cat.T("domain.spf_missing", "domain", l.Name)}
		default:
			p.SPF = dnsCheck{Name: l.Name, Record: l.Record, Verdict: "ok", Note: cat.T("domain.spf_ok")}
		}
	}
	switch l := &st.DMARC; {
	case l.Err != nil:
		p.DMARC = unknown(l)
	case l.Record == "":
		p.DMARC = dnsCheck{Name: "_dmarc." + p.FromDomain, Verdict: "warn", Note: cat.T("domain.dmarc_missing")}
	default:
		p.DMARC = dnsCheck{Name: l.Name, Record: l.Record, Verdict: "ok", Note: cat.T("domain.dmarc_ok", "policy", lint.Tag(l.Record, "p"))}
	}
	verdicts := map[string]string{"ok": "domain.verdict_ok", "warn": "domain.verdict_warn", "unknown": "domain.verdict_unknown"}
	for _, d := range []*dnsCheck{p.DKIMCheck, &p.SPF, &p.DMARC} {
		if d != nil && d.Verdict != "" {
			d.VerdictText = cat.T(verdicts[d.Verdict])
		}
	}
	return s.renderWeb(c, http.StatusOK, "domain", p.Lang, p)
}

// checkDomain runs the lint's DNS checks with the server's resolver and
// lookup bound.
func (s *Server) checkDomain(ctx context.Context, in lint.DomainInput) lint.DomainStatus {
	return (&lint.Checker{Resolver: s.resolver, Timeout: s.dnsTimeout}).Domain(ctx, in)
}

// dnsReason says in words why a lookup could not be made.
func dnsReason(cat mailtemplates.Catalog, err error) string {
	if errors.Is(err, lint.ErrNoResolver) {
		return cat.T("domain.reason_off")
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
		return cat.T("domain.reason_timeout")
	}
	return err.Error()
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}
