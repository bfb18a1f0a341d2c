package api

// The campaign editor: a form that saves (and previews) without scripts,
// and editor.js on top of it for autosave, a live preview and snippets.
// Saving, sending and test sends go through the same functions as the
// JSON API (editCampaign, newCampaign, sendCampaign, sendTest).

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/lint"
	"github.com/storsthlm/utskick/store"
)

// editorForm is the editor's form, as posted.
type editorForm struct {
	Name      string  `form:"name"`
	Subject   string  `form:"subject"`
	Preheader string  `form:"preheader"`
	From      string  `form:"from"`
	ReplyTo   string  `form:"reply_to"`
	Body      string  `form:"body"`
	ListIDs   []int64 `form:"list_ids"`
	Revision  int     `form:"revision"`
	// Action is the button: "save" or "preview".
	Action string `form:"action"`
}

func (f *editorForm) request(withRevision bool) campaignRequest {
	// Browsers send a textarea's line ends as CRLF; the API's text rule
	// takes LF.
	body := strings.ReplaceAll(f.Body, "\r\n", "\n")
	ids := f.ListIDs
	if ids == nil {
		ids = []int64{}
	}
	r := campaignRequest{Name: &f.Name, Subject: &f.Subject, Preheader: &f.Preheader, From: &f.From,
		ReplyTo: &f.ReplyTo, Body: &body, ListIDs: &ids}
	if withRevision {
		r.Revision = &f.Revision
	}
	return r
}

func formOf(c *store.Campaign) editorForm {
	return editorForm{Name: c.Name, Subject: c.Subject, Preheader: c.Preheader, From: c.FromAddr, ReplyTo: c.ReplyTo,
		Body: c.Body, ListIDs: c.ListIDs, Revision: c.Revision}
}

// finding is a lint finding or a content error, with the line of the
// body it is about when one is known.
type finding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Blocking bool   `json:"blocking,omitempty"`
	Line     int    `json:"line,omitempty"`
}

type editorData struct {
	webPage
	Camp           *store.Campaign
	Form           editorForm
	Lists          []store.List
	Selected       map[int64]bool
	Attrs          []string
	Media          []mediaItem
	DefaultFrom    string
	DefaultReplyTo string
	Findings       []finding
	Theirs         *store.Campaign // the saved version, when a save conflicted
	PreviewURL     string
	TextPreview    string
	PreviewError   string
	ShowPreview    bool
	TestEmails     string
	SendDate       string
	SendTime       string
	Snippets       []snippet
}

// snippet is a block skeleton the toolbar inserts.
type snippet struct{ Key, Label, Text string }

// snippets are the skeletons of the body's blocks (docs/writing.md).
func (s *Server) snippets(c echo.Context) []snippet {
	t := func(k string) string { return s.t(c, k) }
	return []snippet{
		{"editorial", t("editor.insert_editorial"), ":::editorial{kicker=\"" + t("editor.sk_kicker_editorial") + "\" signature=\"" + t("editor.sk_signature") + "\"}\n## " + t("editor.sk_headline") + "\n\n" + t("editor.sk_text") + "\n:::\n"},
		{"article", t("editor.insert_article"), ":::article{kicker=\"" + t("editor.sk_kicker") + "\" more=\"https://\" more_text=\"" + t("editor.sk_more") + "\"}\n## " + t("editor.sk_headline") + "\n\n" + t("editor.sk_text") + "\n:::\n"},
		{"calendar", t("editor.insert_calendar"), ":::calendar{kicker=\"" + t("editor.sk_kicker_calendar") + "\"}\n## " + t("editor.sk_calendar_heading") + "\n\n- 2 april | " + t("editor.sk_event") + "\n- 9 april | [" + t("editor.sk_event") + "](https://)\n:::\n"},
		{"image", t("editor.insert_image"), "![" + t("editor.sk_alt") + "](https:// \"" + t("editor.sk_caption") + "\")\n"},
	}
}

