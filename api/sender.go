package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// senderRequest is the instance's sender identity, as PUT
// /api/v1/settings/sender and Settings → Sender identity send it. Every
// field may be "": the from fields then fall back to UTSKICK_FROM, reply-to
// to none, and an empty postal address makes the lint warn.
type senderRequest struct {
	FromName      *string `json:"from_name"`
	FromAddress   *string `json:"from_address"`
	ReplyTo       *string `json:"reply_to"`
	PostalAddress *string `json:"postal_address"`
	Contact       *string `json:"contact"`
}

func (r *senderRequest) validate() error {
	if err := senderFields(r.FromName, r.FromAddress, r.PostalAddress, r.Contact); err != nil {
		return err
	}
	return replyTo("reply_to", r.ReplyTo)
}

// senderFields checks the sender identity's fields, shared by the
// instance's defaults and a list's overrides: the same rule in both.
func senderFields(fromName, fromAddress, postal, contact *string) error {
	if err := oneLineText("from_name", fromName, false, 200); err != nil {
		return err
	}
	if err := bareAddress("from_address", fromAddress); err != nil {
		return err
	}
	if err := oneLineText("postal_address", postal, false, 300); err != nil {
		return err
	}
	return oneLineText("contact", contact, false, 300)
}

// bareAddress is an optional address without a display name (the name is
// a field of its own), stored normalised.
func bareAddress(field string, v *string) error {
	if err := oneLineText(field, v, false, 320); err != nil {
		return err
	}
	if v == nil || *v == "" {
		return nil
	}
	norm, err := store.NormalizeEmail(*v)
	if err != nil {
		return &FieldError{Field: field, Msg: "must be an address like redaktionen@example.se, or empty: " + err.Error(), Key: "err.email"}
	}
	*v = norm
	return nil
}

// replyTo is address() with the staff pages' words for its refusal.
func replyTo(field string, v *string) error {
	err := address(field, v)
	if fe, ok := err.(*FieldError); ok && fe.Key == "" {
		fe.Key = "err.address"
	}
	return err
}

// setSender validates req and stores it for by: the one path of the API
// and the settings page.
func (s *Server) setSender(ctx context.Context, req senderRequest, by store.Actor) (store.SenderIdentity, error) {
	if err := req.validate(); err != nil {
		return store.SenderIdentity{}, err
	}
	return s.st.SetSenderIdentity(ctx, store.SenderIdentity{FromName: deref(req.FromName), FromAddress: deref(req.FromAddress),
		ReplyTo: deref(req.ReplyTo), PostalAddress: deref(req.PostalAddress), Contact: deref(req.Contact)}, by)
}

func (s *Server) getSender(c echo.Context) error {
	id, err := s.st.SenderIdentity(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, id)
}

// putSender replaces the sender identity; a field left out is "".
func (s *Server) putSender(c echo.Context) error {
	var req senderRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	id, err := s.setSender(c.Request().Context(), req, actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, id)
}
