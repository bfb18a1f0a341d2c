package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// subscribersPageSize is one page of the search: keyset, so the tenth
// page costs what the first does.
const subscribersPageSize = 50

type subscribersData struct {
	webPage
	audLabels
	Q, Status   string
	ListID      int64
	Lists       []store.List
	ListNames   map[int64]string
	Subscribers []store.Subscriber
	// NextURL is the next page (keyset), FirstURL the first; "" when
	// there is none.
	NextURL, FirstURL string
	Searched          bool
	Statuses          []string
}

func (s *Server) subscribersPage(c echo.Context) error {
	ctx := c.Request().Context()
	ls, err := s.st.ListsBrief(ctx)
	if err != nil {
		return err
	}
	p := subscribersData{webPage: s.page(c, "subs.title", "subscribers"), audLabels: s.labels(c), Lists: ls, ListNames: listNames2(ls),
		Q: c.QueryParam("q"), Status: c.QueryParam("status"),
		Statuses: []string{store.SubConfirmed, store.SubUnconfirmed, store.SubUnsubscribed}}
	p.Errors = map[string]string{}
	if v := c.QueryParam("list"); v != "" {
		if p.ListID, err = strconv.ParseInt(v, 10, 64); err != nil || p.ListNames[p.ListID] == "" {
			p.Errors["list"], p.ListID = s.t(c, "aud.err.choose"), 0
		}
	}
	if p.Status != "" && p.ListID == 0 {
		p.Errors["status"] = s.t(c, "subs.err.status_needs_list")
	} else if err := oneOf("status", &p.Status, "", "", store.SubConfirmed, store.SubUnconfirmed, store.SubUnsubscribed); err != nil {
		p.Errors["status"] = s.t(c, "aud.err.choose")
	}
	q := p.Q
	if _, prob := cleanText(q, textRule{max: 200, oneLine: true}); prob == textBlank {
		q = ""
	} else if err := oneLineText("q", &q, false, 200); err != nil {
		p.Errors["q"] = s.fieldText(c, err.(*FieldError))
	}
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	if len(p.Errors) > 0 {
		return s.renderWeb(c, http.StatusBadRequest, "subscribers", p.Lang, p)
	}
	p.Errors = nil
	subs, next, err := s.st.ListSubscribers(ctx, store.SubscriberQuery{ListID: p.ListID, Status: p.Status, Search: q,
		After: max(after, 0), Limit: subscribersPageSize})
	if err != nil {
		return err
	}
	p.Subscribers = subs
	p.Searched = q != "" || p.ListID != 0
	base := url.Values{}
	if q != "" {
		base.Set("q", q)
	}
	if p.ListID != 0 {
		base.Set("list", strconv.FormatInt(p.ListID, 10))
	}
	if p.Status != "" {
		base.Set("status", p.Status)
	}
	if next != 0 {
		n := url.Values{}
		for k, v := range base {
			n[k] = v
		}
		n.Set("after", strconv.FormatInt(next, 10))
		p.NextURL = withQuery("/admin/subscribers", n)
	}
	if after > 0 {
		p.FirstURL = withQuery("/admin/subscribers", base)
	}
	return s.renderWeb(c, http.StatusOK, "subscribers", p.Lang, p)
}

func listNames2(ls []store.List) map[int64]string {
	m := make(map[int64]string, len(ls))
	for _, l := range ls {
		m[l.ID] = l.Name
	}
	return m
}

// personForm is the person form: the fields of PATCH
// /api/v1/subscribers/{id} (and POST for a new person), with each list
// as its own select, list-<id>.
type personForm struct {
	Email, Name, Language, Attributes, ConsentBasis string
	// Choice is what is asked for each list: "" leaves it as it is (or
	// off), else a status.
	Choice map[int64]string
}

// bindPerson reads the person form.
func bindPerson(c echo.Context, lists []store.List) (personForm, error) {
	form, err := c.FormParams()
	if err != nil {
		return personForm{}, fieldErr("body", "is not a valid form")
	}
	f := personForm{Email: form.Get("email"), Name: form.Get("name"), Language: form.Get("language"),
		Attributes: form.Get("attributes"), ConsentBasis: form.Get("consent_basis"), Choice: map[int64]string{}}
	for _, l := range lists {
		if v := form.Get("list-" + strconv.FormatInt(l.ID, 10)); v != "" {
			f.Choice[l.ID] = v
		}
	}
	// The create form ticks lists instead: each ticked list is asked for
	// as the opt-in rules decide ("" status).
	for _, v := range form["lists"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, &FieldError{Field: "lists", Msg: "must be list ids", Key: "aud.err.choose"}
		}
		f.Choice[id] = "subscribe"
	}
	return f, nil
}