func (s *Server) editorData(c echo.Context, camp *store.Campaign, f editorForm) (editorData, error) {
	ctx := c.Request().Context()
	title := "editor.title_new"
	if camp != nil {
		title = "editor.title"
	}
	p := editorData{webPage: s.page(c, title, "campaigns"), Camp: camp, Form: f, Selected: map[int64]bool{}, Snippets: s.snippets(c)}
	ls, byID, err := s.listsByID(c)
	if err != nil {
		return p, err
	}
	p.Lists = ls
	for _, id := range f.ListIDs {
		p.Selected[id] = true
	}
	if keys, err := s.st.AttributeKeys(ctx, f.ListIDs); err == nil {
		p.Attrs = keys
	} else {
		return p, err
	}
	ms, _, err := s.st.MediaList(ctx, 0, 48)
	if err != nil {
		return p, err
	}
	for i := range ms {
		p.Media = append(p.Media, mediaItem{Media: &ms[i], URL: s.mediaURL(&ms[i])})
	}
	from := s.compose.From()
	p.DefaultFrom = readableAddress(&from)
	if len(f.ListIDs) > 0 {
		p.DefaultReplyTo = byID[f.ListIDs[0]].ReplyTo
	}
	if ws := webSessionOf(c); ws != nil {
		p.TestEmails = ws.User.Email
	}
	return p, nil
}

// editorNew is GET /admin/campaigns/new.
func (s *Server) editorNew(c echo.Context) error {
	f := editorForm{}
	if l, err := queryInt(c, "list", 0); err == nil && l > 0 {
		f.ListIDs = []int64{l}
	}
	p, err := s.editorData(c, nil, f)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "editor", p.Lang, p)
}

// editorCreate is POST /admin/campaigns/new: the first save of a draft.
func (s *Server) editorCreate(c echo.Context) error {
	var f editorForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	camp, err := s.newCampaign(c.Request().Context(), f.request(false))
	if err == nil {
		s.flash(c, "flash.editor_created")
		return redirect(c, fmt.Sprintf("/admin/campaigns/%d/edit", camp.ID))
	}
	p, derr := s.editorData(c, nil, f)
	if derr != nil {
		return derr
	}
	if p.Errors = s.campaignFormErrors(c, err); p.Errors == nil {
		return err
	}
	return s.renderWeb(c, http.StatusUnprocessableEntity, "editor", p.Lang, p)
}

// campaignFormErrors places a save's error at its field: a 400's field,
// or the field a conflict names (revision, list_ids).
func (s *Server) campaignFormErrors(c echo.Context, err error) map[string]string {
	if field, msg, _, ok := s.contentText(c, err); ok {
		return map[string]string{field: msg}
	}
	if m := s.formErrors(c, err); m != nil {
		field := ""
		for k := range m {
			field = k
		}
		// list_ids[0] and the like point at the lists fieldset.
		if strings.HasPrefix(field, "list_ids") && field != "list_ids" {
			return map[string]string{"list_ids": m[field]}
		}
		if field == "template" || strings.HasPrefix(field, "template.") {
			return map[string]string{"body": m[field]}
		}
		return m
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		switch ce.Field {
		case "revision":
			return map[string]string{"revision": s.t(c, "editor.err_conflict")}
		case "list_ids":
			return map[string]string{"list_ids": s.t(c, "editor.err_no_lists")}
		case "":
			return map[string]string{"revision": ce.Msg}
		}
		return map[string]string{ce.Field: ce.Msg}
	}
	return nil
}

// draftOf loads campaign :id.
func (s *Server) draftOf(c echo.Context) (*store.Campaign, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return nil, err
	}
	return s.st.Campaign(c.Request().Context(), id)
}

// editorPage is GET /admin/campaigns/:id/edit. A campaign that is no
// longer a draft opens on its campaign page.
func (s *Server) editorPage(c echo.Context) error {
	camp, err := s.draftOf(c)
	if err != nil {
		return err
	}
	if camp.Status != store.CampaignDraft {
		return redirect(c, campaignURL(camp))
	}
	p, err := s.editorData(c, camp, formOf(camp))
	if err != nil {
		return err
	}
	s.fillPreview(c, &p, camp)
	return s.renderWeb(c, http.StatusOK, "editor", p.Lang, p)
}

