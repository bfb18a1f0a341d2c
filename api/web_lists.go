package api

// The audience screens of the staff workspace: lists (this file),
// subscribers, imports and suppressions. Every write goes through the
// same request validation and store functions as the JSON API; only the
// binding (a form instead of JSON) and the answer (a page) differ.

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// listForm is the list form of the workspace. Every field is sent, so
// an edit replaces them all; unchecked boxes are false.
type listForm struct {
	Slug        string `form:"slug"`
	Name        string `form:"name"`
	Description string `form:"description"`
	Language    string `form:"language"`
	Optin       string `form:"optin"`
	Visibility  string `form:"visibility"`
	TemplateID  int64  `form:"template_id"`
	Archive     bool   `form:"archive"`
	TrackOpens  bool   `form:"track_opens"`
	TrackClicks bool   `form:"track_clicks"`
	ReplyTo     string `form:"reply_to"`
	// The list's own sender identity; "" is the instance's (Settings →
	// Sender identity).
	FromName      string `form:"from_name"`
	FromAddress   string `form:"from_address"`
	PostalAddress string `form:"postal_address"`
	Contact       string `form:"contact"`
}

// request is the form as the API's request, so that the same validate()
// runs.
func (f *listForm) request() listRequest {
	return listRequest{Slug: &f.Slug, Name: &f.Name, Description: &f.Description, Language: &f.Language,
		Optin: &f.Optin, Visibility: &f.Visibility, TemplateID: &f.TemplateID, Archive: &f.Archive,
		TrackOpens: &f.TrackOpens, TrackClicks: &f.TrackClicks, ReplyTo: &f.ReplyTo,
		FromName: &f.FromName, FromAddress: &f.FromAddress, PostalAddress: &f.PostalAddress, Contact: &f.Contact}
}

func listFormOf(l *store.List) listForm {
	f := listForm{Slug: l.Slug, Name: l.Name, Description: l.Description, Language: l.Language, Optin: l.Optin,
		Visibility: l.Visibility, Archive: l.Archive, TrackOpens: l.TrackOpens, TrackClicks: l.TrackClicks, ReplyTo: l.ReplyTo,
		FromName: l.FromName, FromAddress: l.FromAddress, PostalAddress: l.PostalAddress, Contact: l.Contact}
	if l.TemplateID != nil {
		f.TemplateID = *l.TemplateID
	}
	return f
}

type listsData struct {
	webPage
	Lists []store.List
}

func (s *Server) listsPage(c echo.Context) error {
	ls, err := s.st.Lists(c.Request().Context())
	if err != nil {
		return err
	}
	p := listsData{webPage: s.page(c, "lists.title", "lists"), Lists: ls}
	return s.renderWeb(c, http.StatusOK, "lists", p.Lang, p)
}

type listData struct {
	webPage
	List      *store.List // nil: a new list
	Form      listForm
	Templates []store.Template
	// SubscribeURL and Snippet are the public link and the form to
	// paste into the association's website (public lists only).
	SubscribeURL string
	Snippet      string
	// Sender is what each empty sender field of the list means: the
	// instance's identity, with UTSKICK_FROM where that is empty too.
	Sender store.SenderIdentity
}

func (s *Server) listData(c echo.Context, l *store.List, f listForm) (listData, error) {
	ts, err := s.st.Templates(c.Request().Context())
	if err != nil {
		return listData{}, err
	}
	title := "lists.new"
	if l != nil {
		title = "lists.edit"
	}
	id, err := s.st.SenderIdentity(c.Request().Context())
	if err != nil {
		return listData{}, err
	}
	def := s.compose.From()
	if id.FromName == "" {
		id.FromName = def.Name
	}
	if id.FromAddress == "" {
		id.FromAddress = def.Address
	}
	p := listData{webPage: s.page(c, title, "lists"), List: l, Form: f, Templates: ts, Sender: id}
	if l != nil {
		p.Title = l.Name
		if l.Visibility == store.VisibilityPublic {
			p.SubscribeURL = strings.TrimRight(s.baseURL, "/") + "/subscribe/" + l.Slug
			p.Snippet = s.subscribeSnippet(c, l, p.SubscribeURL)
		}
	}
	return p, nil
}

