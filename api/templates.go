package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/store"
)

type templateRequest struct {
	Name        *string                    `json:"name"`
	Description *string                    `json:"description"`
	HTML        *string                    `json:"html"`
	Theme       *mailtemplates.ThemeColors `json:"theme"`
}

func (r *templateRequest) validate(create bool) error {
	if r.HTML != nil {
		*r.HTML = strings.ReplaceAll(*r.HTML, "\r\n", "\n") // saved from a Windows editor
	}
	if err := oneLineText("name", r.Name, create, 200); err != nil {
		return err
	}
	if err := text("description", r.Description, false, 5000); err != nil {
		return err
	}
	return text("html", r.HTML, create, 200_000)
}

// prepare checks the template as it will be after the request (the stored
// values for what the request leaves out) and returns its inlined source.
func (s *Server) prepareTemplate(name, html string, theme mailtemplates.ThemeColors) (string, error) {
	inlined, _, err := s.tmpl.PrepareLayout(name, html, theme)
	var le *mailtemplates.LayoutError
	if errors.As(err, &le) {
		return "", fieldErr(le.Field, "%s", le.Msg)
	}
	return inlined, err
}

func themeAttrs(c mailtemplates.ThemeColors) store.Attributes {
	b, _ := json.Marshal(c) // strings only: cannot fail
	var a store.Attributes
	_ = json.Unmarshal(b, &a)
	return a
}

func (s *Server) createTemplate(c echo.Context) error {
	var req templateRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(true); err != nil {
		return err
	}
	theme := deref(req.Theme)
	inlined, err := s.prepareTemplate(*req.Name, *req.HTML, theme)
	if err != nil {
		return err
	}
	t := &store.Template{Name: *req.Name, Description: deref(req.Description), HTML: *req.HTML,
		CompiledHTML: inlined, Theme: themeAttrs(theme)}
	if err := s.st.CreateTemplate(c.Request().Context(), t); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, t)
}

func (s *Server) listTemplates(c echo.Context) error {
	ts, err := s.st.Templates(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(ts, 0))
}

func (s *Server) getTemplate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	t, err := s.st.Template(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *Server) updateTemplate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req templateRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(false); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := s.st.Template(ctx, id)
	if err != nil {
		return err
	}
	p := store.TemplatePatch{Name: req.Name, Description: req.Description}
	if req.HTML != nil || req.Theme != nil || req.Name != nil {
		name, html := cur.Name, cur.HTML
		if req.Name != nil {
			name = *req.Name
		}
		if req.HTML != nil {
			html = *req.HTML
		}
		theme, err := compose.ThemeColors(cur.Theme)
		if err != nil {
			return err
		}
		if req.Theme != nil {
			theme = *req.Theme
		}
		inlined, err := s.prepareTemplate(name, html, theme)
		if err != nil {
			return err
		}
		ta := themeAttrs(theme)
		p.HTML, p.CompiledHTML, p.Theme = &html, &inlined, &ta
	}
	t, err := s.st.UpdateTemplate(ctx, id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *Server) deleteTemplate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteTemplate(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// templatePreviewRequest is sample data for a template preview; every
// field is optional.
type templatePreviewRequest struct {
	Subject    *string        `json:"subject"`
	Preheader  *string        `json:"preheader"`
	Body       *string        `json:"body"`     // Markdown; default: a sample issue with every block
	Language   *string        `json:"language"` // the content's; default sv
	Reader     *string        `json:"reader_language"`
	Format     *string        `json:"format"` // html (default) or text
	Name       *string        `json:"name"`
	Attributes map[string]any `json:"attributes"`
}

// previewTemplate renders template :id around sample data.
func (s *Server) previewTemplate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req templatePreviewRequest
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	if err := oneOf("format", req.Format, "html", "html", "text"); err != nil {
		return err
	}
	if err := language("language", req.Language); err != nil {
		return err
	}
	if err := language("reader_language", req.Reader); err != nil {
		return err
	}
	body := mailtemplates.SampleBody()
	if req.Body != nil {
		body = *req.Body
	}
	subject := "Förhandsvisning"
	if req.Subject != nil {
		subject = *req.Subject
	}
	if err := validateContent(map[string]string{"subject": subject, "preheader": deref(req.Preheader), "body": body}); err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := s.st.Template(ctx, id)
	if err != nil {
		return err
	}
	colors, err := compose.ThemeColors(t.Theme)
	if err != nil {
		return err
	}
	l, err := s.tmpl.ParseLayout(t.Name, t.CompiledHTML, colors)
	if err != nil {
		return err
	}
	comp, err := s.tmpl.CompileCampaign(ctx, mailtemplates.CampaignInput{
		Subject: subject, Preheader: deref(req.Preheader), Body: body, Language: deref(req.Language), Layout: l,
		ListName: t.Name, Org: s.org,
	})
	if err != nil {
		return contentError(err)
	}
	name := "Anna Exempel"
	if req.Name != nil {
		name = *req.Name
	}
	r := &mailtemplates.Recipient{Name: name, Email: "anna.exempel@example.org", Language: deref(req.Reader), Attributes: req.Attributes,
		UnsubscribeURL: s.baseURL + "/unsubscribe/preview", PreferencesURL: s.baseURL + "/preferences/preview"}
	if deref(req.Format) == "text" {
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(comp.Text(r)))
	}
	c.Response().Header().Set("Content-Security-Policy", mailHTMLPolicy)
	return c.HTMLBlob(http.StatusOK, []byte(comp.HTML(r)))
}

// validateContent checks placeholders and blocks, naming the field.
func validateContent(fields map[string]string) error {
	for _, f := range []string{"subject", "preheader", "body"} {
		v, ok := fields[f]
		if !ok {
			continue
		}
		var err error
		if f == "body" {
			err = mailtemplates.ValidateBody(v)
		} else {
			err = mailtemplates.ValidatePlaceholders(f, v)
		}
		if err != nil {
			return contentError(err)
		}
	}
	return nil
}

// contentError turns a rendering error into a 400 naming the field.
func contentError(err error) error {
	var pe *mailtemplates.PlaceholderError
	var be *mailtemplates.BodyError
	var le *mailtemplates.LayoutError
	var fe *compose.FromError
	switch {
	case errors.As(err, &fe):
		return fieldErr("from", "the saved sender %q is not an address; set from again (\"\" for the default sender)", fe.From)
	case errors.As(err, &pe):
		fe := fieldErr(pe.Field, "placeholder %s: %s", pe.Placeholder, pe.Msg)
		fe.Err = pe
		return fe
	case errors.As(err, &be):
		fe := fieldErr("body", "%s", be.Error())
		fe.Err = be
		return fe
	case errors.As(err, &le):
		return fieldErr("template."+strings.TrimPrefix(le.Field, "template."), "%s", le.Msg)
	}
	return err
}
