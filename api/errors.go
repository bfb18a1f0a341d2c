package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
)

// FieldError is a 400 that names the offending request field. Msg is the
// API's English; Key (and Args, name/value pairs) the staff pages' words
// for the same rule, from api/web/i18n.
type FieldError struct {
	Field string
	Msg   string
	Key   string
	Args  []string
	Err   error // the mistake it reports, when there is one (a *mailtemplates.BodyError…)
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// errorBody is every error response of the JSON API.
type errorBody struct {
	Error     string `json:"error"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// errUnauthorized and errForbidden are the authentication outcomes.
var (
	errUnauthorized = echo.NewHTTPError(http.StatusUnauthorized, "missing or invalid bearer token")
	errForbidden    = echo.NewHTTPError(http.StatusForbidden, "this token's role may not do that")
)

// statusOf maps store sentinels to statuses: the one place errors become
// statuses.
var statusOf = []struct {
	err  error
	code int
}{
	{store.ErrNotFound, http.StatusNotFound},
	{links.ErrInvalid, http.StatusBadRequest}, // a link token that does not verify
	{store.ErrConflict, http.StatusConflict},
	{store.ErrForbidden, http.StatusForbidden},
	{context.DeadlineExceeded, http.StatusServiceUnavailable},
	{errMediaUnavailable, http.StatusServiceUnavailable},
	{store.ErrBadCredentials, http.StatusUnauthorized},
	{store.ErrInactive, http.StatusForbidden},
}

// statusCode is the status of err by the table above (500 if none).
func statusCode(err error) int {
	var fe *FieldError
	if errors.As(err, &fe) {
		return http.StatusBadRequest
	}
	for _, e := range statusOf {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return http.StatusInternalServerError
}

// handleError is echo's HTTPErrorHandler. It uses errors.As, unlike echo
// v4's default, so wrapped errors keep their status.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	reqID := c.Response().Header().Get(echo.HeaderXRequestID)
	if h := c.Response().Header(); errors.Is(err, echo.ErrMethodNotAllowed) {
		// Every GET route answers HEAD too (headAsGet).
		if allow := h.Get(echo.HeaderAllow); strings.Contains(allow, http.MethodGet) && !strings.Contains(allow, http.MethodHead) {
			h.Set(echo.HeaderAllow, allow+", "+http.MethodHead)
		}
	}
	if isWeb(c) {
		s.webError(c, err)
		return
	}
	if isPage(c) {
		s.pageError(c, err)
		return
	}
	var fe *FieldError
	var he *echo.HTTPError
	var body errorBody
	code := http.StatusInternalServerError
	switch {
	case errors.As(err, &fe):
		code, body = http.StatusBadRequest, errorBody{Error: fe.Msg, Field: fe.Field}
	case errors.As(err, &he):
		code = he.Code
		msg := fmt.Sprint(he.Message)
		if code == http.StatusNotFound && msg == http.StatusText(http.StatusNotFound) {
			msg = "no such route"
		}
		body = errorBody{Error: msg}
		if code == http.StatusUnauthorized {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="utskick"`)
		}
	default:
		code = statusCode(err)
		body = errorBody{Error: err.Error()}
		// A conflict about one input names it, as a 400 does, so a form
		// can point at the field.
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			body.Field = ce.Field
		}
	}
	if code >= 500 {
		s.log.Error("request failed", "request_id", reqID, "method", c.Request().Method,
			"path", c.Path(), "err", err)
		body = errorBody{Error: http.StatusText(code)}
		if errors.Is(err, errMediaUnavailable) {
			// Say what does not answer (not how), and when to try again.
			body.Error = errMediaUnavailable.Error()
			c.Response().Header().Set("Retry-After", "30")
		}
	}
	body.RequestID = reqID
	if isHead(c) {
		c.NoContent(code)
		return
	}
	c.JSON(code, body)
}

// bindJSON decodes the request body into v strictly: unknown fields and
// wrong types are 400s naming the field, so a typo never silently does
// nothing.
func bindJSON(c echo.Context, v any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return fieldErr("body", "must be JSON (Content-Type: application/json)")
	}
	body, err := io.ReadAll(c.Request().Body) // bounded by the BodyLimit middleware
	if err != nil {
		return jsonFieldError(err)
	}
	// encoding/json would quietly turn broken UTF-8 into U+FFFD; refuse
	// it instead, naming the field it is in.
	if !utf8.Valid(body) {
		return fieldErr(jsonPathAt(body, invalidUTF8At(body)), "must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonFieldError(err)
	}
	if dec.More() {
		return fieldErr("body", "must be a single JSON object")
	}
	return nil
}

// invalidUTF8At is the offset of the first byte of b that is not valid
// UTF-8.
func invalidUTF8At(b []byte) int64 {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return int64(i)
		}
		i += n
	}
	return int64(len(b))
}

// jsonPathAt names the JSON value (or key) that holds byte off of b, the
// way errors name fields: "name", "lists[1].status", "attributes.city".
// It is "body" when off is outside any field or b does not parse.
func jsonPathAt(b []byte, off int64) string {
	type frame struct {
		array   bool
		key     string
		index   int
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var sb strings.Builder
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&sb, "[%d]", f.index)
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(f.key)
		}
		if sb.Len() == 0 {
			return "body"
		}
		return sb.String()
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "body"
		}
		end := dec.InputOffset()
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && !stack[len(stack)-1].array {
				stack[len(stack)-1].wantKey = true
			}
			continue
		}
		if top != nil && !top.array && top.wantKey {
			top.key, _ = tok.(string)
			top.wantKey = false
			if end > off {
				return path()
			}
			continue
		}
		if top != nil && top.array {
			top.index++
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{array: d == '[', index: -1, wantKey: d == '{'})
			continue
		}
		if end > off {
			return path()
		}
		if top != nil && !top.array {
			top.wantKey = true
		}
	}
}

func jsonFieldError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var fe *FieldError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fieldErr("body", "must be a JSON object")
		}
		return fieldErr(field, "must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return fieldErr("body", "is not valid JSON at byte %d", se.Offset)
	case errors.As(err, &mbe):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
	case errors.Is(err, io.EOF):
		return fieldErr("body", "is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("body", "is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldErr(name, "is not a known field")
	}
	return fieldErr("body", "%v", err)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return k
}