// subscribeSnippet is a plain HTML form that posts to the list's public
// subscribe page, to paste into another website. The page it posts to
// does the rest (consent text, errors, the confirmation mail), so the
// snippet needs no script and no styles of ours.
func (s *Server) subscribeSnippet(c echo.Context, l *store.List, action string) string {
	cat := s.pages.cats(l.Language)
	esc := template.HTMLEscapeString
	id := "utskick-" + l.Slug
	var b strings.Builder
	b.WriteString(`<form method="post" action="` + esc(action) + `" accept-charset="utf-8">` + "\n")
	b.WriteString(`  <input type="hidden" name="lang" value="` + esc(l.Language) + `">` + "\n")
	b.WriteString(`  <p><label for="` + id + `-email">` + esc(cat.T("page.email")) + `</label><br>` + "\n")
	b.WriteString(`  <input type="email" id="` + id + `-email" name="email" autocomplete="email" required></p>` + "\n")
	b.WriteString(`  <p><label for="` + id + `-name">` + esc(cat.T("page.name")) + `</label><br>` + "\n")
	b.WriteString(`  <input type="text" id="` + id + `-name" name="name" autocomplete="name" maxlength="200"></p>` + "\n")
	b.WriteString(`  <p><button type="submit">` + esc(cat.T("page.subscribe_button")) + `</button></p>` + "\n")
	b.WriteString(`</form>`)
	return b.String()
}

func (s *Server) listNewPage(c echo.Context) error {
	p, err := s.listData(c, nil, listForm{Language: "sv", Optin: store.OptinDouble, Visibility: store.VisibilityPrivate})
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "list", p.Lang, p)
}

func (s *Server) listPage(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	l, err := s.st.List(c.Request().Context(), id)
	if err != nil {
		return err
	}
	p, err := s.listData(c, l, listFormOf(l))
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "list", p.Lang, p)
}

func (s *Server) listCreate(c echo.Context) error {
	var f listForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	req := f.request()
	err := req.validate(true)
	var l *store.List
	if err == nil {
		l, err = s.createListFrom(c.Request().Context(), req)
	}
	if err == nil {
		s.flash(c, "flash.aud_list_created")
		return redirect(c, "/admin/lists/"+strconv.FormatInt(l.ID, 10))
	}
	return s.listFormFailed(c, nil, f, err)
}

func (s *Server) listUpdate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := s.st.List(ctx, id)
	if err != nil {
		return err
	}
	var f listForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	req := f.request()
	err = req.validate(false)
	if err == nil {
		_, err = s.updateListFrom(ctx, id, req)
	}
	if err == nil {
		s.flash(c, "flash.aud_list_saved")
		return redirect(c, "/admin/lists/"+strconv.FormatInt(id, 10))
	}
	return s.listFormFailed(c, cur, f, err)
}

// listFormFailed shows the form again with the error at its field, or
// passes on an error that is no one field's.
func (s *Server) listFormFailed(c echo.Context, l *store.List, f listForm, err error) error {
	errs := s.audienceErrors(c, err)
	if errs == nil {
		return err
	}
	p, lerr := s.listData(c, l, f)
	if lerr != nil {
		return lerr
	}
	p.Errors = errs
	return s.renderWeb(c, http.StatusUnprocessableEntity, "list", p.Lang, p)
}

func (s *Server) listDelete(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteList(c.Request().Context(), id); err != nil {
		if errors.Is(err, store.ErrConflict) {
			s.flashError(c, "flash.aud_list_busy")
			return redirect(c, "/admin/lists/"+strconv.FormatInt(id, 10))
		}
		return err
	}
	s.flash(c, "flash.aud_list_deleted")
	return redirect(c, "/admin/lists")
}