// fillPreview adds the preview, the text part and the lint to an editor
// page (the no-script path; editor.js refreshes them itself).
func (s *Server) fillPreview(c echo.Context, p *editorData, camp *store.Campaign) {
	p.PreviewURL = fmt.Sprintf("/admin/campaigns/%d/preview", camp.ID)
	ctx := c.Request().Context()
	comp, rcpt, err := s.previewParts(ctx, camp, previewOptions{})
	if err != nil {
		p.PreviewError = s.contentErrorText(c, err)
		p.Findings = s.contentFindings(c, err)
		return
	}
	p.TextPreview = comp.Compiled.Text(rcpt)
	p.Findings = s.findings(c, camp)
}

// contentFindings turns an error of the content into a finding with its
// line, in the page's language.
func (s *Server) contentFindings(c echo.Context, err error) []finding {
	var be *mailtemplates.BodyError
	if errors.As(err, &be) {
		return []finding{{Code: "body", Severity: "error", Message: s.bodyErrorText(c, be), Line: be.Line}}
	}
	return []finding{{Code: "content", Severity: "error", Message: s.contentErrorText(c, err)}}
}

// bodyErrorText is a body mistake in the page's language, without its
// line: the words of "content."+Key filled with its Params, or the
// English when there are none.
func (s *Server) bodyErrorText(c echo.Context, be *mailtemplates.BodyError) string {
	if wording, ok := s.web.cats[s.webLang(c)]["content."+be.Key]; ok && be.Key != "" {
		return lint.Fill(wording, be.Params)
	}
	return be.Msg
}

// contentText words a body or placeholder mistake in err for the page:
// the field it belongs to, the message (a body mistake names its line)
// and the line; ok is false for any other error. The JSON API keeps the
// English of contentError.
func (s *Server) contentText(c echo.Context, err error) (field, msg string, line int, ok bool) {
	var be *mailtemplates.BodyError
	var pe *mailtemplates.PlaceholderError
	switch {
	case errors.As(err, &pe):
		what := pe.Msg
		if wording, found := s.web.cats[s.webLang(c)]["content.placeholder."+pe.Key]; found && pe.Key != "" {
			what = lint.Fill(wording, pe.Params)
		}
		return pe.Field, s.t(c, "content.placeholder", "placeholder", pe.Placeholder, "msg", what), 0, true
	case errors.As(err, &be):
		return "body", s.t(c, "content.at_line", "line", strconv.Itoa(be.Line), "msg", s.bodyErrorText(c, be)), be.Line, true
	}
	return "", "", 0, false
}

// contentErrorText is err as the preview shows it: a content mistake in
// the page's language, anything else as the API words it.
func (s *Server) contentErrorText(c echo.Context, err error) string {
	if _, msg, _, ok := s.contentText(c, err); ok {
		return msg
	}
	return errorText(contentError(err))
}

var quotedRE = regexp.MustCompile(`"([^"]{4,})"|(https?://[^\s"')]+)`)

// findings runs the lint on the message a sample reader would get, in
// the words of the page's language, and points each finding at the first
// line of the body that holds what it names (a link, an image, a text),
// when there is one.
func (s *Server) findings(c echo.Context, camp *store.Campaign) []finding {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	rep, err := s.lintCampaign(ctx, camp, 0, false)
	if err != nil {
		return s.contentFindings(c, err)
	}
	lines := strings.Split(camp.Body, "\n")
	out := make([]finding, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		out = append(out, finding{Code: f.Code, Severity: f.Severity, Message: s.lintText(c, f), Blocking: f.Blocking, Line: lineOf(lines, f)})
	}
	return out
}

