package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"

	"github.com/storsthlm/utskick/api"
	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// The API tests reach the server through checkedServer, so every request
// they send and every response they get is checked against the OpenAPI
// document the server serves: the whole suite is the conformance test.
//
// A request the server accepted (2xx) must be valid by the document, so
// the document never forbids what works. Every response, error bodies
// included, must be valid by the document: a status the operation does
// not list, a field a schema does not name (they are closed), a missing
// required field or a wrong type fails the test that sent the request.
// A request to /api/v1 that matches no operation must not succeed, and
// its error must still have the documented error shape.

func init() {
	// The document describes these as strings; kin-openapi has no decoder
	// for them by default.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("message/rfc822", openapi3filter.PlainBodyDecoder)
}

// conformance is the OpenAPI document as the server serves it, loaded and
// checked once per test binary.
type conformance struct {
	doc    *openapi3.T
	router routers.Router
}

var loadConformance = sync.OnceValues(func() (*conformance, error) {
	tm, err := mailtemplates.New()
	if err != nil {
		return nil, err
	}
	srv, err := api.New(api.Deps{Templates: tm})
	if err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Body)
	}
	return parseConformance(rec.Body.Bytes())
})

func parseConformance(b []byte) (*conformance, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the document is not valid OpenAPI: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &conformance{doc: doc, router: router}, nil
}

func mustConformance(t testing.TB) *conformance {
	t.Helper()
	d, err := loadConformance()
	if err != nil {
		t.Fatalf("OpenAPI document: %v", err)
	}
	return d
}

// exchange is one request and its response, as the server saw them.
type exchange struct {
	req     *http.Request
	method  string // as sent: the server routes a HEAD as a GET (headAsGet)
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
}

func (x exchange) String() string {
	return fmt.Sprintf("%s %s → %d", x.method, x.req.URL.RequestURI(), x.status)
}

// bearerPresent is the document's bearer scheme as far as a request the
// server accepted can show it: the header is there. Whether the token is
// good is the server's business.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if scheme, _, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " "); !strings.EqualFold(scheme, "Bearer") {
		return errors.New("no bearer token")
	}
	return nil
}

// check validates x against the document. It returns the operation x
// matched as "METHOD /path/{param} status", or "" for a request outside
// the document (a public page).
func (d *conformance) check(x exchange) (string, error) {
	ctx := context.Background()
	req := x.req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.reqBody))
	// A HEAD is the GET without its body (RFC 9110 9.3.2): it is checked
	// as that GET, for its status and headers only.
	head := x.method == http.MethodHead
	if head {
		req.Method = http.MethodGet
	}
	route, params, err := d.router.FindRoute(req)
	if err != nil {
		if !strings.HasPrefix(req.URL.Path, "/api/v1/") {
			return "", nil // a public page: not described
		}
		if x.status < 400 {
			return "", fmt.Errorf("%s: the route answers but the document does not describe it (%v)", x, err)
		}
		// No such route or method: the error still has the error shape.
		if head {
			return "", nil
		}
		if err := d.checkSchema("Error", x.body); err != nil {
			return "", fmt.Errorf("%s: the error body is not an Error: %w", x, err)
		}
		return "", nil
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    bearerPresent,
		IncludeResponseStatus: true, // an undocumented status fails
		SkipSettingDefaults:   true,
		MultiError:            true,
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	op := fmt.Sprintf("%s %s %d", route.Method, route.Path, x.status)
	if route.Operation.Responses.Status(x.status) == nil {
		// ValidateResponse lets 304 and redirects through unlisted.
		return op, fmt.Errorf("%s: the operation does not list status %d", x, x.status)
	}
	if x.status >= 200 && x.status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return op, fmt.Errorf("%s: the server accepted a request the document rejects: %w", x, err)
		}
	}
	if head {
		return op, nil
	}
	res := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.status, Header: x.header, Options: opts}
	res.SetBodyBytes(x.body)
	if err := openapi3filter.ValidateResponse(ctx, res); err != nil {
		return op, fmt.Errorf("%s: the response does not match the document: %w\nbody: %.2000s", x, err, x.body)
	}
	return op, nil
}