// audienceErrors turns an error of an audience form into the form's
// errors by field, in the user's language: a FieldError of the shared
// validation (worded by its key, or else by the kind of problem its
// message names), or a conflict that names a field (a taken slug or
// address). Anything else is nil, for the error page.
func (s *Server) audienceErrors(c echo.Context, err error) map[string]string {
	var fe *FieldError
	if errors.As(err, &fe) {
		if fe.Key != "" {
			return map[string]string{fe.Field: s.t(c, fe.Key, fe.Args...)}
		}
		return map[string]string{formField(fe.Field): s.fieldText(c, fe)}
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field != "" {
		key := "aud.err.conflict"
		switch {
		case ce.Field == "slug":
			key = "aud.err.slug_taken"
		case ce.Field == "email" && strings.Contains(ce.Msg, "already exists"):
			key = "aud.err.email_taken"
		case strings.Contains(ce.Msg, "erased"):
			key = "aud.err.erased"
		case strings.Contains(ce.Msg, "unsubscribed from every list"):
			key = "aud.err.left_all"
		}
		return map[string]string{formField(ce.Field): s.t(c, key)}
	}
	return nil
}

// formField is the form field an API field name belongs to:
// "lists[2].status" and "list_ids[0]" are the lists, "attributes.x" the
// attributes box.
func formField(f string) string {
	for _, p := range []string{"lists", "list_ids", "attributes"} {
		if strings.HasPrefix(f, p+"[") || strings.HasPrefix(f, p+".") {
			return p
		}
	}
	return f
}

// fieldText words a FieldError of the shared checks (checkText, oneOf,
// the address and slug rules), which carry English for the API.
func (s *Server) fieldText(c echo.Context, fe *FieldError) string {
	m := fe.Msg
	switch {
	case fe.Field == "slug":
		return s.t(c, "aud.err.slug")
	case m == "is required" || strings.HasPrefix(m, "must not be empty"):
		return s.t(c, "err.required")
	case strings.HasPrefix(m, "must be at most") && strings.Contains(m, "characters"):
		return s.t(c, "aud.err.too_long", "max", strings.Fields(m)[3])
	case m == "must be one line":
		return s.t(c, "aud.err.one_line")
	case strings.HasPrefix(m, "must not contain control characters"):
		return s.t(c, "aud.err.control")
	case strings.HasPrefix(m, "holds only spaces"):
		return s.t(c, "aud.err.blank")
	case fe.Field == "reply_to":
		return s.t(c, "aud.err.reply_to")
	case fe.Field == "email":
		return s.t(c, "err.email")
	case strings.HasPrefix(fe.Field, "attributes"):
		return s.t(c, "aud.err.attributes", "detail", fe.Field+": "+m)
	case strings.HasPrefix(m, "must be one of"):
		return s.t(c, "aud.err.choose")
	}
	return s.t(c, "aud.err.invalid", "detail", m)
}

// withQuery is path with the query q, for links between pages.
func withQuery(path string, q url.Values) string {
	if e := q.Encode(); e != "" {
		return path + "?" + e
	}
	return path
}

// audLabels words a value by a key made of a prefix, the value and a
// suffix ("aud.sub_status." + "confirmed"): the statuses, modes, reasons
// and event kinds of the audience screens. Templates call it as
// {{$.L "aud.sub_status." .Status ""}}; TestAudienceLabelsExist checks
// that every value the store can hold has its words.
type audLabels struct{ cat map[string]string }

// L is the words for prefix+v+suffix, or v itself when there are none
// (a value newer than the catalog still shows).
func (a audLabels) L(prefix, v, suffix string) string {
	if t, ok := a.cat[prefix+v+suffix]; ok {
		return t
	}
	return v
}

func (s *Server) labels(c echo.Context) audLabels {
	return audLabels{cat: s.web.cats[s.webLang(c)]}
}
