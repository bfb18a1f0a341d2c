package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// schema0011 keeps the media library in the database, so every API
// process can serve every image without a shared disk.
const schema0011 = `
CREATE TABLE media (
	id {{pk}},
	name VARCHAR(200) NOT NULL,
	content_type VARCHAR(40) NOT NULL,
	width INTEGER NOT NULL,
	height INTEGER NOT NULL,
	size INTEGER NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	data {{blob}} NOT NULL,
	created_by BIGINT NOT NULL DEFAULT 0,
	created_at {{ts}} NOT NULL
);
CREATE INDEX idx_media_sha256 ON media (sha256)`

// schema0017 gives an image a display name (title) that staff may change
// without changing its public URL (which has the file name, name), a
// default alt text, and where its bytes are: in data ("db") or in the
// S3-compatible bucket under its sha256 ("s3").
const schema0017 = `
ALTER TABLE media ADD COLUMN title VARCHAR(200) NOT NULL DEFAULT '';
ALTER TABLE media ADD COLUMN alt VARCHAR(300) NOT NULL DEFAULT '';
ALTER TABLE media ADD COLUMN storage VARCHAR(8) NOT NULL DEFAULT 'db';
UPDATE media SET title = name`

// Where an image's bytes are (Media.Storage).
const (
	MediaInDB = "db" // the row's data column
	MediaInS3 = "s3" // the bucket, under the sha256
)

// Media is one image of the media library: already checked, stripped of
// metadata and scaled for mail when it was stored.
type Media struct {
	ID int64 `gorm:"primaryKey" json:"id"`
	// Name is the file name in the public URL, fixed at upload; Title is
	// what staff call the image and may change.
	Name  string `gorm:"size:200;not null" json:"name"`
	Title string `gorm:"size:200;not null;default:''" json:"title"`
	// Alt is the image's usual alt text, offered when it is picked into
	// a block (each block keeps its own).
	Alt         string    `gorm:"size:300;not null;default:''" json:"alt"`
	Storage     string    `gorm:"size:8;not null;default:'db'" json:"storage"`
	ContentType string    `gorm:"size:40;not null" json:"content_type"`
	Width       int       `gorm:"not null" json:"width"`
	Height      int       `gorm:"not null" json:"height"`
	Size        int       `gorm:"not null" json:"size"`
	SHA256      string    `gorm:"column:sha256;size:64;not null;index:idx_media_sha256" json:"sha256"`
	Data        []byte    `gorm:"not null" json:"-"`
	CreatedBy   int64     `gorm:"not null;default:0" json:"created_by"`
	CreatedAt   time.Time `gorm:"not null" json:"created_at"`
}

// TableName keeps the plural gorm would not guess.
func (Media) TableName() string { return "media" }

// CreateMedia stores an image's row. An identical image (same bytes, same
// name) already in the library is returned instead of a copy. With
// Storage MediaInS3 the bucket's object must be written first: a crash
// in between leaves an object without a row (the next upload of the same
// bytes reuses it), never a row without its object.
func (s *Store) CreateMedia(ctx context.Context, m *Media) error {
	var same []Media
	if err := s.writer(ctx).Omit("data").Where("sha256 = ? AND name = ?", m.SHA256, m.Name).Limit(1).Find(&same).Error; err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if len(same) == 1 {
		data := m.Data
		*m = same[0]
		m.Data = data
		return nil
	}
	m.CreatedAt = s.now().UTC()
	if m.Storage == "" {
		m.Storage = MediaInDB
	}
	if m.Title == "" {
		m.Title = m.Name
	}
	if m.Data == nil {
		m.Data = []byte{} // the bytes are in the bucket; the column is NOT NULL
	}
	if err := s.inTx(ctx, func(tx *gorm.DB) error { return tx.Create(m).Error }); err != nil {
		return fmt.Errorf("create media: %w", err)
	}
	return nil
}