// lintText is finding f in the page's language: the wording of its Key
// from the i18n files ("lint."+Key) filled with its Params. The reasons
// utskick itself gives for a check it skipped are translated too.
func (s *Server) lintText(c echo.Context, f lint.Finding) string {
	wording, ok := s.web.cats[s.webLang(c)]["lint."+f.Key]
	if !ok {
		return f.Message // a finding without words of its own: the English
	}
	params := f.Params
	if why, ok := params["why"]; ok {
		params = maps.Clone(params)
		switch why {
		case noDNSEmbedded:
			params["why"] = s.t(c, "lint.why_embedded")
		case lint.NoResolverReason:
			params["why"] = s.t(c, "lint.why_no_resolver")
		}
	}
	return lint.Fill(wording, params)
}

// lineOf is the first line of the body that holds a link, image source
// or text the finding names, 0 when none does.
func lineOf(lines []string, f lint.Finding) int {
	var needles []string
	for _, k := range []string{"url", "src", "text", "address"} {
		if v := f.Params[k]; len(v) >= 4 {
			needles = append(needles, v)
		}
	}
	for _, m := range quotedRE.FindAllStringSubmatch(f.Message, -1) {
		needle := m[1]
		if needle == "" {
			needle = m[2]
		}
		needles = append(needles, needle)
	}
	for _, needle := range needles {
		for i, l := range lines {
			if strings.Contains(l, needle) {
				return i + 1
			}
		}
	}
	return 0
}

// editorSave is POST /admin/campaigns/:id/edit, the form without
// scripts: save, then show the editor again (with the preview when that
// button was pressed). A save made from an older revision is refused and
// both versions are shown: the writer's text stays in the form.
func (s *Server) editorSave(c echo.Context) error {
	camp, err := s.draftOf(c)
	if err != nil {
		return err
	}
	var f editorForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	saved, err := s.editCampaign(c.Request().Context(), camp.ID, f.request(true))
	if err == nil {
		s.flash(c, "flash.editor_saved")
		to := fmt.Sprintf("/admin/campaigns/%d/edit", saved.ID)
		if f.Action == "preview" {
			to += "#preview"
		}
		return redirect(c, to)
	}
	errs := s.campaignFormErrors(c, err)
	if errs == nil {
		return err
	}
	cur, lerr := s.st.Campaign(c.Request().Context(), camp.ID)
	if lerr != nil {
		return lerr
	}
	p, derr := s.editorData(c, cur, f)
	if derr != nil {
		return derr
	}
	p.Errors = errs
	if _, ok := errs["revision"]; ok {
		// The writer's text stays; the next save, from the current
		// revision, is a deliberate choice to replace theirs.
		p.Theirs = cur
		p.Form.Revision = cur.Revision
	}
	s.fillPreview(c, &p, cur)
	return s.renderWeb(c, http.StatusUnprocessableEntity, "editor", p.Lang, p)
}

// autosaveAnswer is what editor.js gets back from an autosave.
type autosaveAnswer struct {
	Saved    bool              `json:"saved"`
	Revision int               `json:"revision"`
	SavedAt  string            `json:"saved_at,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"`
	Findings []finding         `json:"findings"`
	// Conflict: someone else saved; Theirs is the saved version.
	Conflict bool            `json:"conflict,omitempty"`
	Theirs   *store.Campaign `json:"theirs,omitempty"`
	Message  string          `json:"message,omitempty"`
}

// editorAutosave is POST /admin/campaigns/:id/autosave, the editor's
// form as editor.js sends it after a pause in typing: the same save as
// the form, answered in JSON.
func (s *Server) editorAutosave(c echo.Context) error {
	camp, err := s.draftOf(c)
	if err != nil {
		return err
	}
	var f editorForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	saved, err := s.editCampaign(ctx, camp.ID, f.request(true))
	if err == nil {
		return c.JSON(http.StatusOK, autosaveAnswer{Saved: true, Revision: saved.Revision,
			SavedAt: saved.UpdatedAt.In(mailtemplates.Stockholm()).Format("15:04:05"), Findings: s.findings(c, saved)})
	}
	errs := s.campaignFormErrors(c, err)
	if errs == nil {
		return err
	}
	ans := autosaveAnswer{Errors: errs, Revision: f.Revision, Findings: []finding{}}
	if _, ok := errs["revision"]; ok {
		cur, lerr := s.st.Campaign(ctx, camp.ID)
		if lerr != nil {
			return lerr
		}
		ans.Conflict, ans.Theirs, ans.Message = true, cur, errs["revision"]
		return c.JSON(http.StatusConflict, ans)
	}
	var be *mailtemplates.BodyError
	if errors.As(err, &be) {
		ans.Findings = s.contentFindings(c, err)
	} else if m, ok := errs["body"]; ok {
		ans.Findings = []finding{{Code: "body", Severity: "error", Message: m, Line: lineInMessage(m)}}
	}
	return c.JSON(http.StatusUnprocessableEntity, ans)
}

