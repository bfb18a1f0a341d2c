package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/csvimport"
)

// The web import runs in two steps. The upload stores the file as an
// import still "uploading", in the database like an API upload (at most
// UTSKICK_IMPORT_MAX_BYTES; reconcile deletes one not started within an
// hour). The review page then shows the detected columns and the first
// rows, and only the choices posted from it (mode, lists, consent
// basis) start it, through parseImportOptions like the API's.

// importPreviewRows is how many rows the review page shows.
const importPreviewRows = 10

type importsData struct {
	webPage
	audLabels
	Imports   []store.Import
	ListNames map[int64]string
	NextURL   string
}

func (s *Server) importsPage(c echo.Context) error {
	return s.renderImports(c, http.StatusOK, nil)
}

func (s *Server) renderImports(c echo.Context, code int, errs map[string]string) error {
	ctx := c.Request().Context()
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	items, next, err := s.st.Imports(ctx, max(before, 0), 25)
	if err != nil {
		return err
	}
	ls, err := s.st.ListsBrief(ctx)
	if err != nil {
		return err
	}
	p := importsData{webPage: s.page(c, "imports.title", "imports"), audLabels: s.labels(c), Imports: items, ListNames: listNames2(ls)}
	p.Errors = errs
	if next != 0 {
		p.NextURL = "/admin/imports?before=" + strconv.FormatInt(next, 10)
	}
	return s.renderWeb(c, code, "imports", p.Lang, p)
}

// importUpload stores the posted file (the part named file; other parts
// are ignored) and goes to its review page. The CSRF token is in the
// action's query (see checkCSRF), so nothing reads the file whole.
func (s *Server) importUpload(c echo.Context) error {
	req := c.Request()
	ctx := req.Context()
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return fieldErr("body", "must be multipart/form-data")
	}
	mr := multipart.NewReader(http.MaxBytesReader(c.Response(), req.Body, s.importMax), params["boundary"])
	fileErr := func(key string, args ...string) error {
		return s.renderImports(c, http.StatusUnprocessableEntity, map[string]string{"file": s.t(c, key, args...)})
	}
	tooBig := func() error {
		return fileErr("imports.err.too_big", "max", formatNum(s.importMax/(1<<20), s.webLang(c)))
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return fileErr("imports.err.no_file")
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooBig()
		}
		if err != nil {
			return bodyError(err)
		}
		if part.FormName() != "file" {
			continue
		}
		first, err := readChunk(part)
		if errors.As(err, &mbe) {
			return tooBig()
		}
		if err != nil {
			return bodyError(err)
		}
		if len(first) == 0 && part.FileName() == "" {
			return fileErr("imports.err.no_file")
		}
		if _, _, err := csvimport.ReadHeader(bytes.NewReader(first)); err != nil {
			var he *csvimport.HeaderError
			if errors.As(err, &he) {
				return fileErr("imports.err.header", "detail", he.Msg)
			}
			return err
		}
		uid := webSessionOf(c).User.ID
		imp := &store.Import{Mode: store.ImportSubscribe, Filename: truncateName(part.FileName()), UserID: &uid}
		if err := s.st.CreateImport(ctx, imp); err != nil {
			return err
		}
		if _, err := s.storeChunks(ctx, imp.ID, first, part); err != nil {
			if derr := s.st.DeleteImport(context.WithoutCancel(ctx), imp.ID); derr != nil {
				s.log.Error("delete failed upload", "import_id", imp.ID, "err", derr)
			}
			if errors.As(err, &mbe) {
				return tooBig()
			}
			return err
		}
		return redirect(c, "/admin/imports/"+strconv.FormatInt(imp.ID, 10))
	}
}

// importColumn is one column of the file as the review page shows it.
type importColumn struct {
	Name string
	Role string // email, name, language, tracking_consent, attribute, ignored
}

type importPreviewRow struct {
	Line    int64
	Cells   []string
	Problem string // why the row will be skipped, if it will
}

type importData struct {
	webPage
	audLabels
	Import    *store.Import
	ListNames map[int64]string
	Lists     []store.List
	// Review (status uploading): the file's columns and first rows.
	Columns []importColumn
	Rows    []importPreviewRow
	Form    importForm
	Modes   []string
	// Progress in whole percent, for the bar.
	Percent int64
	Running bool
}

type importForm struct {
	Mode         string
	ListIDs      map[int64]bool
	ConsentBasis string
	Overwrite    bool
}

func (s *Server) importPage(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := s.importData(c, id)
	if err != nil {
		return err
	}
	screen := "import"
	if p.Import.Status == store.ImportUploading {
		screen = "import_review"
	}
	return s.renderWeb(c, http.StatusOK, screen, p.Lang, p)
}