// MediaFile returns one image with its bytes.
func (s *Store) MediaFile(ctx context.Context, id int64) (*Media, error) {
	var m Media
	if err := s.reader(ctx).First(&m, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("media", id)
		}
		return nil, fmt.Errorf("media %d: %w", id, err)
	}
	return &m, nil
}

// MediaList returns one page of the library without the bytes, newest
// first, and the cursor of the next page (0 at the end).
func (s *Store) MediaList(ctx context.Context, before int64, limit int) ([]Media, int64, error) {
	if limit <= 0 {
		limit = 50
	}
	tx := s.reader(ctx).Omit("data").Order("id DESC").Limit(limit + 1)
	if before > 0 {
		tx = tx.Where("id < ?", before)
	}
	var ms []Media
	if err := tx.Find(&ms).Error; err != nil {
		return nil, 0, fmt.Errorf("media: %w", err)
	}
	var next int64
	if len(ms) > limit {
		ms = ms[:limit]
		next = ms[len(ms)-1].ID
	}
	return ms, next, nil
}

// MediaInfo returns one image without its bytes.
func (s *Store) MediaInfo(ctx context.Context, id int64) (*Media, error) {
	var m Media
	if err := s.reader(ctx).Omit("data").First(&m, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("media", id)
		}
		return nil, fmt.Errorf("media %d: %w", id, err)
	}
	return &m, nil
}

// MediaUse is a campaign whose body, or a template whose HTML (a logo in
// its header), links to an image.
type MediaUse struct {
	Kind      string     `json:"kind"` // "campaign" or "template"
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Status    string     `json:"status,omitempty"` // a campaign's
	StartedAt *time.Time `json:"-"`
}

// Blocking tells whether the use forbids deleting the image: every
// use but a draft's and a campaign's cancelled before it started. Any
// other campaign has been mailed or may be (a scheduled, paused or
// approved one), and the mail and the web archive link to the image; a
// template (a logo in its header) is in every mail sent with it.
func (u MediaUse) Blocking() bool {
	if u.Kind == "template" {
		return true
	}
	switch u.Status {
	case CampaignDraft:
		return false
	case CampaignCancelled:
		return u.StartedAt != nil
	}
	return true
}

// MediaUsedBy lists the templates and campaigns that have the image's
// public path (/media/{id}/{name}): templates first, then campaigns by
// id, drafts last.
func (s *Store) MediaUsedBy(ctx context.Context, id int64) ([]MediaUse, error) {
	m, err := s.MediaInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	return mediaUses(s.reader(ctx), s.dialect, m)
}

func mediaUses(tx *gorm.DB, dialect string, m *Media) ([]MediaUse, error) {
	find := "instr(body, ?) > 0"
	if dialect == DialectPostgres {
		find = "strpos(body, ?) > 0"
	}
	p := fmt.Sprintf("/media/%d/%s", m.ID, m.Name)
	var tmpls, camps []MediaUse
	err := tx.Model(&Template{}).Select("'template' AS kind, id, name").
		Where(strings.ReplaceAll(find, "body", "html"), p).Order("id").Scan(&tmpls).Error
	if err != nil {
		return nil, fmt.Errorf("templates using media %d: %w", m.ID, err)
	}
	err = tx.Model(&Campaign{}).Select("'campaign' AS kind, id, name, status, started_at").Where(find, p).
		Order("CASE WHEN status = 'draft' THEN 1 ELSE 0 END, id").Scan(&camps).Error
	if err != nil {
		return nil, fmt.Errorf("campaigns using media %d: %w", m.ID, err)
	}
	return append(tmpls, camps...), nil
}

// MediaEdit is a change of an image's display name or alt text; nil
// leaves a field as it is.
type MediaEdit struct {
	Title *string
	Alt   *string
}