var lineRE = regexp.MustCompile(`^line (\d+):`)

func lineInMessage(m string) int {
	if sm := lineRE.FindStringSubmatch(m); sm != nil {
		n, _ := strconv.Atoi(sm[1])
		return n
	}
	return 0
}

// previewOptions are the reader of a preview.
type previewOptions struct {
	SubscriberID int64
	Lang         string // "sv", "en", or "" for the reader's own
}

// previewParts composes camp for a staff preview, as previewCampaign of
// the API does: personal links inert, nothing tracked.
func (s *Server) previewParts(ctx context.Context, camp *store.Campaign, o previewOptions) (*compose.Composed, *mailtemplates.Recipient, error) {
	comp, err := s.compose.Compose(ctx, s.st, camp)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.previewRecipient(ctx, comp, o.SubscriberID)
	if err != nil {
		return nil, nil, err
	}
	if o.Lang != "" {
		r.Language = o.Lang
	}
	return comp, s.compose.StaffRecipient(camp.ID, comp.From, r, s.now()), nil
}

// editorPreviewPolicy is mailHTMLPolicy for a preview shown in the
// editor's sandboxed frame: framed by the workspace itself, images from
// this server (the media library) as well as https.
func (s *Server) editorPreviewPolicy() string {
	img := "https: data: 'self'"
	if o := s.baseOrigin(); o != "" {
		img += " " + o
	}
	return "default-src 'none'; img-src " + img + "; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
}

// editorPreview is GET /admin/campaigns/:id/preview?format=html|text
// &lang=sv|en&as=<email>&scheme=light|dark: the saved draft as a reader
// sees it, for the editor's frame. Like every staff preview its personal
// links are inert.
func (s *Server) editorPreview(c echo.Context) error {
	camp, err := s.draftOf(c)
	if err != nil {
		return err
	}
	return s.writePreview(c, camp)
}

// previewTimeout bounds the compile of one live preview: the writer's
// typing triggers it, so it must not hold a worker for long.
const previewTimeout = 2 * time.Second

// previewBodyLimit bounds a posted preview: the editor's fields at their
// longest (a body of MaxBodyChars characters of up to four bytes each,
// percent-encoded) and the rest of the form.
const previewBodyLimit = "3M"

// editorPreviewDraft is POST /admin/campaigns/:id/preview with the same
// query as the GET: the editor's fields as they are now, unsaved, as a
// reader would see them. editor.js posts them after a pause in typing;
// without scripts the editor form's "Förhandsgranska" button posts them
// into the frame. The fields pass the save's own checks
// (campaignRequest.validate) and are composed as the saved draft is;
// nothing is written.
func (s *Server) editorPreviewDraft(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var f editorForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	req := f.request(false)
	if err := req.validate(false); err != nil {
		return s.previewRefused(c, err)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), previewTimeout)
	defer cancel()
	camp, err := s.st.PatchedDraft(ctx, id, store.CampaignPatch{Name: req.Name, Subject: req.Subject, From: req.From,
		ReplyTo: req.ReplyTo, Preheader: req.Preheader, Body: req.Body, ListIDs: req.ListIDs})
	if err != nil {
		return s.previewRefused(c, listFieldError(err, listIDRefs(req.ListIDs), "list_ids"))
	}
	c.SetRequest(c.Request().WithContext(ctx))
	return s.writePreview(c, camp)
}