func (s *Server) importData(c echo.Context, id int64) (importData, error) {
	ctx := c.Request().Context()
	imp, err := s.st.Import(ctx, id)
	if err != nil {
		return importData{}, err
	}
	ls, err := s.st.ListsBrief(ctx)
	if err != nil {
		return importData{}, err
	}
	p := importData{webPage: s.page(c, "imports.progress_title", "imports"), audLabels: s.labels(c), Import: imp, Lists: ls, ListNames: listNames2(ls),
		Percent: int64(imp.Progress * 100), Form: importForm{Mode: store.ImportSubscribe, ListIDs: map[int64]bool{}},
		Running: imp.Status == store.ImportQueued || imp.Status == store.ImportRunning,
		Modes:   []string{store.ImportSubscribe, store.ImportUnsubscribe, store.ImportSuppress}}
	if imp.Status != store.ImportUploading {
		return p, nil
	}
	p.Title = s.t(c, "imports.review_title")
	// The preview reads at most the first chunk of the file: a header
	// and ten rows fit in a MiB, and the page stays bounded whatever the
	// file's size.
	first, err := io.ReadAll(io.LimitReader(s.st.ImportFile(ctx, id), importChunk))
	if err != nil {
		return p, err
	}
	cols, _, err := csvimport.ReadHeader(bytes.NewReader(first))
	if err != nil {
		return p, err
	}
	body := first[cols.BOMLen:]
	cr := csvimport.NewReader(bytes.NewReader(body), byte(cols.Comma), csvimport.MaxField, csvimport.MaxRecord)
	header, _, err := cr.Read()
	if err != nil {
		return p, err
	}
	roles := make([]string, len(header))
	for i := range roles {
		roles[i] = "ignored"
	}
	set := func(i int, r string) {
		if i >= 0 && i < len(roles) {
			roles[i] = r
		}
	}
	set(cols.Email, "email")
	set(cols.Name, "name")
	set(cols.Language, "language")
	set(cols.Tracking, "tracking_consent")
	for _, a := range cols.Attrs {
		set(a.Index, "attribute")
	}
	for i, h := range header {
		p.Columns = append(p.Columns, importColumn{Name: strings.TrimSpace(h), Role: roles[i]})
	}
	for line := int64(2); len(p.Rows) < importPreviewRows; line++ {
		rec, _, err := cr.Read()
		if err != nil {
			break // the end of the file, or of the first chunk
		}
		r := cols.Row(rec, line)
		row := importPreviewRow{Line: line, Cells: append([]string(nil), rec...)}
		if r.Invalid != "" {
			reason := r.Reason
			if reason == "" {
				reason = store.RejectInvalidAddress // as the store reports it
			}
			row.Problem = s.t(c, "imports.reason."+reason) + " (" + r.Invalid + ")"
		}
		p.Rows = append(p.Rows, row)
	}
	return p, nil
}

// importStart takes the review page's choices and starts the import,
// with the option rules of POST /api/v1/imports (parseImportOptions).
func (s *Server) importStart(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return fieldErr("body", "is not a valid form")
	}
	v := url.Values{"mode": {form.Get("mode")}}
	if ids := form["list_ids"]; len(ids) > 0 {
		v["list_ids"] = ids
	}
	if cb := form.Get("consent_basis"); cb != "" {
		v.Set("consent_basis", cb)
	}
	if form.Get("overwrite") == "true" {
		v.Set("overwrite", "true")
	}
	ctx := c.Request().Context()
	opts, err := parseImportOptions(v)
	if err == nil {
		// The review and the queueing are one change, with its audit row:
		// a failure of the second leaves the upload as it was.
		err = s.st.Atomic(ctx, func(ctx context.Context) error {
			if err := s.st.ConfigureImport(ctx, id, store.ImportSettings{Mode: opts.mode, ListIDs: opts.listIDs,
				Overwrite: opts.overwrite, ConsentBasis: opts.consentBasis, UserID: webSessionOf(c).User.ID}); err != nil {
				return err
			}
			size, err := s.st.ImportUploadSize(ctx, id)
			if err != nil {
				return err
			}
			return s.st.QueueImport(ctx, id, size)
		})
	}
	if err == nil {
		if err := s.q.Enqueue(ctx, queue.NewImportTask(id)); err != nil {
			s.log.Warn("enqueue import; reconcile will retry", "import_id", id, "err", err)
		}
		return redirect(c, "/admin/imports/"+strconv.FormatInt(id, 10))
	}
	var nf *store.NotFoundError
	if errors.As(err, &nf) && nf.What == "list" {
		err = &FieldError{Field: "list_ids", Msg: "no such list", Key: "aud.err.choose"}
	}
	errs := s.audienceErrors(c, err)
	if errs == nil {
		return err
	}
	p, perr := s.importData(c, id)
	if perr != nil {
		return perr
	}
	if p.Import.Status != store.ImportUploading {
		return redirect(c, "/admin/imports/"+strconv.FormatInt(id, 10))
	}
	p.Errors = errs
	p.Form = importForm{Mode: form.Get("mode"), ConsentBasis: form.Get("consent_basis"), Overwrite: form.Get("overwrite") == "true",
		ListIDs: map[int64]bool{}}
	for _, v := range form["list_ids"] {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			p.Form.ListIDs[n] = true
		}
	}
	return s.renderWeb(c, http.StatusUnprocessableEntity, "import_review", p.Lang, p)
}

// importDiscard deletes an uploaded file that was not started.
func (s *Server) importDiscard(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	imp, err := s.st.Import(ctx, id)
	if err != nil {
		return err
	}
	if imp.Status != store.ImportUploading {
		return &store.ConflictError{Msg: fmt.Sprintf("import %d has started; it cannot be discarded", id)}
	}
	if err := s.st.DeleteImport(ctx, id); err != nil {
		return err
	}
	s.flash(c, "flash.aud_import_discarded")
	return redirect(c, "/admin/imports")
}