// request is the form as the API's request, so that the same validate()
// and store call run. lists orders the choices.
func (f personForm) request(lists []store.List, create bool) (subscriberRequest, error) {
	req := subscriberRequest{Name: &f.Name, Language: &f.Language, ConsentBasis: &f.ConsentBasis}
	if create || f.Email != "" {
		req.Email = &f.Email
	}
	if strings.TrimSpace(f.Attributes) != "" {
		var a store.Attributes
		dec := json.NewDecoder(strings.NewReader(f.Attributes))
		if err := dec.Decode(&a); err != nil || dec.More() {
			return req, &FieldError{Field: "attributes", Msg: "must be a JSON object", Key: "aud.err.attributes_json"}
		}
		req.Attributes = &a
	} else if !create {
		req.Attributes = &store.Attributes{}
	}
	refs := []listRef{}
	for _, l := range lists {
		v, ok := f.Choice[l.ID]
		if !ok {
			continue
		}
		if v == "subscribe" {
			v = ""
		}
		refs = append(refs, listRef{ID: l.ID, Status: v})
	}
	if len(refs) > 0 {
		req.Lists = &refs
	}
	return req, req.validate(create)
}

// personEvent is a row of the person's history: the event, with the
// names of its list and of the staff member or token that made it.
type personEvent struct {
	store.Event
	List, By string
}

type personData struct {
	webPage
	audLabels
	Sub         *store.Subscriber
	Lists       []store.List
	ListNames   map[int64]string
	Subs        map[int64]store.Subscription
	Events      []personEvent
	EventsNext  string
	Deliveries  []store.PersonalDelivery
	Suppression *store.Suppression
	Form        personForm
	Statuses    []string
}

func (s *Server) personData(c echo.Context, id int64) (personData, error) {
	ctx := c.Request().Context()
	sub, err := s.st.Subscriber(ctx, id)
	if err != nil {
		return personData{}, err
	}
	ls, err := s.st.ListsBrief(ctx)
	if err != nil {
		return personData{}, err
	}
	after, _ := strconv.ParseInt(c.QueryParam("events_after"), 10, 64)
	evs, next, err := s.st.Events(ctx, store.EventQuery{SubscriberID: id, After: max(after, 0), Limit: 100})
	if err != nil {
		return personData{}, err
	}
	dels, err := s.st.SubscriberDeliveries(ctx, id, 50)
	if err != nil {
		return personData{}, err
	}
	p := personData{webPage: s.page(c, "subs.person", "subscribers"), audLabels: s.labels(c), Sub: sub, Lists: ls, ListNames: listNames2(ls),
		Subs: map[int64]store.Subscription{}, Deliveries: dels,
		Statuses: []string{store.SubConfirmed, store.SubUnconfirmed, store.SubUnsubscribed}}
	p.Title = sub.Email
	if sub.Name != "" {
		p.Title = sub.Name
	}
	if next != 0 {
		p.EventsNext = "/admin/subscribers/" + strconv.FormatInt(id, 10) + "?events_after=" + strconv.FormatInt(next, 10) + "#h-history"
	}
	for _, m := range sub.Subscriptions {
		p.Subs[m.ListID] = m
	}
	if sp, err := s.st.SuppressionOf(ctx, sub.Email); err == nil {
		p.Suppression = sp
	}
	users := map[int64]string{}
	for _, ev := range evs {
		if ev.UserID != nil && users[*ev.UserID] == "" {
			users[*ev.UserID] = "#" + strconv.FormatInt(*ev.UserID, 10)
			if u, err := s.st.User(ctx, *ev.UserID); err == nil {
				users[*ev.UserID] = u.DisplayName()
			}
		}
	}
	for _, ev := range evs {
		pe := personEvent{Event: ev}
		switch {
		case ev.UserID != nil:
			pe.By = users[*ev.UserID]
		case ev.TokenID != nil:
			pe.By = s.t(c, "subs.by_token", "id", strconv.FormatInt(*ev.TokenID, 10))
		}
		if ev.ListID != nil {
			pe.List = p.ListNames[*ev.ListID]
		}
		p.Events = append(p.Events, pe)
	}
	attrs := ""
	if len(sub.Attributes) > 0 {
		b, _ := json.MarshalIndent(sub.Attributes, "", "  ")
		attrs = string(b)
	}
	p.Form = personForm{Email: sub.Email, Name: sub.Name, Language: sub.Language, Attributes: attrs, Choice: map[int64]string{}}
	return p, nil
}

func (s *Server) personPage(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := s.personData(c, id)
	if err != nil {
		return err
	}
	return s.renderWeb(c, http.StatusOK, "subscriber", p.Lang, p)
}

