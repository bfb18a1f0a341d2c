package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// addressReason says why an address was refused in the page's language.
// The normaliser's reasons are English sentences; each has a key
// "address.<reason>", and the two that name a character have the
// character as {char}. An unknown reason is shown as it is.
func addressReason(cat mailtemplates.Catalog, reason string) string {
	if t, ok := cat["address."+reason]; ok {
		return t
	}
	for _, prefix := range []string{"the domain contains the character", "contains the character"} {
		if rest, ok := strings.CutPrefix(reason, prefix+" "); ok {
			return cat.T("address."+prefix, "char", rest)
		}
	}
	return reason
}

// publicActor records who did something on a public page, for the
// consent trail.
func publicActor(c echo.Context, source string) store.Actor {
	return store.Actor{Source: source, IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}

// listOption is a list on a public form.
type listOption struct {
	ID                      int64
	Slug, Name, Description string
	Checked                 bool
}

type subscribePage struct {
	pageBase
	Action      string
	Multi       bool
	Lists       []listOption
	Email, Name string
	Consent     string
	Errors      map[string]string
	// Tracking shows the opt-in to open and click tracking, when a list
	// on the form tracks; it is never ticked in advance.
	Tracking, TrackingChecked bool
}

// formLists resolves the lists of a subscribe form: the one in the path,
// or ?lists=a,b. Private and unknown lists are simply not offered, the
// same as if they did not exist.
func (s *Server) formLists(c echo.Context) ([]store.List, bool, error) {
	ctx := c.Request().Context()
	if slug := c.Param("slug"); slug != "" {
		l, err := s.listBySlug(c)
		if err != nil {
			return nil, false, err
		}
		if l.Visibility != store.VisibilityPublic {
			return nil, false, fmt.Errorf("list %q: %w", slug, store.ErrNotFound)
		}
		return []store.List{*l}, false, nil
	}
	all, err := s.st.Lists(ctx)
	if err != nil {
		return nil, true, err
	}
	var want []string
	if q := c.QueryParam("lists"); q != "" {
		want = strings.Split(q, ",")
	}
	var out []store.List
	for _, l := range all {
		if l.Visibility == store.VisibilityPublic && (want == nil || slices.Contains(want, l.Slug)) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, true, fmt.Errorf("public lists: %w", store.ErrNotFound)
	}
	return out, true, nil
}

// listBySlug loads the list of the path's :slug. Something that cannot
// be a slug (a NUL, broken UTF-8) is no list, and never reaches the
// database, which would refuse it with an error.
func (s *Server) listBySlug(c echo.Context) (*store.List, error) {
	slug := c.Param("slug")
	if !slugRE.MatchString(slug) {
		return nil, fmt.Errorf("list %q: %w", slug, store.ErrNotFound)
	}
	return s.st.ListBySlug(c.Request().Context(), slug)
}

func listIDs(ls []store.List) []int64 {
	ids := make([]int64, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	return ids
}

func listNames(ls []store.List, cat mailtemplates.Catalog) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return joinAnd(names, cat)
}

func joinAnd(names []string, cat mailtemplates.Catalog) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + cat.T("join.and") + names[len(names)-1]
}

// consentText is the exact sentence a subscriber agrees to, and its
// version: the first bytes of its hash, so the record says which wording
// was shown.
func consentText(cat mailtemplates.Catalog, lists string) (string, string) {
	t := cat.T("page.consent", "lists", lists)
	h := sha256.Sum256([]byte(t))
	return t, "sha256:" + hex.EncodeToString(h[:6])
}

func (s *Server) subscribeData(c echo.Context, lists []store.List, multi bool, lang string) subscribePage {
	cat := s.pages.cats(lang)
	title := cat.T("page.subscribe_multi_title")
	if !multi {
		title = cat.T("page.subscribe_title", "list", lists[0].Name)
	}
	p := subscribePage{pageBase: s.base(c, lang, title), Action: c.Request().URL.Path, Multi: multi, Errors: map[string]string{}}
	if multi {
		p.Action += "?" + c.Request().URL.RawQuery
	}
	for _, l := range lists {
		p.Lists = append(p.Lists, listOption{ID: l.ID, Slug: l.Slug, Name: l.Name, Description: l.Description, Checked: !multi || len(lists) == 1})
		p.Tracking = p.Tracking || l.TrackOpens || l.TrackClicks
	}
	p.Consent, _ = consentText(cat, listNames(lists, cat))
	return p
}

