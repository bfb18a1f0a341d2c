package api

// The media library: images for campaigns, uploaded by staff, checked and
// re-encoded here, kept in the database or in an S3-compatible bucket
// (every API process can serve every image), and served at a stable
// public URL under UTSKICK_BASE_URL. Staff rename an image (its title,
// not its URL), change its alt text, and delete it unless a campaign
// that may have been mailed links to it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers WebP with image.Decode

	"github.com/storsthlm/utskick/store"
)

const (
	// mediaMaxBytes bounds one uploaded file.
	mediaMaxBytes = 8 << 20
	// mediaMaxPixels bounds the decoded size, read from the header before
	// anything is decoded: a small file can claim a huge canvas.
	mediaMaxPixels = 40_000_000
	// mediaMaxWidth is what mail needs: twice the 600 px layout, for
	// sharp images on dense screens. Wider images are scaled down once,
	// at upload.
	mediaMaxWidth = 1200
)

// MediaBucket keeps the media library's files outside the database, by
// the hex SHA-256 of their bytes (cmd passes an internal/s3media.Bucket).
// Get's error wraps fs.ErrNotExist for a missing object; every other
// error is the bucket's, answered 503.
type MediaBucket interface {
	Put(ctx context.Context, key, contentType string, data []byte) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Exists(ctx context.Context, key string) (bool, error)
	Delete(ctx context.Context, key string) error
}

// errMediaUnavailable is a bucket that does not answer: a 503, with
// nothing written.
var errMediaUnavailable = errors.New("the media storage does not answer; nothing was changed, try again shortly")

func mediaUnavailable(err error) error { return fmt.Errorf("%w (%v)", errMediaUnavailable, err) }

// isMediaUpload is an image upload, which reads its body under its own
// limit (mediaMaxBytes) so that a file too large is refused with a
// message that says so.
func isMediaUpload(c echo.Context) bool {
	p := c.Request().URL.Path
	return c.Request().Method == http.MethodPost && (p == "/api/v1/media" || p == "/admin/media")
}

// mediaURL is the public address of an image, stable for as long as the
// image exists.
func (s *Server) mediaURL(m *store.Media) string {
	return fmt.Sprintf("%s/media/%d/%s", s.baseURL, m.ID, m.Name)
}

// mediaItem is one image as the API and the pages show it; UsedBy only
// when one image is asked for.
type mediaItem struct {
	*store.Media
	URL    string           `json:"url"`
	UsedBy []store.MediaUse `json:"used_by,omitempty"`
}

// imageError is an upload that is not a usable image; Key words it for
// the workspace.
func imageError(key, msg string, args ...string) error {
	return &FieldError{Field: "file", Msg: msg, Key: key, Args: args}
}

// processImage checks an upload by its content (not its name or label),
// decodes it within the pixel limit, scales it to mediaMaxWidth, and
// encodes it again: the new file carries no metadata (EXIF with GPS
// positions, camera serials, comments), only pixels. PNG and GIF stay
// what they are (an animated GIF narrow enough keeps its frames); JPEG
// stays JPEG; WebP, which many mail clients do not show, becomes JPEG,
// or PNG if it has transparency.
func processImage(name string, data []byte) (*store.Media, error) {
	if len(data) == 0 {
		return nil, imageError("media.err_empty", "the file is empty")
	}
	kind := http.DetectContentType(data)
	switch kind {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
	default:
		return nil, imageError("media.err_type", fmt.Sprintf("is %s, not a PNG, JPEG, GIF or WebP image", kind), "type", kind)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, imageError("media.err_broken", "is not a readable image: "+err.Error())
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > mediaMaxPixels {
		return nil, imageError("media.err_pixels", fmt.Sprintf("is %d×%d pixels; at most %d million pixels", cfg.Width, cfg.Height, mediaMaxPixels/1_000_000),
			"width", fmt.Sprint(cfg.Width), "height", fmt.Sprint(cfg.Height), "max", fmt.Sprint(mediaMaxPixels/1_000_000))
	}
	var out bytes.Buffer
	outType := kind
	if kind == "image/gif" {
		g, err := gif.DecodeAll(bytes.NewReader(data))
		if err != nil {
			return nil, imageError("media.err_broken", "is not a readable image: "+err.Error())
		}
		if g.Config.Width <= mediaMaxWidth {
			// EncodeAll writes frames, delays and the loop count only:
			// comments and application extensions are gone.
			if err := gif.EncodeAll(&out, g); err != nil {
				return nil, err
			}
			return newMedia(name, outType, g.Config.Width, g.Config.Height, out.Bytes()), nil
		}
		// Too wide: its first frame, scaled, as a still PNG.
		data, outType = nil, "image/png"
		img := scaleDown(g.Image[0])
		if err := png.Encode(&out, img); err != nil {
			return nil, err
		}
		b := img.Bounds()
		return newMedia(name, outType, b.Dx(), b.Dy(), out.Bytes()), nil
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, imageError("media.err_broken", "is not a readable image: "+err.Error())
	}
	img = scaleDown(img)
	if kind == "image/webp" {
		outType = "image/jpeg"
		if !opaque(img) {
			outType = "image/png"
		}
	}
	switch outType {
	case "image/png":
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img)
	default:
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: 85})
	}
	if err != nil {
		return nil, fmt.Errorf("encode image: %w", err)
	}
	b := img.Bounds()
	return newMedia(name, outType, b.Dx(), b.Dy(), out.Bytes()), nil
}

