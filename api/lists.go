package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type listRequest struct {
	Slug        *string `json:"slug"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Language    *string `json:"language"`
	Optin       *string `json:"optin"`
	Visibility  *string `json:"visibility"`
	TemplateID  *int64  `json:"template_id"` // 0: the built-in layout
	Archive     *bool   `json:"archive"`
	TrackOpens  *bool   `json:"track_opens"`
	TrackClicks *bool   `json:"track_clicks"`
	// RequiresApproval is four eyes; only an admin may set it.
	RequiresApproval *bool   `json:"requires_approval"`
	ReplyTo          *string `json:"reply_to"`
	// The list's own sender identity; "" (or left out) is the instance's.
	FromName      *string `json:"from_name"`
	FromAddress   *string `json:"from_address"`
	PostalAddress *string `json:"postal_address"`
	Contact       *string `json:"contact"`
}

func (r *listRequest) validate(create bool) error {
	if create {
		if r.Language == nil {
			r.Language = ptr("sv")
		}
		if r.Optin == nil {
			r.Optin = ptr(store.OptinDouble)
		}
		if r.Visibility == nil {
			r.Visibility = ptr(store.VisibilityPrivate)
		}
	}
	if r.Slug != nil || create {
		if r.Slug == nil || !slugRE.MatchString(*r.Slug) {
			return fieldErr("slug", "must be 1-64 characters of a-z, 0-9 and -, not starting or ending with -")
		}
	}
	if err := oneLineText("name", r.Name, create, 200); err != nil {
		return err
	}
	if err := text("description", r.Description, false, 5000); err != nil {
		return err
	}
	if err := language("language", r.Language); err != nil {
		return err
	}
	if err := oneOf("optin", r.Optin, "", store.OptinSingle, store.OptinDouble); err != nil {
		return err
	}
	if err := address("reply_to", r.ReplyTo); err != nil {
		return err
	}
	if err := senderFields(r.FromName, r.FromAddress, r.PostalAddress, r.Contact); err != nil {
		return err
	}
	if r.TemplateID != nil && *r.TemplateID < 0 {
		return fieldErr("template_id", "must be a template id, or 0 for the built-in layout")
	}
	return oneOf("visibility", r.Visibility, "", store.VisibilityPublic, store.VisibilityPrivate)
}

// templateRef is the store's form of template_id: nil for 0.
func templateRef(id *int64) *int64 {
	if id == nil || *id == 0 {
		return nil
	}
	return id
}

// templateError names template_id when the template does not exist.
func templateError(err error) error {
	var nf *store.NotFoundError
	if errors.As(err, &nf) && nf.What == "template" {
		return fieldErr("template_id", "template %d does not exist", nf.ID)
	}
	return err
}

func (s *Server) createList(c echo.Context) error {
	var req listRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(true); err != nil {
		return err
	}
	l, err := s.createListFrom(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, l)
}

// createListFrom makes a list from a validated request: the one path of
// the API and the web workspace.
func (s *Server) createListFrom(ctx context.Context, req listRequest) (*store.List, error) {
	l := &store.List{Slug: *req.Slug, Name: *req.Name, Description: deref(req.Description),
		Language: *req.Language, Optin: *req.Optin, Visibility: *req.Visibility,
		TemplateID: templateRef(req.TemplateID), Archive: deref(req.Archive),
		TrackOpens: deref(req.TrackOpens), TrackClicks: deref(req.TrackClicks), ReplyTo: deref(req.ReplyTo),
		FromName: deref(req.FromName), FromAddress: deref(req.FromAddress), PostalAddress: deref(req.PostalAddress),
		Contact: deref(req.Contact), RequiresApproval: deref(req.RequiresApproval)}
	if err := s.st.CreateList(ctx, l); err != nil {
		return nil, templateError(err)
	}
	return l, nil
}

// updateListFrom applies a validated request to list id.
func (s *Server) updateListFrom(ctx context.Context, id int64, req listRequest) (*store.List, error) {
	p := store.ListPatch{Slug: req.Slug, Name: req.Name, Description: req.Description, Language: req.Language,
		Optin: req.Optin, Visibility: req.Visibility, Archive: req.Archive,
		TrackOpens: req.TrackOpens, TrackClicks: req.TrackClicks, ReplyTo: req.ReplyTo,
		FromName: req.FromName, FromAddress: req.FromAddress, PostalAddress: req.PostalAddress, Contact: req.Contact, RequiresApproval: req.RequiresApproval}
	if req.TemplateID != nil {
		ref := templateRef(req.TemplateID)
		p.TemplateID = &ref
	}
	l, err := s.st.UpdateList(ctx, id, p)
	if err != nil {
		return nil, templateError(err)
	}
	return l, nil
}

func (s *Server) listLists(c echo.Context) error {
	ls, err := s.st.Lists(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(ls, 0))
}

func (s *Server) getList(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	l, err := s.st.List(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

func (s *Server) updateList(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req listRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(false); err != nil {
		return err
	}
	l, err := s.updateListFrom(c.Request().Context(), id, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

func (s *Server) deleteList(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteList(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
