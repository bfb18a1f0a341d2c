package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/csvimport"
)

// importChunk is the size of one stored piece of an upload: the most of
// the file held in memory at once, here and in the worker.
const importChunk = 1 << 20

// isUpload tells the body-limit and timeout middleware to leave the CSV
// upload to its own limits.
func isUpload(c echo.Context) bool {
	if c.Request().Method != http.MethodPost {
		return false
	}
	p := c.Request().URL.Path
	return p == "/api/v1/imports" || p == "/admin/imports"
}

type importOptions struct {
	mode         string
	listIDs      []int64
	listFields   []string // the field each list id came from, for errors
	overwrite    bool
	consentBasis string
}

// parseImportOptions reads the options from the form fields sent before
// the file, and from the query string.
func parseImportOptions(v url.Values) (*importOptions, error) {
	for k := range v {
		switch k {
		case "mode", "list_ids", "overwrite", "consent_basis":
		default:
			return nil, fieldErr(k, "is not a known option (mode, list_ids, overwrite, consent_basis, file)")
		}
	}
	o := &importOptions{mode: store.ImportSubscribe}
	if m := v.Get("mode"); m != "" {
		o.mode = m
	}
	if err := oneOf("mode", &o.mode, "", store.ImportSubscribe, store.ImportUnsubscribe, store.ImportSuppress); err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	i := 0
	for _, f := range v["list_ids"] {
		for _, p := range strings.Split(f, ",") {
			field := fmt.Sprintf("list_ids[%d]", i)
			i++
			id, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil || id <= 0 {
				return nil, fieldErr(field, "must be a list id, not %q", p)
			}
			if seen[id] {
				return nil, fieldErr(field, "list %d is named twice", id)
			}
			seen[id] = true
			o.listIDs = append(o.listIDs, id)
			o.listFields = append(o.listFields, field)
		}
	}
	switch o.mode {
	case store.ImportSubscribe:
		if len(o.listIDs) == 0 {
			return nil, fieldErr("list_ids", "name at least one list to subscribe to")
		}
	case store.ImportSuppress:
		if len(o.listIDs) > 0 {
			return nil, fieldErr("list_ids", "is not used with mode suppress: suppression covers every list")
		}
	}
	if ow := v.Get("overwrite"); ow != "" {
		b, err := strconv.ParseBool(ow)
		if err != nil {
			return nil, fieldErr("overwrite", "must be true or false")
		}
		o.overwrite = b
	}
	if cb, ok := v["consent_basis"]; ok {
		basis := cb[0]
		if err := text("consent_basis", &basis, false, 1000); err != nil {
			return nil, err
		}
		if basis != "" && o.mode != store.ImportSubscribe {
			return nil, fieldErr("consent_basis", "is only used with mode subscribe")
		}
		o.consentBasis = basis
	}
	return o, nil
}

// createImport takes a multipart/form-data upload: options as fields
// before the part named "file" (or in the query string), then the CSV.
// The file is streamed into the database in 1 MiB chunks, never held
// whole; its header is checked before anything is written, and a
// failure part-way deletes what was stored. The worker does the rest.
func (s *Server) createImport(c echo.Context) error {
	req := c.Request()
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return fieldErr("body", "must be multipart/form-data with the CSV in a part named file")
	}
	ctx := req.Context()
	body := http.MaxBytesReader(c.Response(), req.Body, s.importMax)
	mr := multipart.NewReader(body, params["boundary"])
	fields := req.URL.Query()
	var imp *store.Import
	fail := func(err error) error {
		if imp != nil {
			if derr := s.st.DeleteImport(context.WithoutCancel(ctx), imp.ID); derr != nil {
				s.log.Error("delete failed upload", "import_id", imp.ID, "err", derr)
			}
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than %d bytes", s.importMax))
		}
		return err
	}
	var size int64
	for {
		part, err := mr.NextPart()
		// Only a bare io.EOF is the closing boundary: a body cut short
		// comes back as an error wrapping io.EOF, and must not pass for
		// a complete upload.
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(bodyError(err))
		}
		name := part.FormName()
		if name != "file" {
			if imp != nil {
				return fail(fieldErr(name, "options must come before the file part"))
			}
			b, err := io.ReadAll(io.LimitReader(part, 4<<10+1))
			if err != nil {
				return fail(bodyError(err))
			}
			if len(b) > 4<<10 {
				return fail(fieldErr(name, "must be at most 4 KiB"))
			}
			fields.Add(name, string(b))
			continue
		}
		if imp != nil {
			return fail(fieldErr("file", "send one file per import"))
		}
		opts, err := parseImportOptions(fields)
		if err != nil {
			return err
		}
		first, err := readChunk(part)
		if err != nil {
			return fail(bodyError(err))
		}
		if _, _, err := csvimport.ReadHeader(bytes.NewReader(first)); err != nil {
			var he *csvimport.HeaderError
			if errors.As(err, &he) {
				return fieldErr("file", "%s", he.Msg)
			}
			return err
		}
		imp = &store.Import{Mode: opts.mode, ListIDs: opts.listIDs, Overwrite: opts.overwrite,
			ConsentBasis: opts.consentBasis, Filename: truncateName(part.FileName())}
		if t := tokenOf(c); t != nil {
			imp.TokenID = &t.ID
		}
		if err := s.st.CreateImport(ctx, imp); err != nil {
			var nf *store.NotFoundError
			if errors.As(err, &nf) && nf.What == "list" {
				for i, id := range opts.listIDs {
					if id == nf.ID {
						return fieldErr(opts.listFields[i], "no list with id %d", id)
					}
				}
			}
			imp = nil
			return err
		}
		if size, err = s.storeChunks(ctx, imp.ID, first, part); err != nil {
			return fail(err)
		}
	}
	if imp == nil {
		return fieldErr("file", "is required: a part named file with the CSV")
	}
	if err := s.st.QueueImport(ctx, imp.ID, size); err != nil {
		return fail(err)
	}
	if err := s.q.Enqueue(ctx, queue.NewImportTask(imp.ID)); err != nil {
		s.log.Warn("enqueue import; reconcile will retry", "import_id", imp.ID, "err", err)
	}
	got, err := s.st.Import(ctx, imp.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, got)
}