// personUpdate is the web form of PATCH /api/v1/subscribers/{id}: the
// same validation and the same store function (staffUpdate), so the
// opt-in rules hold alike in both.
func (s *Server) personUpdate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ls, err := s.st.ListsBrief(ctx)
	if err != nil {
		return err
	}
	f, err := bindPerson(c, ls)
	var res *store.StaffResult
	if err == nil {
		var req subscriberRequest
		if req, err = f.request(ls, false); err == nil {
			keepAttributes(ctx, s.st, id, &req)
			res, err = s.staffUpdate(c, id, req)
		}
	}
	if err == nil {
		if len(res.NeedConfirm) > 0 {
			s.flash(c, "flash.aud_person_saved_optin")
		} else {
			s.flash(c, "flash.aud_person_saved")
		}
		return redirect(c, "/admin/subscribers/"+strconv.FormatInt(id, 10))
	}
	errs := s.audienceErrors(c, err)
	if errs == nil {
		return err
	}
	p, perr := s.personData(c, id)
	if perr != nil {
		return perr
	}
	p.Form, p.Errors = f, errs
	return s.renderWeb(c, http.StatusUnprocessableEntity, "subscriber", p.Lang, p)
}

// keepAttributes leaves the attributes out of an edit that sends them as
// they are: the form always sends the box, and an unchanged box is not a
// change to record in the person's history.
func keepAttributes(ctx context.Context, st *store.Store, id int64, req *subscriberRequest) {
	if req.Attributes == nil {
		return
	}
	cur, err := st.Subscriber(ctx, id)
	if err != nil {
		return // staffUpdate reports it
	}
	a, _ := json.Marshal(*req.Attributes)
	b, _ := json.Marshal(cur.Attributes)
	if bytes.Equal(a, b) {
		req.Attributes = nil
	}
}

type personNewData struct {
	webPage
	Lists []store.List
	Form  personForm
}

func (s *Server) personNewPage(c echo.Context) error {
	ls, err := s.st.ListsBrief(c.Request().Context())
	if err != nil {
		return err
	}
	p := personNewData{webPage: s.page(c, "subs.new", "subscribers"), Lists: ls,
		Form: personForm{Language: "sv", Choice: map[int64]string{}}}
	return s.renderWeb(c, http.StatusOK, "subscriber_new", p.Lang, p)
}

// personCreate is the web form of POST /api/v1/subscribers.
func (s *Server) personCreate(c echo.Context) error {
	ctx := c.Request().Context()
	ls, err := s.st.ListsBrief(ctx)
	if err != nil {
		return err
	}
	f, err := bindPerson(c, ls)
	var res *store.StaffResult
	if err == nil {
		var req subscriberRequest
		if req, err = f.request(ls, true); err == nil {
			res, err = s.staffCreate(c, req)
		}
	}
	if err == nil {
		if len(res.NeedConfirm) > 0 {
			s.flash(c, "flash.aud_person_created_optin")
		} else {
			s.flash(c, "flash.aud_person_created")
		}
		return redirect(c, "/admin/subscribers/"+strconv.FormatInt(res.Subscriber.ID, 10))
	}
	errs := s.audienceErrors(c, err)
	if errs == nil {
		return err
	}
	p := personNewData{webPage: s.page(c, "subs.new", "subscribers"), Lists: ls, Form: f}
	p.Errors = errs
	return s.renderWeb(c, http.StatusUnprocessableEntity, "subscriber_new", p.Lang, p)
}

type eraseData struct {
	webPage
	Sub *store.Subscriber
}

// personErasePage asks before an erasure, naming the person: it cannot
// be undone.
func (s *Server) personErasePage(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	sub, err := s.st.Subscriber(c.Request().Context(), id)
	if err != nil {
		return err
	}
	p := eraseData{webPage: s.page(c, "subs.erase_title", "subscribers"), Sub: sub}
	return s.renderWeb(c, http.StatusOK, "subscriber_erase", p.Lang, p)
}

// personErase erases the person (GDPR article 17) with the store function
// of POST /api/v1/subscribers/{id}/erase. The form carries the address it
// named, so that a stale page cannot erase someone else.
func (s *Server) personErase(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sub, err := s.st.Subscriber(ctx, id)
	if err != nil {
		return err
	}
	if c.FormValue("email") != sub.Email {
		return fieldErr("email", "does not name the person to erase")
	}
	if err := s.st.EraseSubscriber(ctx, id, actor(c)); err != nil {
		return err
	}
	s.flash(c, "flash.aud_person_erased")
	return redirect(c, "/admin/subscribers")
}
