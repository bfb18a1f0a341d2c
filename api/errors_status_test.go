package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

// TestPublicPagesAndJSONTakeTheirStatusFromOneTable: an error a handler
// returns becomes the same status on a public page as in the JSON API. A
// conflict is a 409 page that says to try again (it was a 500 page), a
// forged link token a 400, a missing row a 404; only an unknown error is
// a 500.
func TestPublicPagesAndJSONTakeTheirStatusFromOneTable(t *testing.T) {
	tmpl, err := mailtemplates.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{Templates: tmpl})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		code int
		says string // in the Swedish page
	}{
		{fmt.Errorf("confirm: %w", store.ErrConflict), http.StatusConflict, "ändrades samtidigt"},
		{&store.ConflictError{Field: "email", Msg: "taken"}, http.StatusConflict, "ändrades samtidigt"},
		{fmt.Errorf("token: %w", links.ErrInvalid), http.StatusBadRequest, "Länken"},
		{fmt.Errorf("list: %w", store.ErrNotFound), http.StatusNotFound, "Sidan finns inte"},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError, "Något gick fel"},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := statusCode(tc.err); got != tc.code {
				t.Fatalf("statusCode = %d, want %d", got, tc.code)
			}
			rec := httptest.NewRecorder()
			c := s.e.NewContext(httptest.NewRequest(http.MethodGet, "/subscribe/bus", nil), rec)
			s.pageError(c, tc.err)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.says) ||
				!strings.HasPrefix(rec.Header().Get(echo.HeaderContentType), "text/html") {
				t.Fatalf("page: %d %q, want %d with %q in HTML", rec.Code, rec.Header().Get(echo.HeaderContentType), tc.code, tc.says)
			}
		})
	}
}
