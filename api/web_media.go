package api

// The media library's screens for one image: rename it and change its
// alt text (GET/POST /admin/media/:id), and delete it through a
// confirmation that names the drafts linking to it, or that says which
// campaigns keep it (GET/POST /admin/media/:id/delete).

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

type mediaOneData struct {
	webPage
	Item *mediaItem
	// FormTitle and FormAlt are the form's values (what was posted, on
	// an error); Title is the page's.
	FormTitle, FormAlt string
	// Blocking are the campaigns that keep the image; Drafts the drafts
	// that lose it when it is deleted.
	Blocking, Drafts []store.MediaUse
	// Unavailable: the bucket did not answer the delete.
	Unavailable bool
}

func (s *Server) mediaOne(c echo.Context, titleKey string) (mediaOneData, error) {
	item, err := s.mediaWithUses(c)
	if err != nil {
		return mediaOneData{}, err
	}
	p := mediaOneData{webPage: s.page(c, titleKey, "campaigns"), Item: item, FormTitle: item.Title, FormAlt: item.Alt}
	for _, u := range item.UsedBy {
		if u.Blocking() {
			p.Blocking = append(p.Blocking, u)
		} else {
			p.Drafts = append(p.Drafts, u)
		}
	}
	return p, nil
}

// mediaEditPage is GET /admin/media/:id: the image, its address, where
// it is used, and the form for its name and alt text.
func (s *Server) mediaEditPage(c echo.Context) error {
	p, err := s.mediaOne(c, "i13media.edit_title")
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "media_edit", p.Lang, p)
}

// mediaEditSave is POST /admin/media/:id: the same change as PATCH
// /api/v1/media/{id}.
func (s *Server) mediaEditSave(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	title, alt := c.FormValue("title"), c.FormValue("alt")
	req := mediaEditRequest{Title: &title, Alt: &alt}
	err = req.validate()
	if err == nil {
		_, err = s.st.UpdateMedia(c.Request().Context(), id, store.MediaEdit{Title: req.Title, Alt: req.Alt})
	}
	if err == nil {
		s.flash(c, "flash.i13media_saved")
		return redirect(c, fmt.Sprintf("/admin/media/%d", id))
	}
	p, derr := s.mediaOne(c, "i13media.edit_title")
	if derr != nil {
		return derr
	}
	if p.Errors = s.formErrors(c, err); p.Errors == nil {
		return err
	}
	p.FormTitle, p.FormAlt = title, alt
	return s.renderWeb(c, http.StatusUnprocessableEntity, "media_edit", p.Lang, p)
}

// mediaDeleteConfirm is GET /admin/media/:id/delete: the question, with
// the drafts that lose the image named; or, when campaigns that may have
// been mailed link to it, why it stays.
func (s *Server) mediaDeleteConfirm(c echo.Context) error {
	p, err := s.mediaOne(c, "i13media.delete_title")
	if err != nil {
		return err
	}
	code := http.StatusOK
	if len(p.Blocking) > 0 {
		code = http.StatusConflict
	}
	return s.renderWeb(c, code, "media_delete", p.Lang, p)
}

// mediaDeleteSubmit is POST /admin/media/:id/delete.
func (s *Server) mediaDeleteSubmit(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	err = s.removeMedia(c.Request().Context(), id)
	if err == nil {
		s.flash(c, "flash.i13media_deleted")
		return redirect(c, "/admin/media")
	}
	var inUse *store.MediaInUseError
	code := http.StatusConflict
	switch {
	case errors.As(err, &inUse):
	case errors.Is(err, errMediaUnavailable):
		code = http.StatusServiceUnavailable
	default:
		return err
	}
	p, derr := s.mediaOne(c, "i13media.delete_title")
	if derr != nil {
		return derr
	}
	p.Unavailable = code == http.StatusServiceUnavailable
	return s.renderWeb(c, code, "media_delete", p.Lang, p)
}