// previewRefused answers a posted preview whose fields the save would
// refuse: the reason, in the frame, at the field it names.
func (s *Server) previewRefused(c echo.Context, err error) error {
	errs := s.campaignFormErrors(c, err)
	if errs == nil {
		return err
	}
	var b strings.Builder
	for field, msg := range errs {
		fmt.Fprintf(&b, "%s: %s\n", field, msg)
	}
	s.previewHeaders(c)
	return c.Blob(http.StatusUnprocessableEntity, "text/plain; charset=utf-8", []byte(b.String()))
}

// previewHeaders are the headers of every answer shown in the editor's
// frame.
func (s *Server) previewHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set(previewHeader, previewDiffers)
	h.Set("Content-Security-Policy", s.editorPreviewPolicy())
	h.Set("X-Frame-Options", "SAMEORIGIN")
}

// writePreview renders camp for the editor's frame, as the query asks.
func (s *Server) writePreview(c echo.Context, camp *store.Campaign) error {
	format := c.QueryParam("format")
	if err := oneOf("format", &format, "html", "html", "text"); err != nil {
		return err
	}
	lang := c.QueryParam("lang")
	if lang != "" {
		if err := oneOf("lang", &lang, "", "sv", "en"); err != nil {
			return err
		}
	}
	scheme := c.QueryParam("scheme")
	if err := oneOf("scheme", &scheme, "light", "light", "dark"); err != nil {
		return err
	}
	o := previewOptions{Lang: lang}
	ctx := c.Request().Context()
	s.previewHeaders(c)
	if as := strings.TrimSpace(c.QueryParam("as")); as != "" {
		sub, err := s.st.SubscriberByEmail(ctx, as)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidAddress) {
				return c.String(http.StatusNotFound, s.t(c, "editor.preview_no_subscriber", "email", as))
			}
			return err
		}
		o.SubscriberID = sub.ID
	}
	comp, rcpt, err := s.previewParts(ctx, camp, o)
	if err != nil {
		return c.String(http.StatusUnprocessableEntity, s.contentErrorText(c, err))
	}
	if format == "text" {
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(comp.Compiled.Text(rcpt)))
	}
	html := comp.Compiled.HTML(rcpt)
	// The frame cannot be told the colour scheme; the mail's dark rules
	// are switched on (dark) or off (light) instead, whatever the
	// viewer's system prefers.
	if scheme == "dark" {
		html = strings.ReplaceAll(html, "prefers-color-scheme: dark", "min-width: 0px")
	} else {
		html = strings.ReplaceAll(html, "prefers-color-scheme: dark", "max-width: 0px")
	}
	return c.HTMLBlob(http.StatusOK, []byte(html))
}

// editorTest is POST /admin/campaigns/:id/test: a test send to the
// addresses in the form (one per line or separated by commas).
func (s *Server) editorTest(c echo.Context) error {
	camp, err := s.draftOf(c)
	if err != nil {
		return err
	}
	raw := c.FormValue("emails")
	var emails []string
	for _, e := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' || r == ' ' }) {
		emails = append(emails, e)
	}
	n, err := s.sendTest(c, camp.ID, emails)
	if err == nil {
		_ = n
		s.flash(c, "flash.editor_test_sent")
		return redirect(c, fmt.Sprintf("/admin/campaigns/%d/edit#test", camp.ID))
	}
	errs := s.campaignFormErrors(c, err)
	if errs == nil {
		var ce *store.ConflictError
		if !errors.As(err, &ce) {
			return err
		}
	}
	msg := ""
	for _, m := range errs {
		msg = m
	}
	p, derr := s.editorData(c, camp, formOf(camp))
	if derr != nil {
		return derr
	}
	p.Errors = map[string]string{"emails": msg}
	p.TestEmails = raw
	s.fillPreview(c, &p, camp)
	return s.renderWeb(c, http.StatusUnprocessableEntity, "editor", p.Lang, p)
}