// checkSchema validates a JSON body against one of the document's schemas.
func (d *conformance) checkSchema(name string, body []byte) error {
	ref := d.doc.Components.Schemas[name]
	if ref == nil {
		return fmt.Errorf("no schema %s", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}

// checkedServer is the app as the API tests reach it: each exchange is
// checked against the document, and failures are reported on t.
type checkedServer struct {
	*api.Server
	t    testing.TB
	conf *conformance

	mu   sync.Mutex
	seen map[string]bool // the operations and statuses exercised

	// st, when set, makes every write checked for its audit row
	// (checkAudit).
	st *store.Store
}

func conform(t testing.TB, srv *api.Server) *checkedServer {
	return &checkedServer{Server: srv, t: t, conf: mustConformance(t), seen: map[string]bool{}}
}

func (s *checkedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var reqBody []byte
	if r.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(r.Body); err != nil {
			s.t.Errorf("read the request body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	method := r.Method
	rec := httptest.NewRecorder()
	s.Server.ServeHTTP(rec, r)
	res := rec.Result()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	w.Write(rec.Body.Bytes())

	if s.st != nil {
		checkAudit(s.t, s.st, r, res)
	}
	op, err := s.conf.check(exchange{req: r, method: method, reqBody: reqBody, status: res.StatusCode, header: res.Header, body: rec.Body.Bytes()})
	if err != nil {
		// Errorf, not Fatalf: this may run in a subtest's goroutine.
		s.t.Errorf("OpenAPI: %v", err)
	}
	if op != "" {
		s.mu.Lock()
		s.seen[op] = true
		s.mu.Unlock()
	}
}

// routeDiff compares the server's routes with the document's operations:
// routes under /api/v1 that the document lacks, and documented operations
// that are no route.
func (d *conformance) routeDiff(routes []*echo.Route) (undocumented, unrouted []string) {
	documented := map[string]bool{}
	for path, item := range d.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, r := range routes {
		if r.Method == echo.RouteNotFound {
			continue // the group's catch-all, which answers 404
		}
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		key := r.Method + " " + strings.Join(parts, "/")
		routed[key] = true
		if strings.HasPrefix(r.Path, "/api/v1/") && !documented[key] {
			undocumented = append(undocumented, key)
		}
	}
	for key := range documented {
		if !routed[key] {
			unrouted = append(unrouted, key)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unrouted)
	return undocumented, unrouted
}

// TestOpenAPIDescribesEveryRoute fails for a route under /api/v1 that the
// document lacks, and for a documented operation that is no route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	d := mustConformance(t)
	a := newTestAPI(t)
	undocumented, unrouted := d.routeDiff(a.srv.Echo().Routes())
	if len(undocumented) > 0 {
		t.Errorf("routes missing from api/openapi.yaml:\n  %s", strings.Join(undocumented, "\n  "))
	}
	if len(unrouted) > 0 {
		t.Errorf("operations in api/openapi.yaml that are no route:\n  %s", strings.Join(unrouted, "\n  "))
	}
}

// TestOpenAPIRouteCheckCatchesDrift shows the route check failing: a new
// route under /api/v1, and a documented operation whose route went away.
func TestOpenAPIRouteCheckCatchesDrift(t *testing.T) {
	d := mustConformance(t)
	a := newTestAPI(t)
	e := a.srv.Echo()
	e.GET("/api/v1/lists/:id/secrets", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	routes := slices.DeleteFunc(e.Routes(), func(r *echo.Route) bool {
		return r.Method == http.MethodDelete && r.Path == "/api/v1/tokens/:id"
	})
	undocumented, unrouted := d.routeDiff(routes)
	if !slices.Equal(undocumented, []string{"GET /api/v1/lists/{id}/secrets"}) {
		t.Errorf("undocumented = %q, want the new route", undocumented)
	}
	if !slices.Equal(unrouted, []string{"DELETE /api/v1/tokens/{id}"}) {
		t.Errorf("unrouted = %q, want the removed route", unrouted)
	}
}

// TestEveryDocumentedOperationAnswersAsDocumented walks each operation to
// each success status the document lists, so that every response schema
// is checked against a real answer at least once, whatever the other
// tests happen to cover, on SQLite and on Postgres. It fails naming the
// operations it did not reach.
func TestEveryDocumentedOperationAnswersAsDocumented(t *testing.T) {
	storetest.Run(t, walkEveryOperation)
}

func walkEveryOperation(t *testing.T, st *store.Store) {
	a := newTestAPIWith(t, st)
	id := func(v struct{ ID int64 }) string { return itoa(v.ID) }
	var x struct{ ID int64 }
	post := func(code int, path, body string) string {
		t.Helper()
		a.ok(code, "POST", path, body, &x)
		return id(x)
	}
	// items gets a page that must not be empty, so its items are checked.
	items := func(path string) {
		t.Helper()
		var p struct{ Items []json.RawMessage }
		if a.ok(200, "GET", path, "", &p); len(p.Items) == 0 {
			t.Errorf("GET %s: no items to check", path)
		}
	}

	// Lists.
	list := post(201, "/api/v1/lists", `{"slug":"bus","name":"BUS","description":"Om BUS","language":"sv","optin":"single","visibility":"public","template_id":0,"archive":true,"track_opens":true,"track_clicks":true}`)
	other := post(201, "/api/v1/lists", `{"slug":"gamla","name":"Gamla"}`)
	items("/api/v1/lists")
	a.ok(200, "GET", "/api/v1/lists/"+list, "", nil)
	a.ok(200, "PATCH", "/api/v1/lists/"+list, `{"name":"BUS-nytt","track_opens":false}`, nil)
	a.ok(200, "GET", "/api/v1/lists/"+list+"/stats?days=7", "", nil)
	a.ok(204, "DELETE", "/api/v1/lists/"+other, "", nil)

	// Subscribers.
	anna := post(201, "/api/v1/subscribers", `{"email":"anna@example.se","name":"Anna","language":"sv","attributes":{"kommun":"Malmö","medlem":12},"lists":[{"id":`+list+`,"status":"confirmed","tracking_consent":true}],"consent_basis":"pappersblankett på mässan"}`)
	bo := post(201, "/api/v1/subscribers", `{"email":"bo@example.se","lists":[`+list+`]}`)
	cilla := post(201, "/api/v1/subscribers", `{"email":"cilla@example.se"}`)
	items("/api/v1/subscribers?list_id=" + list + "&status=confirmed&q=ann&limit=1")
	items("/api/v1/subscribers?limit=1") // a page with a next cursor
	a.ok(200, "GET", "/api/v1/subscribers/"+anna, "", nil)
	a.ok(200, "PATCH", "/api/v1/subscribers/"+anna, `{"name":"Anna A","lists":[{"id":`+list+`,"status":"unsubscribed"}]}`, nil)
	items("/api/v1/subscribers/" + anna + "/events?limit=2")
	a.ok(200, "GET", "/api/v1/subscribers.csv", "", nil)
	a.ok(200, "GET", "/api/v1/subscribers.csv?list_id="+list+"&status=unconfirmed", "", nil)
	a.ok(200, "GET", "/api/v1/subscribers/"+anna+"/export", "", nil)
	a.ok(200, "POST", "/api/v1/subscribers/"+bo+"/erase", "", nil)
	a.ok(204, "DELETE", "/api/v1/subscribers/"+cilla, "", nil)

	// Suppressions: one added, the same again, and an erased one listed.
	a.ok(201, "POST", "/api/v1/suppressions", `{"email":"dan@example.se","reason":"complaint","note":"per telefon"}`, nil)
	a.ok(200, "POST", "/api/v1/suppressions", `{"email":"dan@example.se"}`, nil)
	items("/api/v1/suppressions?limit=1")
	items("/api/v1/suppressions?reason=erased")
	items("/api/v1/suppressions?email=dan@example.se")
	a.ok(204, "DELETE", "/api/v1/suppressions?email=dan@example.se", "", nil)

	// Imports.
	ct, body := multipartBody(t, [][2]string{{"mode", "subscribe"}, {"list_ids", list}, {"overwrite", "true"}, {"consent_basis", "medlemsregistret"}},
		[]byte("email,namn,kommun\nerik@example.se,Erik,Lund\n"))
	rec := a.upload(ct, body)
	want(t, rec, 202, &x)
	imp := id(x)
	items("/api/v1/imports")
	// Media: an upload, then the library; one renamed, one deleted.
	if rec := uploadImage(a.srv, "/api/v1/media", a.editor, "karta.png", testPNG(t, 30, 20, false)); rec.Code != http.StatusCreated {
		t.Fatalf("media upload: %d %s", rec.Code, rec.Body)
	}
	rec = uploadImage(a.srv, "/api/v1/media", a.editor, "karta 2.png", testPNG(t, 20, 30, false))
	want(t, rec, 201, &x)
	img := id(x)
	items("/api/v1/media")
	a.ok(200, "GET", "/api/v1/media/"+img, "", nil)
	a.ok(200, "PATCH", "/api/v1/media/"+img, `{"title":"Karta över Solna","alt":"Karta med föreningens lokaler"}`, nil)
	a.ok(204, "DELETE", "/api/v1/media/"+img, "", nil)
	a.ok(200, "GET", "/api/v1/imports/"+imp, "", nil)
	a.ok(200, "GET", "/api/v1/imports/"+imp+"/rejects.csv", "", nil)

	// Templates.
	src, theme := busTemplate(t)
	tb, _ := json.Marshal(map[string]any{"name": "BUS", "description": "Gult", "html": src, "theme": theme})
	tmpl := post(201, "/api/v1/templates", string(tb))
	items("/api/v1/templates")
	a.ok(200, "GET", "/api/v1/templates/"+tmpl, "", nil)
	a.ok(200, "PATCH", "/api/v1/templates/"+tmpl, `{"description":"Gult och svart"}`, nil)
	a.ok(200, "POST", "/api/v1/templates/"+tmpl+"/preview", "", nil)
	a.ok(200, "POST", "/api/v1/templates/"+tmpl+"/preview", `{"subject":"Hej","body":"Text","language":"en","reader_language":"sv","format":"text","name":"Bo","attributes":{"kommun":"Lund"}}`, nil)
	a.ok(204, "DELETE", "/api/v1/templates/"+tmpl, "", nil)

	// Webhooks, registered before the bounce below so it has a delivery.
	hook := post(201, "/api/v1/webhooks", `{"url":"https://crm.example.se/utskick","events":["delivery.bounced","campaign.sent"],"description":"CRM"}`)
	gone := post(201, "/api/v1/webhooks", `{"url":"https://example.se/hook","events":["*"]}`)
	items("/api/v1/webhooks")
	a.ok(204, "DELETE", "/api/v1/webhooks/"+gone, "", nil)

	// Campaigns: a draft through its life.
	camp := post(201, "/api/v1/campaigns", `{"name":"December","subject":"Hej {{ name }}","from":"Förbundet <nyhetsbrev@example.se>","preheader":"Nytt","body":"# Rubrik\n\nText.","list_ids":[`+list+`]}`)
	items("/api/v1/campaigns?status=draft&limit=1")
	a.ok(200, "GET", "/api/v1/campaigns/"+camp, "", nil)
	a.ok(200, "PATCH", "/api/v1/campaigns/"+camp, `{"preheader":"Nyheter i december"}`, nil)
	a.ok(200, "POST", "/api/v1/campaigns/"+camp+"/lint?subscriber_id="+anna+"&check_links=false", "", nil)
	for _, f := range []string{"html", "text", "eml"} {
		a.ok(200, "GET", "/api/v1/campaigns/"+camp+"/preview?format="+f+"&subscriber_id="+anna, "", nil)
	}
	a.ok(202, "POST", "/api/v1/campaigns/"+camp+"/test", `{"emails":["test@example.se"]}`, nil)
	a.ok(202, "POST", "/api/v1/campaigns/"+camp+"/send", `{"send_at":"2030-01-01T08:00:00+01:00"}`, nil)
	a.ok(200, "POST", "/api/v1/campaigns/"+camp+"/pause", "", nil)
	a.ok(200, "POST", "/api/v1/campaigns/"+camp+"/resume", "", nil)
	a.ok(200, "POST", "/api/v1/campaigns/"+camp+"/cancel", "", nil)
	copied := post(201, "/api/v1/campaigns/"+camp+"/duplicate", "")
	a.ok(204, "DELETE", "/api/v1/campaigns/"+copied, "", nil)

	// A sent campaign: its report, deliveries, a retry, and a bounce
	// handed in, which the webhook above is told about.
	sd := storetest.Sent(t, a.st, storetest.Seed{Subscribers: 2, TrackOpens: true, TrackClicks: true, Consent: true, Links: []string{"https://example.se/a"}})
	sent := itoa(sd.CampaignID)
	req := httptest.NewRequest("POST", "/api/v1/inbound?rcpt=x@example.se", strings.NewReader(renderFixture(t, "dsn_hard", a.sign.BounceToken(sd.Deliveries[0]), sd.Emails[0])))
	req.Header.Set("Authorization", "Bearer "+a.editor)
	req.Header.Set("Content-Type", "message/rfc822")
	rec = httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	want(t, rec, 200, nil)
	a.ok(200, "GET", "/api/v1/campaigns/"+sent+"/stats", "", nil)
	items("/api/v1/campaigns/" + sent + "/deliveries?status=bounced&limit=1")
	items("/api/v1/campaigns/" + sent + "/deliveries?limit=1")
	a.ok(200, "POST", "/api/v1/campaigns/"+sent+"/retry-failed", "", nil)
	items("/api/v1/webhooks/" + hook + "/deliveries?limit=1")

	// Four eyes: a list that needs approval; the editor token asks, the
	// admin token (another actor) approves one send and rejects another.
	a.ok(200, "PATCH", "/api/v1/lists/"+list, `{"requires_approval":true}`, nil)
	for i, verdict := range []string{"approve", "reject"} {
		c := post(201, "/api/v1/campaigns", `{"name":"Fyra ögon `+itoa(int64(i))+`","subject":"Hej","body":"Text {{ unsubscribe_url }}","list_ids":[`+list+`]}`)
		want(t, a.do("POST", "/api/v1/campaigns/"+c+"/send", a.editor, ""), 202, nil)
		var ap struct{ Revision int }
		a.ok(200, "GET", "/api/v1/campaigns/"+c+"/approval", "", &ap)
		if verdict == "approve" {
			a.ok(200, "POST", "/api/v1/campaigns/"+c+"/approve", `{"revision":`+itoa(int64(ap.Revision))+`}`, nil)
		} else {
			a.ok(200, "POST", "/api/v1/campaigns/"+c+"/reject", `{"comment":"Rubriken behöver ses över"}`, nil)
		}
	}

	// Grants of a user, a token of the user, and the audit log.
	u := &store.User{Email: "redaktor@example.se", Role: store.RoleMember}
	if err := a.st.CreateUser(context.Background(), u, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	a.ok(200, "PUT", "/api/v1/users/"+itoa(u.ID)+"/grants", `{"grants":[{"list_id":`+list+`,"role":"author"},{"list_id":`+list+`,"role":"audience"}]}`, nil)
	a.ok(200, "GET", "/api/v1/users/"+itoa(u.ID)+"/grants", "", nil)
	utok := post(201, "/api/v1/tokens", `{"name":"Redaktörens","role":"editor","user_id":`+itoa(u.ID)+`}`)
	a.ok(204, "DELETE", "/api/v1/tokens/"+utok, "", nil)
	var ap struct {
		NextBefore int64 `json:"next_before"`
	}
	a.ok(200, "GET", "/api/v1/audit?limit=2&action=campaign.&since=2000-01-01", "", &ap)
	if ap.NextBefore == 0 {
		t.Error("GET /api/v1/audit?limit=2: no next page")
	}
	a.ok(200, "GET", "/api/v1/audit?before="+itoa(ap.NextBefore)+"&object_type=campaign", "", nil)
	a.ok(200, "GET", "/api/v1/audit.csv?action=campaign.approve", "", nil)
	// The sender identity.
	a.ok(200, "PUT", "/api/v1/settings/sender", `{"from_name":"Förbundet","from_address":"nyhetsbrev@example.se","postal_address":"Box 1, 111 11 Stockholm","contact":"08-123 45 67"}`, nil)
	a.ok(200, "GET", "/api/v1/settings/sender", "", nil)
	// The security policy, and an admin resetting a user's second factor.
	a.ok(200, "PUT", "/api/v1/settings/security", `{"require_two_factor":true}`, nil)
	a.ok(200, "GET", "/api/v1/settings/security", "", nil)
	a.ok(200, "PUT", "/api/v1/settings/security", `{"require_two_factor":false}`, nil)
	a.ok(204, "DELETE", "/api/v1/users/"+itoa(u.ID)+"/twofactor", "", nil)

	// Tokens.
	tok := post(201, "/api/v1/tokens", `{"name":"CRM","role":"viewer"}`)
	items("/api/v1/tokens")
	a.ok(204, "DELETE", "/api/v1/tokens/"+tok, "", nil)

	// The document itself, then revalidated.
	rec = a.do("GET", "/api/v1/openapi.json", "", "")
	want(t, rec, 200, nil)
	req = httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec = httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	want(t, rec, 304, nil)

	// The machines' endpoints.
	want(t, a.do("GET", "/healthz", "", ""), 200, nil)
	want(t, a.do("GET", "/readyz", "", ""), 200, nil)
	oneClick := a.sign.UnsubscribeToken(links.Unsubscribe{SubscriberID: sd.Subscribers[1], CampaignID: sd.CampaignID})
	want(t, a.form("/unsubscribe/"+oneClick, "List-Unsubscribe=One-Click"), 200, nil)

	var missed []string
	for path, item := range a.srv.conf.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				if code[0] != '2' && code != "304" {
					continue
				}
				if key := method + " " + path + " " + code; !a.srv.seen[key] {
					missed = append(missed, key)
				}
			}
		}
	}
	slices.Sort(missed)
	if len(missed) > 0 {
		t.Errorf("documented answers never exercised:\n  %s", strings.Join(missed, "\n  "))
	}
}

// TestRequiredRolesAreTheRoutesRoles checks each operation's
// x-required-role against the server: without a token it is a 401 (or,
// for "none", no 401), a token one role too low is a 403, and a token of
// that role gets past the check.
func TestRequiredRolesAreTheRoutesRoles(t *testing.T) {
	a := newTestAPI(t)
	token := map[string]string{"viewer": a.viewer, "editor": a.editor, "admin": a.admin}
	below := map[string]string{"editor": "viewer", "admin": "editor"}
	for path, item := range a.srv.conf.doc.Paths.Map() {
		for method, op := range item.Operations() {
			role, _ := op.Extensions["x-required-role"].(string)
			url := strings.NewReplacer("{id}", "999999", "{token}", "x").Replace(path)
			t.Run(method+" "+path, func(t *testing.T) {
				public := op.Security != nil && len(*op.Security) == 0
				switch {
				case role == "none" && !public, role != "none" && public:
					t.Fatalf("x-required-role %q disagrees with security %v", role, op.Security)
				case role == "none":
					if rec := a.do(method, url, "", ""); rec.Code == 401 || rec.Code == 403 {
						t.Fatalf("without a token: %d, want no authentication", rec.Code)
					}
					return
				case token[role] == "":
					t.Fatalf("x-required-role %q is not a role", role)
				}
				if rec := a.do(method, url, "", ""); rec.Code != 401 {
					t.Errorf("without a token: %d, want 401", rec.Code)
				}
				if low := below[role]; low != "" {
					if rec := a.do(method, url, token[low], ""); rec.Code != 403 {
						t.Errorf("as %s: %d, want 403", low, rec.Code)
					}
				}
				if rec := a.do(method, url, token[role], ""); rec.Code == 401 || rec.Code == 403 {
					t.Errorf("as %s: %d %s, want past the role check", role, rec.Code, rec.Body)
				}
			})
		}
	}
}

// TestOpenAPIIsServedWithoutATokenAndRevalidated checks the document's
// route: no token needed, JSON that says the same as api/openapi.yaml,
// and an ETag that turns a repeated fetch into a 304.
func TestOpenAPIIsServedWithoutATokenAndRevalidated(t *testing.T) {
	a := newTestAPI(t)
	rec := a.do("GET", "/api/v1/openapi.json", "", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET without a token: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	etag, cc := rec.Header().Get("ETag"), rec.Header().Get("Cache-Control")
	if !strings.HasPrefix(etag, `"`) || !strings.Contains(cc, "max-age=") {
		t.Fatalf("ETag %q, Cache-Control %q", etag, cc)
	}

	// The JSON says what the YAML source says.
	src, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var fromYAML, served any
	if err := yaml.Unmarshal(src, &fromYAML); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromYAML, served) {
		t.Fatal("the served JSON differs from api/openapi.yaml")
	}
	if v := served.(map[string]any)["openapi"]; v != "3.1.0" {
		t.Fatalf("openapi %v, want 3.1.0", v)
	}

	for _, tc := range []struct {
		ifNoneMatch string
		code        int
	}{
		{etag, 304},
		{"W/" + etag, 304},
		{`"other", ` + etag, 304},
		{"*", 304},
		{`"other"`, 200},
	} {
		req := httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
		req.Header.Set("If-None-Match", tc.ifNoneMatch)
		rec := httptest.NewRecorder()
		a.srv.ServeHTTP(rec, req)
		if rec.Code != tc.code || (tc.code == 304 && rec.Body.Len() != 0) {
			t.Errorf("If-None-Match %s: %d with %d bytes, want %d", tc.ifNoneMatch, rec.Code, rec.Body.Len(), tc.code)
		}
		if rec.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s: ETag %q, want %q", tc.ifNoneMatch, rec.Header().Get("ETag"), etag)
		}
	}
}

// TestOpenAPICheckCatchesDrift feeds the checker real answers of the
// server, changed the way a careless edit of a handler or a store type
// would change them, and wants each change caught.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	d := mustConformance(t)
	a := newTestAPI(t)
	list := a.seedList("bus", "")
	var camp struct{ ID int64 }
	a.ok(201, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"n","subject":"s","body":"b","list_ids":[%d]}`, list), &camp)
	a.ok(201, "POST", "/api/v1/webhooks", `{"url":"https://example.se/h","events":["*"]}`, nil)

	// answer asks the server itself, outside the checking wrapper.
	answer := func(method, path string) exchange {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer "+a.admin)
		rec := httptest.NewRecorder()
		a.srv.Server.ServeHTTP(rec, req)
		return exchange{req: req, method: req.Method, status: rec.Code, header: rec.Result().Header, body: rec.Body.Bytes()}
	}
	edit := func(x exchange, fn func(m map[string]any)) exchange {
		var m map[string]any
		if err := json.Unmarshal(x.body, &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		x.body, _ = json.Marshal(m)
		return x
	}
	first := func(m map[string]any) map[string]any { return m["items"].([]any)[0].(map[string]any) }
	getList := answer("GET", fmt.Sprintf("/api/v1/lists/%d", list))
	getCamp := answer("GET", fmt.Sprintf("/api/v1/campaigns/%d", camp.ID))
	hooks := answer("GET", "/api/v1/webhooks")
	for _, x := range []exchange{getList, getCamp, hooks} {
		if _, err := d.check(x); err != nil {
			t.Fatalf("the unchanged answer fails: %v", err)
		}
	}

	for _, tc := range []struct {
		name, want string
		x          exchange
	}{
		{"a new field in a list", "colour", edit(getList, func(m map[string]any) { m["colour"] = "red" })},
		{"a new field in a campaign", "colour", edit(getCamp, func(m map[string]any) { m["colour"] = "red" })},
		{"a secret in the webhook list", "secret", edit(hooks, func(m map[string]any) { first(m)["secret"] = "whsec_x" })},
		{"a field gone", "counts", edit(getList, func(m map[string]any) { delete(m, "counts") })},
		{"a null where none is allowed", "slug", edit(getList, func(m map[string]any) { m["slug"] = nil })},
		{"a value out of its enum", "status", edit(getCamp, func(m map[string]any) { m["status"] = "queued" })},
		{"a time that is not RFC 3339", "created_at", edit(getCamp, func(m map[string]any) { m["created_at"] = "yesterday" })},
		{"a status the operation does not list", "418", func() exchange { x := getList; x.status = 418; return x }()},
		{"an error without its message", "error", func() exchange {
			x := answer("GET", "/api/v1/lists/999")
			return edit(x, func(m map[string]any) { delete(m, "error") })
		}()},
		{"an undocumented route that answers", "does not describe", func() exchange {
			x := getList
			x.req = httptest.NewRequest("GET", "/api/v1/lists/1/secrets", nil)
			return x
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.check(tc.x)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