func (s *Server) subscribeForm(c echo.Context) error {
	lists, multi, err := s.formLists(c)
	if err != nil {
		return err
	}
	lang := pageLang(c, lists[0].Language)
	return s.render(c, http.StatusOK, "subscribe", s.subscribeData(c, lists, multi, lang))
}

func (s *Server) subscribeSubmit(c echo.Context) error {
	lists, multi, err := s.formLists(c)
	if err != nil {
		return err
	}
	lang := pageLang(c, lists[0].Language)
	cat := s.pages.cats(lang)
	p := s.subscribeData(c, lists, multi, lang)
	p.Email = c.FormValue("email")
	var nameErr string
	p.Name, nameErr = formName(c.FormValue("name"), cat)
	if nameErr != "" {
		p.Errors["name"] = nameErr
	}
	p.TrackingChecked = p.Tracking && c.FormValue("tracking") == "yes"
	if c.FormValue("website") != "" {
		// The honeypot: a bot filled a field people cannot see. Answer as
		// if it worked, and do nothing.
		return s.message(c, http.StatusOK, lang, "page.check_inbox_title", []string{cat.T("page.check_inbox_body")})
	}
	email, err := store.NormalizeEmail(p.Email)
	if err != nil {
		var ae *store.AddressError
		reason := err.Error()
		if errors.As(err, &ae) {
			reason = ae.Reason
		}
		p.Errors["email"] = cat.T("page.error_email", "reason", addressReason(cat, reason))
		if strings.TrimSpace(p.Email) == "" {
			p.Errors["email"] = cat.T("page.error_email_empty")
		}
	}
	chosen := lists
	if multi {
		picked := c.Request().Form["lists"]
		chosen = nil
		for i := range p.Lists {
			p.Lists[i].Checked = slices.Contains(picked, p.Lists[i].Slug)
			if p.Lists[i].Checked {
				chosen = append(chosen, lists[i])
			}
		}
		if len(chosen) == 0 {
			p.Errors["lists"] = cat.T("page.error_lists")
		}
	}
	if len(p.Errors) > 0 {
		return s.render(c, http.StatusUnprocessableEntity, "subscribe", p)
	}
	ctx := c.Request().Context()
	// Per address, after the checks above so that typos do not count.
	// The key is the address hash: the limiter's store never sees it.
	if ok, err := s.allow(c, "addr:"+s.st.AddressHash(email), s.rateAd); !ok {
		return err
	}
	// A suppressed address (someone who left everything, was erased, or
	// bounced) may come back only through the confirmation link, which
	// proves the mailbox is theirs: single opt-in lists wait for it too.
	suppressed := false
	if _, err := s.st.SuppressionOf(ctx, email); err == nil {
		suppressed = true
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	names := listNames(chosen, cat)
	text, version := consentText(cat, names)
	by := publicActor(c, "form")
	by.Data = map[string]any{"consent_text": text, "consent_version": version, "form": c.Request().URL.Path}
	var ins []store.SubscriptionInput
	double := false
	for _, l := range chosen {
		st := store.SubConfirmed
		if l.Optin == store.OptinDouble {
			st, double = store.SubUnconfirmed, true
		}
		if suppressed {
			// The page still answers by the list's opt-in mode below: a
			// different answer would tell a stranger the address is
			// suppressed. The person learns from the mail that they have
			// one more click to make.
			st = store.SubUnconfirmed
		}
		in := store.SubscriptionInput{ListID: l.ID, Status: st, ConsentBasis: "form: " + version}
		if l.TrackOpens || l.TrackClicks {
			in.TrackingConsent = &p.TrackingChecked
		}
		ins = append(ins, in)
	}
	if p.Tracking {
		by.Data["tracking_consent"] = p.TrackingChecked
	}
	res, err := s.st.Subscribe(ctx, store.SubscribeParams{Email: email, Name: p.Name, Language: lang, Lists: ins}, by)
	if err != nil {
		return err
	}
	if len(res.NeedConfirm) > 0 {
		t := queue.NewOptinTask(queue.OptinPayload{SubscriberID: res.Subscriber.ID, ListIDs: res.NeedConfirm})
		if err := s.q.Enqueue(ctx, t); err != nil {
			return fmt.Errorf("enqueue opt-in: %w", err)
		}
	}
	// The same answer whether or not the address was known: the page must
	// not tell a stranger who subscribes.
	if double {
		return s.message(c, http.StatusOK, lang, "page.check_inbox_title", []string{cat.T("page.check_inbox_body")})
	}
	return s.message(c, http.StatusOK, lang, "page.subscribed_title", []string{cat.T("page.subscribed_body", "lists", names)})
}

// confirm shows the confirmation button; POST confirms. The extra click
// keeps mail security scanners, which open every link in a mail, from
// confirming on the subscriber's behalf.
func (s *Server) confirm(c echo.Context) error {
	cf, sub, lists, err := s.openConfirm(c)
	if err != nil {
		return err
	}
	lang := pageLang(c, sub.Language)
	cat := s.pages.cats(lang)
	action := pageURL("/confirm/"+c.Param("token"), lang)
	if s.now().Sub(cf.Issued) > s.optinTTL {
		days := strconv.Itoa(int(s.optinTTL.Hours() / 24))
		return s.message(c, http.StatusGone, lang, "page.expired_title", []string{cat.T("page.expired_body", "days", days)},
			pageAction{URL: action, Button: cat.T("page.resend_button"), Hidden: map[string]string{"action": "resend"}})
	}
	if c.Request().Method == http.MethodGet {
		return s.message(c, http.StatusOK, lang, "page.confirm_title", []string{cat.T("page.confirm_body", "lists", listNames(lists, cat))},
			pageAction{URL: action, Button: cat.T("page.confirm_button"), Hidden: map[string]string{"action": "confirm"}})
	}
	ids := listIDs(lists)
	if _, err := s.st.ConfirmSubscriptions(c.Request().Context(), sub.ID, ids, publicActor(c, "confirm-link")); err != nil {
		return err
	}
	return s.message(c, http.StatusOK, lang, "page.confirmed_title", []string{cat.T("page.confirmed_body", "lists", listNames(lists, cat))})
}

func (s *Server) confirmSubmit(c echo.Context) error {
	if c.FormValue("action") != "resend" {
		return s.confirm(c)
	}
	_, sub, lists, err := s.openConfirm(c)
	if err != nil {
		return err
	}
	lang := pageLang(c, sub.Language)
	cat := s.pages.cats(lang)
	if ok, err := s.allow(c, "addr:"+sub.EmailHash, s.rateAd); !ok {
		return err
	}
	ids := listIDs(lists)
	t := queue.NewOptinTask(queue.OptinPayload{SubscriberID: sub.ID, ListIDs: ids})
	if err := s.q.Enqueue(c.Request().Context(), t); err != nil {
		return fmt.Errorf("enqueue opt-in: %w", err)
	}
	return s.message(c, http.StatusOK, lang, "page.resent_title", []string{cat.T("page.resent_body")})
}

// openConfirm checks a confirmation token and loads what it names.
func (s *Server) openConfirm(c echo.Context) (links.Confirm, *store.Subscriber, []store.List, error) {
	cf, err := s.sign.OpenConfirm(c.Param("token"))
	if err != nil {
		return cf, nil, nil, err
	}
	ctx := c.Request().Context()
	sub, err := s.st.Subscriber(ctx, cf.SubscriberID)
	if err != nil {
		return cf, nil, nil, err
	}
	lists, err := s.st.ListsByID(ctx, cf.ListIDs)
	if err != nil {
		return cf, nil, nil, err
	}
	if len(lists) == 0 {
		return cf, nil, nil, fmt.Errorf("confirm: %w", store.ErrNotFound)
	}
	return cf, sub, lists, nil
}

// unsubscribeTarget opens an unsubscribe token and finds the lists its
// link acts on (store.UnsubscribeScope). A test send's link has no
// subscriber and no lists.
func (s *Server) unsubscribeTarget(c echo.Context) (links.Unsubscribe, []int64, error) {
	u, err := s.sign.OpenUnsubscribe(c.Param("token"))
	if err != nil || u.SubscriberID == 0 {
		return u, nil, err
	}
	ids, err := s.st.UnsubscribeScope(c.Request().Context(), u.SubscriberID, u.CampaignID)
	return u, ids, err
}

// unsubscribeShown loads what the unsubscribe pages show of a target:
// the subscriber (address, language) and the lists by name. A one-click
// POST needs neither.
func (s *Server) unsubscribeShown(c echo.Context, u links.Unsubscribe, ids []int64) (*store.Subscriber, []store.List, error) {
	ctx := c.Request().Context()
	sub, err := s.st.Subscriber(ctx, u.SubscriberID)
	if err != nil {
		return nil, nil, err
	}
	lists, err := s.st.ListsByID(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	return sub, lists, nil
}

func (s *Server) unsubscribePage(c echo.Context) error {
	u, ids, err := s.unsubscribeTarget(c)
	if err != nil {
		return err
	}
	if u.SubscriberID == 0 {
		return s.testLinkPage(c)
	}
	sub, lists, err := s.unsubscribeShown(c, u, ids)
	if err != nil {
		return err
	}
	lang := pageLang(c, sub.Language)
	cat := s.pages.cats(lang)
	action := pageURL("/unsubscribe/"+c.Param("token"), lang)
	prefs := s.baseURL + "/preferences/" + s.sign.PreferencesToken(sub.ID)
	names := listNames(lists, cat)
	if len(lists) == 0 {
		p := messagePage{pageBase: s.base(c, lang, cat.T("page.unsubscribed_title")),
			Paragraphs: []string{cat.T("page.nothing_subscribed")},
			Link:       &pageLink{URL: prefs, Text: cat.T("page.manage_preferences")}}
		return s.render(c, http.StatusOK, "message", p)
	}
	p := messagePage{
		pageBase:   s.base(c, lang, cat.T("page.unsubscribe_title")),
		Paragraphs: []string{cat.T("page.unsubscribe_body", "lists", names, "email", sub.Email)},
		Actions: []pageAction{
			{URL: action, Button: cat.T("page.unsubscribe_button"), Hidden: map[string]string{"action": "unsubscribe"}},
			{URL: action, Button: cat.T("page.unsubscribe_all"), Hidden: map[string]string{"action": "unsubscribe_all"}, Secondary: true},
		},
		Link: &pageLink{URL: prefs, Text: cat.T("page.manage_preferences")},
	}
	return s.render(c, http.StatusOK, "message", p)
}

// unsubscribeSubmit answers RFC 8058 one-click POSTs from mail clients
// (body List-Unsubscribe=One-Click: done, no further step) and the
// buttons of the unsubscribe page, including undo.
func (s *Server) unsubscribeSubmit(c echo.Context) error {
	oneClick := c.FormValue("List-Unsubscribe") == "One-Click"
	ctx := c.Request().Context()
	if oneClick {
		// No page to show, so nothing is loaded: the store finds the
		// link's lists as it writes (store.UnsubscribeLink).
		u, err := s.sign.OpenUnsubscribe(c.Param("token"))
		if err != nil {
			return err
		}
		if u.SubscriberID == 0 {
			return c.String(http.StatusOK, "test link: nothing to unsubscribe\n")
		}
		if _, err := s.st.UnsubscribeLink(ctx, u.SubscriberID, u.CampaignID, unsubscribeActor(c, u, true)); err != nil {
			return err
		}
		return c.String(http.StatusOK, "unsubscribed\n")
	}
	u, ids, err := s.unsubscribeTarget(c)
	if err != nil {
		return err
	}
	if u.SubscriberID == 0 {
		return s.testLinkPage(c)
	}
	by := unsubscribeActor(c, u, false)
	sub, lists, err := s.unsubscribeShown(c, u, ids)
	if err != nil {
		return err
	}
	lang := pageLang(c, sub.Language)
	cat := s.pages.cats(lang)
	action := pageURL("/unsubscribe/"+c.Param("token"), lang)
	switch c.FormValue("action") {
	case "unsubscribe_all":
		left, err := s.st.UnsubscribeAll(ctx, sub.ID, u.CampaignID, by)
		if err != nil {
			return err
		}
		return s.message(c, http.StatusOK, lang, "page.unsubscribed_title", []string{cat.T("page.unsubscribed_all_body")},
			s.undoActions(action, cat, sub.ID, left)...)
	case "undo":
		ids, leftBy, err := s.openUndo(c, sub.ID)
		if err != nil {
			return err
		}
		restored, err := s.st.Resubscribe(ctx, sub.ID, ids, leftBy, by)
		if err != nil {
			return err
		}
		return s.message(c, http.StatusOK, lang, "page.undone_title", []string{cat.T("page.undone_body", "lists", listNames(restored, cat))})
	default:
		if len(ids) == 0 {
			// Nothing left in the link's scope: an empty list would mean
			// "every list" to the store.
			return s.message(c, http.StatusOK, lang, "page.unsubscribed_title", []string{cat.T("page.nothing_subscribed")})
		}
		left, err := s.st.Unsubscribe(ctx, sub.ID, ids, u.CampaignID, by)
		if err != nil {
			return err
		}
		return s.message(c, http.StatusOK, lang, "page.unsubscribed_title", []string{cat.T("page.unsubscribed_body", "lists", listNames(lists, cat))},
			s.undoActions(action, cat, sub.ID, left)...)
	}
}

// unsubscribeActor is who an unsubscribe through link u is recorded as:
// the reader, by the way they came, with the campaign of the link.
func unsubscribeActor(c echo.Context, u links.Unsubscribe, oneClick bool) store.Actor {
	source := "unsubscribe-page"
	if oneClick {
		source = "one-click"
	}
	by := publicActor(c, source)
	if u.CampaignID != 0 {
		by.Data = map[string]any{"campaign_id": u.CampaignID}
	}
	return by
}

// undoTTL is how long the undo button after an unsubscribe works.
const undoTTL = 24 * time.Hour

// undoToken signs the lists an unsubscribe just ended ("" when none).
// The undo restores exactly those: a list id in a form could otherwise
// name any list, private ones included, outside what the page's link
// was about.
func (s *Server) undoToken(subscriberID int64, left []int64) string {
	if len(left) == 0 {
		return ""
	}
	// The store's clock, which stamped unsubscribed_at: openUndo compares
	// the two.
	return s.sign.UndoToken(links.Undo{SubscriberID: subscriberID, Issued: s.st.Now(), ListIDs: left})
}

// undoActions is the undo button for the lists an unsubscribe ended.
func (s *Server) undoActions(url string, cat mailtemplates.Catalog, subscriberID int64, left []int64) []pageAction {
	tok := s.undoToken(subscriberID, left)
	if tok == "" {
		return nil
	}
	return []pageAction{{URL: url, Button: cat.T("page.undo_button"), Secondary: true,
		Hidden: map[string]string{"action": "undo", "undo": tok}}}
}

// openUndo checks the form's undo token: it must be the same person's
// as the page's own link, and recent. It returns the lists it may
// restore and the time by which they must have been left (the token is
// signed right after the unsubscribe; whole seconds, hence the second
// added), so that an old undo cannot reverse a later unsubscribe.
func (s *Server) openUndo(c echo.Context, subscriberID int64) ([]int64, time.Time, error) {
	u, err := s.sign.OpenUndo(c.FormValue("undo"))
	if err != nil || u.SubscriberID != subscriberID || s.st.Now().Sub(u.Issued) > undoTTL {
		return nil, time.Time{}, links.ErrInvalid
	}
	return u.ListIDs, u.Issued.Add(time.Second), nil
}

func (s *Server) testLinkPage(c echo.Context) error {
	lang := pageLang(c, "sv")
	return s.message(c, http.StatusOK, lang, "page.test_link_title", []string{s.pages.cats(lang).T("page.test_link_body")})
}

type preferencesPage struct {
	pageBase
	Action         string
	Email, Name    string
	SubscriberLang string
	Lists          []listOption
	Saved          bool
	// UnsubscribedAll shows the notice after "unsubscribe from
	// everything", with an undo button carrying the signed token Undo.
	UnsubscribedAll bool
	Undo            string
	// NameError says why the name was not saved.
	NameError string
}

// preferenceLists are the lists the page offers: every public list, and
// any list the subscriber has ever been on.
func (s *Server) preferenceLists(c echo.Context, sub *store.Subscriber) ([]listOption, error) {
	all, err := s.st.Lists(c.Request().Context())
	if err != nil {
		return nil, err
	}
	status := map[int64]string{}
	for _, m := range sub.Subscriptions {
		status[m.ListID] = m.Status
	}
	var out []listOption
	for _, l := range all {
		st, known := status[l.ID]
		if l.Visibility != store.VisibilityPublic && !known {
			continue
		}
		out = append(out, listOption{ID: l.ID, Slug: l.Slug, Name: l.Name, Description: l.Description,
			Checked: st == store.SubConfirmed || st == store.SubUnconfirmed})
	}
	return out, nil
}

func (s *Server) preferencesPage(c echo.Context) error {
	id, err := s.sign.OpenPreferences(c.Param("token"))
	if err != nil {
		return err
	}
	if id == 0 {
		return s.testLinkPage(c)
	}
	sub, err := s.st.Subscriber(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderPreferences(c, sub, false)
}

func (s *Server) renderPreferences(c echo.Context, sub *store.Subscriber, saved bool) error {
	p, err := s.preferencesData(c, sub, saved)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "preferences", p)
}

func (s *Server) preferencesData(c echo.Context, sub *store.Subscriber, saved bool) (preferencesPage, error) {
	lang := pageLang(c, sub.Language)
	cat := s.pages.cats(lang)
	opts, err := s.preferenceLists(c, sub)
	if err != nil {
		return preferencesPage{}, err
	}
	return preferencesPage{pageBase: s.base(c, lang, cat.T("page.preferences_title")),
		Action: pageURL("/preferences/"+c.Param("token"), lang), Email: sub.Email, Name: sub.Name,
		SubscriberLang: mailtemplates.NormalizeLanguage(sub.Language), Lists: opts, Saved: saved}, nil
}

// preferencesSubmit saves the page. The token in the link proves the
// person reads this mailbox, so lists ticked here are confirmed at once.
func (s *Server) preferencesSubmit(c echo.Context) error {
	id, err := s.sign.OpenPreferences(c.Param("token"))
	if err != nil {
		return err
	}
	if id == 0 {
		return s.testLinkPage(c)
	}
	ctx := c.Request().Context()
	sub, err := s.st.Subscriber(ctx, id)
	if err != nil {
		return err
	}
	by := publicActor(c, "preferences")
	var left []int64
	switch c.FormValue("action") {
	case "unsubscribe_all":
		if left, err = s.st.UnsubscribeAll(ctx, sub.ID, 0, by); err != nil {
			return err
		}
	case "undo":
		ids, leftBy, err := s.openUndo(c, sub.ID)
		if err != nil {
			return err
		}
		if _, err := s.st.Resubscribe(ctx, sub.ID, ids, leftBy, by); err != nil {
			return err
		}
	default:
		opts, err := s.preferenceLists(c, sub)
		if err != nil {
			return err
		}
		ticked := c.Request().Form["lists"]
		var ins []store.SubscriptionInput
		for _, o := range opts {
			on := slices.Contains(ticked, strconv.FormatInt(o.ID, 10))
			switch {
			case on && !o.Checked:
				ins = append(ins, store.SubscriptionInput{ListID: o.ID, Status: store.SubConfirmed, ConsentBasis: "preferences page"})
			case !on && o.Checked:
				ins = append(ins, store.SubscriptionInput{ListID: o.ID, Status: store.SubUnsubscribed})
			}
		}
		name, nameErr := formName(c.FormValue("name"), s.pages.cats(pageLang(c, sub.Language)))
		if nameErr != "" {
			// Nothing is saved, the ticks neither: the page comes back
			// with the person's input and what to correct.
			p, err := s.preferencesData(c, sub, false)
			if err != nil {
				return err
			}
			p.Name, p.NameError = name, nameErr
			return s.render(c, http.StatusUnprocessableEntity, "preferences", p)
		}
		lang := mailtemplates.NormalizeLanguage(c.FormValue("language"))
		patch := store.SubscriberPatch{Lists: ins, Reconsent: true}
		if name != sub.Name {
			patch.Name = &name
		}
		if lang != sub.Language {
			patch.Language = &lang
		}
		if _, err := s.st.UpdateSubscriber(ctx, sub.ID, patch, by); err != nil {
			return err
		}
	}
	sub, err = s.st.Subscriber(ctx, id)
	if err != nil {
		return err
	}
	p, err := s.preferencesData(c, sub, true)
	if err != nil {
		return err
	}
	if c.FormValue("action") == "unsubscribe_all" {
		p.UnsubscribedAll = true
		p.Undo = s.undoToken(sub.ID, left)
	}
	return s.render(c, http.StatusOK, "preferences", p)
}

// maxNameRunes is the longest name a subscriber may give, in characters
// (the forms' maxlength, and the API's limit).
const maxNameRunes = 200

// formName cleans the name typed into a public form with the API's text
// rule: runs of spaces, tabs and line breaks become one space, and a name
// that is too long or holds control characters or broken UTF-8 is
// refused with a sentence for the form, never cut (a cut name is one the
// person did not write). Only spaces is no name. On a refusal the name
// returned is for showing in the form again, made printable.
func formName(v string, cat mailtemplates.Catalog) (string, string) {
	if utf8.ValidString(v) {
		v = strings.Join(strings.Fields(v), " ")
	}
	name, p := cleanText(v, textRule{max: maxNameRunes, oneLine: true})
	switch p {
	case textOK, textBlank:
		return name, ""
	case textTooLong:
		return name, cat.T("page.error_name_too_long", "max", strconv.Itoa(maxNameRunes))
	}
	shown := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
	return shown, cat.T("page.error_name_invalid")
}
