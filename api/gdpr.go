package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/store"
)

// exportPerson returns everything held about one subscriber as JSON
// (GDPR articles 15 and 20): profile, subscriptions, events, deliveries
// and any suppression of the address.
func (s *Server) exportPerson(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	pd, err := s.st.PersonalData(c.Request().Context(), id)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=\"subscriber-%d.json\"", id))
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, pd)
}

// erasePerson deletes a subscriber's personal data (GDPR article 17); see
// store.EraseSubscriber for what is kept, anonymised, and why.
func (s *Server) erasePerson(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.EraseSubscriber(c.Request().Context(), id, actor(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"erased": true, "subscriber_id": id})
}

// exportSubscribers streams subscribers as CSV (?list_id= for one list,
// with ?status=). The columns are those an import reads, so an export can
// be imported elsewhere: email, name, language, then created_at and the
// subscription columns (which an import ignores), then one column per
// attribute. Two passes over the rows, a page at a time: the first only
// collects the attribute names, so memory does not grow with the list.
func (s *Server) exportSubscribers(c echo.Context) error {
	listID, err := queryInt(c, "list_id", 0)
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
	ctx := c.Request().Context()
	lists, err := s.st.Lists(ctx)
	if err != nil {
		return err
	}
	slug := map[int64]string{}
	for _, l := range lists {
		slug[l.ID] = l.Slug
	}
	if listID != 0 && slug[listID] == "" {
		return fieldErr("list_id", "no list with id %d", listID)
	}
	q := store.SubscriberQuery{ListID: listID, Status: status, Limit: 1000}
	each := func(fn func(*store.Subscriber) error) error {
		q.After = 0
		for {
			subs, next, err := s.st.ListSubscribers(ctx, q)
			if err != nil {
				return err
			}
			for i := range subs {
				if err := fn(&subs[i]); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			q.After = next
		}
	}
	keySet := map[string]bool{}
	if err := each(func(sub *store.Subscriber) error {
		for k := range sub.Attributes {
			keySet[k] = true
		}
		return nil
	}); err != nil {
		return err
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	name := "subscribers.csv"
	if listID != 0 {
		name = "subscribers-" + slug[listID] + ".csv"
	}
	w := csvResponse(c, name)
	header := []string{"email", "name", "language", "created_at"}
	if listID != 0 {
		header = append(header, "status", "confirmed_at", "unsubscribed_at", "consent_basis")
	} else {
		header = append(header, "lists")
	}
	w.Write(append(header, keys...))
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	row := make([]string, 0, len(header)+len(keys))
	err = each(func(sub *store.Subscriber) error {
		row = append(row[:0], sub.Email, safeCell(sub.Name), sub.Language, ts(&sub.CreatedAt))
		if listID != 0 {
			var m store.Subscription
			for _, x := range sub.Subscriptions {
				if x.ListID == listID {
					m = x
				}
			}
			row = append(row, m.Status, ts(m.ConfirmedAt), ts(m.UnsubscribedAt), safeCell(m.ConsentBasis))
		} else {
			var ls string
			for i, x := range sub.Subscriptions {
				if i > 0 {
					ls += ";"
				}
				ls += slug[x.ListID] + ":" + x.Status
			}
			row = append(row, ls)
		}
		for _, k := range keys {
			v, ok := sub.Attributes[k]
			switch {
			case !ok || v == nil:
				row = append(row, "")
			case isString(v):
				row = append(row, safeCell(v.(string)))
			default:
				row = append(row, safeCell(fmt.Sprint(v)))
			}
		}
		return w.Write(row)
	})
	w.Flush()
	if err != nil {
		// The status line is gone; a cut-short file is all that can tell.
		s.log.Error("subscriber export cut short", "list_id", strconv.FormatInt(listID, 10), "err", err)
	}
	return nil
}

func isString(v any) bool { _, ok := v.(string); return ok }
