package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
)

// listRef is one entry of a subscriber's "lists": a list id, or an object
// {"id": 3, "status": "confirmed", "tracking_consent": true}.
type listRef struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	// TrackingConsent records the subscriber's answer to open and click
	// tracking on this list; absent leaves it unchanged (new: no).
	TrackingConsent *bool `json:"tracking_consent"`
}

func (r *listRef) UnmarshalJSON(b []byte) error {
	var id int64
	if err := json.Unmarshal(b, &id); err == nil {
		r.ID = id
		return nil
	}
	type plain listRef
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("want a list id or {\"id\": …, \"status\": …, \"tracking_consent\": true|false}")
	}
	*r = listRef(p)
	return nil
}

type subscriberRequest struct {
	Email        *string           `json:"email"`
	Name         *string           `json:"name"`
	Language     *string           `json:"language"`
	Attributes   *store.Attributes `json:"attributes"`
	Lists        *[]listRef        `json:"lists"`
	ConsentBasis *string           `json:"consent_basis"`
}

var attrKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (r *subscriberRequest) validate(create bool) error {
	if create && r.Email == nil {
		return fieldErr("email", "is required")
	}
	if r.Email != nil {
		norm, err := store.NormalizeEmail(*r.Email)
		if err != nil {
			var ae *store.AddressError
			if errors.As(err, &ae) {
				return fieldErr("email", "%s", ae.Reason)
			}
			return fieldErr("email", "is not a valid address")
		}
		*r.Email = norm
	}
	if err := oneLineText("name", r.Name, false, 200); err != nil {
		return err
	}
	if create && r.Language == nil {
		r.Language = ptr("sv")
	}
	if err := language("language", r.Language); err != nil {
		return err
	}
	if r.Attributes != nil {
		if *r.Attributes == nil {
			*r.Attributes = store.Attributes{}
		}
		for k := range *r.Attributes {
			if !attrKeyRE.MatchString(k) {
				return fieldErr("attributes."+k, "attribute names are 1-64 letters, digits, _ and -")
			}
			if err := attrText("attributes."+k, (*r.Attributes)[k]); err != nil {
				return err
			}
		}
		if b, _ := json.Marshal(*r.Attributes); len(b) > 16<<10 {
			return fieldErr("attributes", "must be at most 16 KiB of JSON")
		}
	}
	if err := text("consent_basis", r.ConsentBasis, false, 1000); err != nil {
		return err
	}
	if r.Lists != nil {
		seen := map[int64]bool{}
		for i, l := range *r.Lists {
			f := fmt.Sprintf("lists[%d]", i)
			if l.ID <= 0 {
				return fieldErr(f, "must be a list id")
			}
			if seen[l.ID] {
				return fieldErr(f, "list %d is named twice", l.ID)
			}
			seen[l.ID] = true
			if l.Status != "" {
				if err := oneOf(f+".status", &l.Status, "", store.SubConfirmed, store.SubUnconfirmed, store.SubUnsubscribed); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// attrText refuses control characters in the strings of an attribute
// value (nested ones too), as in every other field: they end up in mail.
func attrText(field string, v any) error {
	switch v := v.(type) {
	case string:
		// Values are kept as sent (spaces may matter to whoever set
		// them); only what cannot be stored or shown is refused.
		if _, p := cleanText(v, textRule{max: 16 << 10}); p == textControl || p == textBadUTF8 {
			return checkText(field, &v, false, textRule{max: 16 << 10})
		}
	case []any:
		for i, e := range v {
			if err := attrText(fmt.Sprintf("%s[%d]", field, i), e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range v {
			if err := attrText(field+"."+k, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// choices turns the request's lists into what staff ask of the store;
// the opt-in rules that decide the statuses live there
// (store.StaffUpdateSubscriber), shared with the web workspace.
func (r *subscriberRequest) choices() []store.ListChoice {
	if r.Lists == nil {
		return nil
	}
	out := make([]store.ListChoice, 0, len(*r.Lists))
	for _, l := range *r.Lists {
		out = append(out, store.ListChoice{ListID: l.ID, Status: l.Status, TrackingConsent: l.TrackingConsent})
	}
	return out
}

// listFieldError points a missing-list error at the request entry that
// named it.
func listFieldError(err error, refs *[]listRef, field string) error {
	var nf *store.NotFoundError
	if refs == nil || !errors.As(err, &nf) || nf.What != "list" {
		return err
	}
	for i, l := range *refs {
		if l.ID == nf.ID {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), "no list with id %d", nf.ID)
		}
	}
	return err
}

func (s *Server) createSubscriber(c echo.Context) error {
	var req subscriberRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(true); err != nil {
		return err
	}
	res, err := s.staffCreate(c, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, res.Subscriber)
}

// staffCreate adds a person from a validated request, as the API and the
// web workspace both do: the opt-in rules are the store's
// (StaffCreateSubscriber), and lists left waiting get their opt-in mail.
func (s *Server) staffCreate(c echo.Context, req subscriberRequest) (*store.StaffResult, error) {
	sub := &store.Subscriber{Email: *req.Email, Name: deref(req.Name), Language: *req.Language}
	if req.Attributes != nil {
		sub.Attributes = *req.Attributes
	}
	res, err := s.st.StaffCreateSubscriber(c.Request().Context(), sub, req.choices(), deref(req.ConsentBasis), actor(c))
	if err != nil {
		return nil, listFieldError(err, req.Lists, "lists")
	}
	s.requestOptin(c, sub.ID, res.NeedConfirm)
	return res, nil
}

// staffUpdate applies a validated request to subscriber id, for the API
// and the web workspace alike (StaffUpdateSubscriber holds the rules).
func (s *Server) staffUpdate(c echo.Context, id int64, req subscriberRequest) (*store.StaffResult, error) {
	res, err := s.st.StaffUpdateSubscriber(c.Request().Context(), id, store.SubscriberPatch{
		Email: req.Email, Name: req.Name, Language: req.Language, Attributes: req.Attributes,
	}, req.choices(), deref(req.ConsentBasis), actor(c))
	if err != nil {
		return nil, listFieldError(err, req.Lists, "lists")
	}
	s.requestOptin(c, id, res.NeedConfirm)
	return res, nil
}

// requestOptin enqueues the confirmation mail for listIDs. A failed
// enqueue is logged: the subscriber can ask again from the form, and
// staff see the unconfirmed status.
func (s *Server) requestOptin(c echo.Context, subscriberID int64, listIDs []int64) {
	if len(listIDs) == 0 {
		return
	}
	t := queue.NewOptinTask(queue.OptinPayload{SubscriberID: subscriberID, ListIDs: listIDs})
	if err := s.q.Enqueue(c.Request().Context(), t); err != nil {
		s.log.Error("enqueue opt-in mail", "subscriber_id", subscriberID, "err", err,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
}

func (s *Server) listSubscribers(c echo.Context) error {
	listID, err := queryInt(c, "list_id", 0)
	if err != nil {
		return err
	}
	after, limit, err := keyset(c, "after", 100, 1000)
	if err != nil {
		return err
	}
	status := c.QueryParam("status")
	if status != "" {
		if listID == 0 {
			return fieldErr("status", "needs list_id")
		}
		if err := oneOf("status", &status, "", store.SubConfirmed, store.SubUnconfirmed, store.SubUnsubscribed); err != nil {
			return err
		}
	}
	q := c.QueryParam("q")
	if _, p := cleanText(q, textRule{max: 200, oneLine: true}); p == textBlank {
		q = "" // a search box of spaces searches for nothing in particular
	} else if err := oneLineText("q", &q, false, 200); err != nil {
		return err // NUL or broken UTF-8 would fail the query on Postgres
	}
	subs, next, err := s.st.ListSubscribers(c.Request().Context(), store.SubscriberQuery{
		ListID: listID, Status: status, Search: q, After: after, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(subs, next))
}

func (s *Server) getSubscriber(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	sub, err := s.st.Subscriber(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sub)
}

func (s *Server) updateSubscriber(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req subscriberRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(false); err != nil {
		return err
	}
	res, err := s.staffUpdate(c, id, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res.Subscriber)
}

func (s *Server) deleteSubscriber(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteSubscriber(c.Request().Context(), id, actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) subscriberEvents(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	after, limit, err := keyset(c, "after", 100, 1000)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.st.Subscriber(ctx, id); err != nil {
		return err
	}
	evs, next, err := s.st.Events(ctx, store.EventQuery{SubscriberID: id, After: after, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(evs, next))
}