func newMedia(name, contentType string, w, h int, data []byte) *store.Media {
	sum := sha256.Sum256(data)
	return &store.Media{Name: mediaName(name, contentType), ContentType: contentType, Width: w, Height: h,
		Size: len(data), SHA256: hex.EncodeToString(sum[:]), Data: data}
}

// scaleDown returns img at most mediaMaxWidth wide, keeping its shape.
func scaleDown(img image.Image) image.Image {
	b := img.Bounds()
	if b.Dx() <= mediaMaxWidth {
		return img
	}
	h := max(1, b.Dy()*mediaMaxWidth/b.Dx())
	dst := image.NewRGBA(image.Rect(0, 0, mediaMaxWidth, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// opaque tells whether every pixel of img is fully opaque.
func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// mediaName makes a file name safe for a URL path from what the browser
// sent: lower-case letters, digits, '-' and '_', and the extension of
// the stored type.
func mediaName(name, contentType string) string {
	base := strings.TrimSuffix(path.Base(strings.ReplaceAll(name, `\`, "/")), path.Ext(name))
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(base) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
			dash = false
		case r == 'å' || r == 'ä':
			b.WriteByte('a')
			dash = false
		case r == 'ö':
			b.WriteByte('o')
			dash = false
		case r == 'é':
			b.WriteByte('e')
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= 80 {
			break
		}
	}
	n := strings.Trim(b.String(), "-")
	if n == "" {
		n = "bild"
	}
	ext := map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif"}[contentType]
	return n + ext
}

// readImageUpload reads the part named "file" of a multipart upload under
// mediaMaxBytes.
func readImageUpload(c echo.Context) (string, []byte, error) {
	req := c.Request()
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", nil, imageError("media.err_form", "the upload must be multipart/form-data with the image in a part named file")
	}
	// The limit allows for the multipart framing around the file.
	body := http.MaxBytesReader(c.Response(), req.Body, mediaMaxBytes+64<<10)
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return "", nil, imageError("media.err_nofile", "the upload has no part named file")
		}
		if err != nil {
			return "", nil, tooLargeOr(err)
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, mediaMaxBytes+1))
		if err != nil {
			return "", nil, tooLargeOr(err)
		}
		if len(data) > mediaMaxBytes {
			return "", nil, imageError("media.err_size", fmt.Sprintf("is larger than %d MB", mediaMaxBytes>>20), "max", fmt.Sprint(mediaMaxBytes>>20))
		}
		return part.FileName(), data, nil
	}
}

func tooLargeOr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return imageError("media.err_size", fmt.Sprintf("is larger than %d MB", mediaMaxBytes>>20), "max", fmt.Sprint(mediaMaxBytes>>20))
	}
	return imageError("media.err_form", "the upload was cut short or is not valid multipart: "+err.Error())
}

// uploadMedia is the one path of an upload from the API and the pages.
func (s *Server) uploadMedia(c echo.Context) (*mediaItem, error) {
	name, data, err := readImageUpload(c)
	if err != nil {
		return nil, err
	}
	m, err := processImage(name, data)
	if err != nil {
		return nil, err
	}
	m.CreatedBy = actor(c).UserID
	m.Title = mediaTitle(name, m.Name)
	ctx := c.Request().Context()
	if s.media != nil {
		// The object first, under its content hash, then the row: a
		// crash or a failed insert leaves an object that the next upload
		// of the same bytes writes again, never a row without its file.
		if err := s.media.Put(ctx, m.SHA256, m.ContentType, m.Data); err != nil {
			return nil, mediaUnavailable(err)
		}
		m.Storage, m.Data = store.MediaInS3, nil
	}
	if err := s.st.CreateMedia(ctx, m); err != nil {
		return nil, err
	}
	return &mediaItem{Media: m, URL: s.mediaURL(m)}, nil
}

// createMedia is POST /api/v1/media.
func (s *Server) createMedia(c echo.Context) error {
	item, err := s.uploadMedia(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, item)
}

// listMedia is GET /api/v1/media.
func (s *Server) listMedia(c echo.Context) error {
	before, limit, err := keyset(c, "before", 50, 500)
	if err != nil {
		return err
	}
	ms, next, err := s.st.MediaList(c.Request().Context(), before, limit)
	if err != nil {
		return err
	}
	items := make([]mediaItem, len(ms))
	for i := range ms {
		items[i] = mediaItem{Media: &ms[i], URL: s.mediaURL(&ms[i])}
	}
	return c.JSON(http.StatusOK, newPage(items, next))
}

// mediaGone tells the lint whether src is an image of this server's
// media library (under UTSKICK_BASE_URL/media/) that GET /media/:id/:name
// would not serve: no such row (deleted), another name, or stored in a
// bucket that is not configured. Other addresses are not its business.
// Whether the bucket still holds the object is not asked.
func (s *Server) mediaGone(ctx context.Context, src string) (bool, error) {
	rest, ok := strings.CutPrefix(src, s.baseURL+"/media/")
	if !ok || s.baseURL == "" {
		return false, nil
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	idText, name, _ := strings.Cut(rest, "/")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return true, nil
	}
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	m, err := s.st.MediaInfo(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return m.Name != name || (m.Storage == store.MediaInS3 && s.media == nil), nil
}

// serveMedia is GET /media/:id/:name, public: mail links here. The bytes
// of an id never change, so they are cached for a year.
func (s *Server) serveMedia(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "no such image")
	}
	m, err := s.st.MediaFile(c.Request().Context(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "no such image")
		}
		return err
	}
	if c.Param("name") != m.Name {
		return echo.NewHTTPError(http.StatusNotFound, "no such image")
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("ETag", `"`+m.SHA256+`"`)
	if c.Request().Header.Get("If-None-Match") == `"`+m.SHA256+`"` {
		return c.NoContent(http.StatusNotModified)
	}
	if m.Storage != store.MediaInS3 {
		return c.Blob(http.StatusOK, m.ContentType, m.Data)
	}
	// From the bucket through this process, so that the URL in mail
	// stays the same whatever the bucket's address or credentials, and
	// streamed: memory stays bounded whatever the image's size.
	if s.media == nil {
		h.Del("Cache-Control")
		h.Del("ETag")
		s.log.Error("an image is in the S3 bucket, but no bucket is configured (UTSKICK_MEDIA_S3_BUCKET)", "media", m.ID)
		return mediaUnavailable(errors.New("no bucket configured"))
	}
	rc, err := s.media.Get(c.Request().Context(), m.SHA256)
	if err != nil {
		h.Del("Cache-Control")
		h.Del("ETag")
		if errors.Is(err, fs.ErrNotExist) {
			s.log.Error("an image's file is missing from the bucket", "media", m.ID, "key", m.SHA256, "err", err)
			return echo.NewHTTPError(http.StatusNotFound, "the image's file is missing")
		}
		return mediaUnavailable(err)
	}
	defer rc.Close()
	h.Set(echo.HeaderContentType, m.ContentType)
	h.Set(echo.HeaderContentLength, fmt.Sprint(m.Size))
	c.Response().WriteHeader(http.StatusOK)
	if _, err := io.Copy(c.Response(), rc); err != nil {
		s.log.Warn("serving an image from the bucket stopped", "media", m.ID, "err", err)
	}
	return nil
}

// mediaTitle is an upload's display name: the file name it came with,
// without folders and extension; the URL's name if that leaves nothing.
func mediaTitle(upload, urlName string) string {
	t := path.Base(strings.ReplaceAll(upload, `\`, "/"))
	t = strings.TrimSpace(strings.TrimSuffix(t, path.Ext(t)))
	if t == "" || t == "." || t == "/" || !utf8.ValidString(t) {
		return urlName
	}
	if utf8.RuneCountInString(t) > 200 {
		t = string([]rune(t)[:200])
	}
	return t
}

// mediaEditRequest is PATCH /api/v1/media/{id} and the library's edit
// form: nil leaves a field as it is.
type mediaEditRequest struct {
	Title *string `json:"title"`
	Alt   *string `json:"alt"`
}

func (r *mediaEditRequest) validate() error {
	if r.Title == nil && r.Alt == nil {
		return fieldErr("body", "send title, alt or both")
	}
	if r.Title != nil {
		t := strings.TrimSpace(*r.Title)
		r.Title = &t
		if t == "" {
			return &FieldError{Field: "title", Msg: "must not be empty", Key: "i13media.err_title_empty"}
		}
		if utf8.RuneCountInString(t) > 200 {
			return &FieldError{Field: "title", Msg: "must be at most 200 characters", Key: "i13media.err_title_long"}
		}
	}
	if r.Alt != nil {
		a := strings.TrimSpace(*r.Alt)
		r.Alt = &a
		if utf8.RuneCountInString(a) > 300 {
			return &FieldError{Field: "alt", Msg: "must be at most 300 characters", Key: "i13media.err_alt_long"}
		}
	}
	return nil
}

// getMedia is GET /api/v1/media/{id}: one image and the campaigns that
// link to it.
func (s *Server) getMedia(c echo.Context) error {
	item, err := s.mediaWithUses(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, item)
}

func (s *Server) mediaWithUses(c echo.Context) (*mediaItem, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	m, err := s.st.MediaInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	uses, err := s.st.MediaUsedBy(ctx, id)
	if err != nil {
		return nil, err
	}
	return &mediaItem{Media: m, URL: s.mediaURL(m), UsedBy: uses}, nil
}

// updateMedia is PATCH /api/v1/media/{id}: rename (title) or new alt
// text; the public URL stays.
func (s *Server) updateMedia(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req mediaEditRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	m, err := s.st.UpdateMedia(c.Request().Context(), id, store.MediaEdit{Title: req.Title, Alt: req.Alt})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, mediaItem{Media: m, URL: s.mediaURL(m)})
}

// deleteMedia is DELETE /api/v1/media/{id}: 409 naming the campaigns
// when one that may have been mailed links to the image; drafts that
// link to it lose the image.
func (s *Server) deleteMedia(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.removeMedia(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// removeMedia deletes an image's row, then its bucket object when no
// other row has the same bytes. The bucket is asked first, so that a
// bucket that does not answer refuses the delete with nothing changed;
// should it fail between the row and the object, the object stays
// behind unused (logged), and the library is right.
func (s *Server) removeMedia(ctx context.Context, id int64) error {
	m, err := s.st.MediaInfo(ctx, id)
	if err != nil {
		return err
	}
	if m.Storage == store.MediaInS3 && s.media != nil {
		if _, err := s.media.Exists(ctx, m.SHA256); err != nil {
			return mediaUnavailable(err)
		}
	}
	m, unused, err := s.st.DeleteMedia(ctx, id)
	if err != nil {
		return err
	}
	if m.Storage != store.MediaInS3 || !unused {
		return nil
	}
	if s.media == nil {
		s.log.Warn("a deleted image's file stays in the S3 bucket: no bucket is configured", "media", id, "key", m.SHA256)
		return nil
	}
	if err := s.media.Delete(context.WithoutCancel(ctx), m.SHA256); err != nil {
		s.log.Warn("a deleted image's file stays in the S3 bucket", "media", id, "key", m.SHA256, "err", err)
	}
	return nil
}