// UpdateMedia renames an image or changes its alt text. The file name in
// its public URL stays.
func (s *Store) UpdateMedia(ctx context.Context, id int64, e MediaEdit) (*Media, error) {
	var m Media
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Omit("data").First(&m, id).Error; err != nil {
			if isMissing(err) {
				return notFound("media", id)
			}
			return fmt.Errorf("media %d: %w", id, err)
		}
		set := map[string]any{}
		a := AuditOf(ctx)
		if e.Title != nil && *e.Title != m.Title {
			set["title"] = *e.Title
			if a != nil {
				a.Change("title", m.Title, *e.Title)
			}
			m.Title = *e.Title
		}
		if e.Alt != nil && *e.Alt != m.Alt {
			set["alt"] = *e.Alt
			if a != nil {
				a.Change("alt", m.Alt, *e.Alt)
			}
			m.Alt = *e.Alt
		}
		if len(set) == 0 {
			return nil
		}
		if err := tx.Model(&Media{}).Where("id = ?", id).Updates(set).Error; err != nil {
			return fmt.Errorf("update media %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// MediaInUseError refuses deleting an image that templates or campaigns
// other than drafts link to; it names them.
type MediaInUseError struct {
	Uses []MediaUse
}

func (e *MediaInUseError) Error() string {
	names := make([]string, len(e.Uses))
	for i, u := range e.Uses {
		if u.Kind == "template" {
			names[i] = fmt.Sprintf("template %q (%d)", u.Name, u.ID)
		} else {
			names[i] = fmt.Sprintf("campaign %q (%d, %s)", u.Name, u.ID, u.Status)
		}
	}
	return "the image is in templates or campaigns that may have been mailed, and their mail and web archive link to it: " + strings.Join(names, ", ")
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *MediaInUseError) Is(target error) bool { return target == ErrConflict }

// DeleteMedia removes an image's row unless a campaign other than a draft
// links to it (a *MediaInUseError naming them). It returns the deleted
// row, and whether its bytes are now unused: false when another row of
// the same storage has the same sha256 (the bucket's object is shared).
// The caller removes a bucket's object after this, so that a crash in
// between leaves an unused object, never a row without its bytes.
func (s *Store) DeleteMedia(ctx context.Context, id int64) (*Media, bool, error) {
	var m Media
	var unused bool
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Omit("data").First(&m, id).Error; err != nil {
			if isMissing(err) {
				return notFound("media", id)
			}
			return fmt.Errorf("media %d: %w", id, err)
		}
		uses, err := mediaUses(tx, s.dialect, &m)
		if err != nil {
			return err
		}
		var blocking []MediaUse
		for _, u := range uses {
			if u.Blocking() {
				blocking = append(blocking, u)
			}
		}
		if len(blocking) > 0 {
			return &MediaInUseError{Uses: blocking}
		}
		if a := AuditOf(ctx); a != nil {
			a.Note("name", m.Name)
			a.Note("title", m.Title)
			if len(uses) > 0 {
				ids := make([]int64, len(uses))
				for i, u := range uses {
					ids[i] = u.ID
				}
				a.Note("drafts", ids)
			}
		}
		if err := tx.Delete(&Media{}, id).Error; err != nil {
			return fmt.Errorf("delete media %d: %w", id, err)
		}
		var others int64
		if err := tx.Model(&Media{}).Where("sha256 = ? AND storage = ?", m.SHA256, m.Storage).Count(&others).Error; err != nil {
			return fmt.Errorf("media %d: %w", id, err)
		}
		unused = others == 0
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return &m, unused, nil
}

// MediaKeysInBucket is the set of sha256 keys that rows keep in the S3
// bucket, for the sweep of objects no row uses.
func (s *Store) MediaKeysInBucket(ctx context.Context) (map[string]bool, error) {
	var keys []string
	if err := s.reader(ctx).Model(&Media{}).Where("storage = ?", MediaInS3).Distinct("sha256").Pluck("sha256", &keys).Error; err != nil {
		return nil, fmt.Errorf("media keys: %w", err)
	}
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set, nil
}
