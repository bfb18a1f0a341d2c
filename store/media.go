package store

import (
	"context"
	"fmt"
	"time"
)

// schema0011 keeps the media library in the database, so every API
// process can serve every image without a shared disk. An S3-compatible
// bucket for large installations is not built yet.
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

// Media is one image of the media library: already checked, stripped of
// metadata and scaled for mail when it was stored.
type Media struct {
	ID          int64     `gorm:"primaryKey" json:"id"`
	Name        string    `gorm:"size:200;not null" json:"name"`
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

// CreateMedia stores an image. An identical image (same bytes, same name)
// already in the library is returned instead of a copy.
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
	if err := s.writer(ctx).Create(m).Error; err != nil {
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
