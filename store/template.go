package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Template is a staff-made mail layout a list can choose: a Go
// html/template around the campaign's content, and its theme colours.
// HTML is the source as written; CompiledHTML is what is sent (its
// <style> rules inlined when it was saved).
type Template struct {
	ID           int64      `gorm:"primaryKey" json:"id"`
	Name         string     `gorm:"size:200;not null;uniqueIndex" json:"name"`
	Description  string     `gorm:"type:text;not null;default:''" json:"description"`
	HTML         string     `gorm:"column:html;type:text;not null" json:"html"`
	CompiledHTML string     `gorm:"column:compiled_html;type:text;not null" json:"-"`
	Theme        Attributes `gorm:"type:text;not null;default:'{}'" json:"theme"`
	CreatedAt    time.Time  `gorm:"not null" json:"created_at"`
	UpdatedAt    time.Time  `gorm:"not null" json:"updated_at"`
}

// TemplatePatch holds the fields of an update; nil means unchanged.
// HTML and CompiledHTML change together.
type TemplatePatch struct {
	Name, Description, HTML, CompiledHTML *string
	Theme                                 *Attributes
}

// Templates are shared by the lists: anyone with a grant reads and
// previews them. Changing one changes the mail of every list that uses
// it, so writing is for publishers: a new template needs publisher on
// some list; a change or deletion needs publisher on every list that uses
// the template (on some list, for one no list uses). Admins and instance
// tokens may always.
func checkTemplateWrite(ctx context.Context, tx *gorm.DB, id int64) error {
	acc := AccessFrom(ctx)
	if acc == nil || acc.Global(GrantPublisher) {
		return nil
	}
	if !acc.Any(GrantPublisher) {
		return forbiddenf("only a publisher or an admin may change templates")
	}
	if id == 0 {
		return nil
	}
	var users []int64
	if err := tx.Model(&List{}).Where("template_id = ?", id).Pluck("id", &users).Error; err != nil {
		return fmt.Errorf("lists of template %d: %w", id, err)
	}
	if !acc.CanAll(users, GrantPublisher) {
		return forbiddenf("template %d is used by lists you are not a publisher of", id)
	}
	return nil
}

// CreateTemplate inserts t. A taken name is ErrConflict.
func (s *Store) CreateTemplate(ctx context.Context, t *Template) error {
	if err := checkTemplateWrite(ctx, s.reader(ctx), 0); err != nil {
		return err
	}
	if t.Theme == nil {
		t.Theme = Attributes{}
	}
	if err := s.inTx(ctx, func(tx *gorm.DB) error { return tx.Create(t).Error }); err != nil {
		if isDup(err) {
			return fieldConflictf("name", "template name %q is taken", t.Name)
		}
		return fmt.Errorf("create template %q: %w", t.Name, err)
	}
	return nil
}

// Template returns one template.
func (s *Store) Template(ctx context.Context, id int64) (*Template, error) {
	var t Template
	if err := s.reader(ctx).First(&t, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("template", id)
		}
		return nil, fmt.Errorf("template %d: %w", id, err)
	}
	return &t, nil
}

// Templates returns every template, ordered by id.
func (s *Store) Templates(ctx context.Context) ([]Template, error) {
	var ts []Template
	if err := s.reader(ctx).Order("id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return ts, nil
}

// UpdateTemplate applies p to template id and returns the result.
func (s *Store) UpdateTemplate(ctx context.Context, id int64, p TemplatePatch) (*Template, error) {
	before, err := s.Template(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := checkTemplateWrite(ctx, s.reader(ctx), id); err != nil {
		return nil, err
	}
	a := AuditOf(ctx)
	if p.Name != nil && *p.Name != before.Name {
		a.Change("name", before.Name, *p.Name)
	}
	if p.Description != nil && *p.Description != before.Description {
		a.Change("description", before.Description, *p.Description)
	}
	if p.HTML != nil && *p.HTML != before.HTML {
		a.Note("html", "changed") // the layout itself is too long for the log
	}
	if p.Theme != nil {
		a.Change("theme", before.Theme, *p.Theme)
	}
	upd := map[string]any{}
	set := func(col string, v *string) {
		if v != nil {
			upd[col] = *v
		}
	}
	set("name", p.Name)
	set("description", p.Description)
	set("html", p.HTML)
	set("compiled_html", p.CompiledHTML)
	if p.Theme != nil {
		upd["theme"] = *p.Theme
	}
	if len(upd) > 0 {
		upd["updated_at"] = s.now()
		err := s.inTx(ctx, func(tx *gorm.DB) error {
			res := tx.Model(&Template{}).Where("id = ?", id).Updates(upd)
			if res.Error != nil {
				if isDup(res.Error) {
					return fieldConflictf("name", "template name %q is taken", *p.Name)
				}
				return fmt.Errorf("update template %d: %w", id, res.Error)
			}
			if res.RowsAffected == 0 {
				return notFound("template", id)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return s.Template(ctx, id)
}

// DeleteTemplate removes a template no list uses; one in use is
// ErrConflict naming the lists.
func (s *Store) DeleteTemplate(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := checkTemplateWrite(ctx, tx, id); err != nil {
			return err
		}
		var slugs []string
		if err := tx.Model(&List{}).Where("template_id = ?", id).Order("slug").Pluck("slug", &slugs).Error; err != nil {
			return fmt.Errorf("delete template %d: %w", id, err)
		}
		if len(slugs) > 0 {
			return conflictf("template %d is used by the lists %s; choose another template for them first", id, strings.Join(slugs, ", "))
		}
		res := tx.Delete(&Template{}, id)
		if res.Error != nil {
			return fmt.Errorf("delete template %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("template", id)
		}
		return nil
	})
}

// checkTemplateExists makes a missing template a NotFoundError naming it.
func checkTemplateExists(tx *gorm.DB, id *int64) error {
	if id == nil {
		return nil
	}
	var n int64
	if err := tx.Model(&Template{}).Where("id = ?", *id).Count(&n).Error; err != nil {
		return fmt.Errorf("template %d: %w", *id, err)
	}
	if n == 0 {
		return notFound("template", *id)
	}
	return nil
}

// ArchivedCampaigns returns the campaigns sent (or being sent) to list
// listID, newest first, for the list's public archive.
func (s *Store) ArchivedCampaigns(ctx context.Context, listID int64, limit int) ([]Campaign, error) {
	if limit <= 0 {
		limit = 50
	}
	var cs []Campaign
	err := s.reader(ctx).
		Where("status IN ? AND started_at IS NOT NULL AND id IN (?)", []string{CampaignSending, CampaignSent},
			s.reader(ctx).Model(&CampaignList{}).Select("campaign_id").Where("list_id = ?", listID)).
		Order("started_at DESC, id DESC").Limit(limit).Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("archive of list %d: %w", listID, err)
	}
	for i := range cs {
		cs[i].ListIDs = []int64{listID}
	}
	return cs, nil
}

// ArchivedCampaign returns campaign id if it is in list listID's archive.
func (s *Store) ArchivedCampaign(ctx context.Context, listID, id int64) (*Campaign, error) {
	c, err := s.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	inList := false
	for _, l := range c.ListIDs {
		inList = inList || l == listID
	}
	if !inList || c.StartedAt == nil || (c.Status != CampaignSending && c.Status != CampaignSent) {
		return nil, notFound("campaign", id)
	}
	return c, nil
}