// storeChunks stores an upload in importChunk pieces, first (already
// read) and then the rest of part, and returns its size. A broken body
// is told as bodyError says; the caller deletes what was stored.
func (s *Server) storeChunks(ctx context.Context, id int64, first []byte, part io.Reader) (int64, error) {
	var size int64
	seq := 0
	chunk := first
	for len(chunk) > 0 {
		if err := s.st.AppendImportChunk(ctx, id, seq, chunk); err != nil {
			return 0, err
		}
		size += int64(len(chunk))
		seq++
		var err error
		if chunk, err = readChunk(part); err != nil {
			return 0, bodyError(err)
		}
	}
	return size, nil
}

// readChunk reads up to importChunk bytes of the part. The end of the
// part is a short chunk and no error; any other error, including a body
// that ended before the part's closing boundary, is returned.
func readChunk(part io.Reader) ([]byte, error) {
	buf := make([]byte, importChunk)
	n := 0
	for n < len(buf) {
		m, err := part.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return buf[:n], nil
}

// bodyError is what a broken upload body is for the client: 413 past the
// size limit, else a 400 naming the body. A body that ends before the
// multipart closing boundary was cut short on the way, and nothing of it
// is imported.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("body", "ended before the closing multipart boundary: the upload was cut short, and nothing was imported")
	}
	return fieldErr("body", "is not valid multipart: %v", err)
}

// truncateName keeps a file name printable (a NUL, which Postgres
// refuses, or broken UTF-8 can come RFC 2231-encoded) and at most 255
// bytes, cut on a character boundary.
func truncateName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > 255 {
		s = s[:255]
		for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
			s = s[:len(s)-1]
		}
	}
	return s
}

func (s *Server) getImport(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	imp, err := s.st.Import(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, imp)
}

func (s *Server) listImports(c echo.Context) error {
	before, limit, err := keyset(c, "before", 50, 500)
	if err != nil {
		return err
	}
	items, next, err := s.st.Imports(c.Request().Context(), before, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newPage(items, next))
}

// importRejects streams the report of skipped rows as CSV: line, email,
// reason, detail. Suppressed rows carry no address (see store).
func (s *Server) importRejects(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.st.Import(ctx, id); err != nil {
		return err
	}
	w := csvResponse(c, fmt.Sprintf("import-%d-rejects.csv", id))
	w.Write([]string{"line", "email", "reason", "detail"})
	err = s.st.ImportRejects(ctx, id, func(r store.ImportReject) error {
		return w.Write([]string{strconv.FormatInt(r.Line, 10), safeCell(r.Email), r.Reason, safeCell(r.Detail)})
	})
	w.Flush()
	if err != nil {
		s.log.Error("import report cut short", "import_id", id, "err", err)
	}
	return nil
}

// csvResponse starts a streamed CSV download.
func csvResponse(c echo.Context, filename string) *csv.Writer {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", filename))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	return csv.NewWriter(c.Response())
}

// safeCell keeps a spreadsheet from running a cell as a formula (CSV
// injection): a name typed into a public form could start with "=".
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
