package store

import (
	"cmp"
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Import modes: what an import does with each address of the file.
const (
	ImportSubscribe   = "subscribe"   // add to the lists (confirmed with a consent basis, else unconfirmed + opt-in mail)
	ImportUnsubscribe = "unsubscribe" // take off the lists (all lists if none are named)
	ImportSuppress    = "suppress"    // add to the suppression list (reason manual)
)

// Import statuses.
//
//	uploading → queued → running → done | failed
const (
	ImportUploading = "uploading"
	ImportQueued    = "queued"
	ImportRunning   = "running"
	ImportDone      = "done"
	ImportFailed    = "failed"
)

// Reasons a row of an import is skipped; they go into the reject report.
const (
	RejectInvalidAddress = "invalid_address"
	RejectSuppressed     = "suppressed"
	RejectDuplicate      = "duplicate"    // the address is on an earlier line of the same file
	RejectUnsubscribed   = "unsubscribed" // left the list before; an import does not undo that
	RejectNotFound       = "not_found"    // unsubscribe mode: no such subscriber
	RejectBadRow         = "bad_row"      // wrong number of columns
	RejectBadValue       = "bad_value"    // a cell that must be one of some values is not (tracking_consent)
	RejectTooLong        = "too_long"     // a cell, the row or its attributes past the import's limits
)

// IDList is a list of ids kept as a JSON array in a text column.
type IDList []int64

// Value implements driver.Valuer.
func (l IDList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	return jsonValue([]int64(l), "id list")
}

// Scan implements sql.Scanner.
func (l *IDList) Scan(v any) error {
	out := IDList{}
	if err := scanJSON(v, &out, "id list"); err != nil {
		return err
	}
	*l = out
	return nil
}

// Import is one CSV upload and what became of it.
type Import struct {
	ID           int64  `gorm:"primaryKey" json:"id"`
	Status       string `gorm:"size:16;not null;index" json:"status"`
	Mode         string `gorm:"size:16;not null" json:"mode"`
	ListIDs      IDList `gorm:"type:text;not null" json:"list_ids"`
	Overwrite    bool   `gorm:"not null;default:false" json:"overwrite"`
	ConsentBasis string `gorm:"type:text;not null;default:''" json:"consent_basis,omitempty"`
	Filename     string `gorm:"size:255;not null;default:''" json:"filename"`
	Size         int64  `gorm:"not null;default:0" json:"size"`
	TokenID      *int64 `json:"token_id,omitempty"`
	// UserID is the staff user who started the import in the web
	// workspace.
	UserID *int64 `json:"user_id,omitempty"`
	// LineDone is the last line of the file whose effects are committed;
	// a retried task resumes after it. OptinDone is the last line whose
	// opt-in mails are enqueued.
	LineDone   int64      `gorm:"not null;default:0" json:"line_done"`
	OptinDone  int64      `gorm:"not null;default:0" json:"-"`
	BytesDone  int64      `gorm:"not null;default:0" json:"bytes_done"`
	RowsRead   int64      `gorm:"not null;default:0" json:"rows"`
	Created    int64      `gorm:"not null;default:0" json:"created"`
	Updated    int64      `gorm:"not null;default:0" json:"updated"`
	Unchanged  int64      `gorm:"not null;default:0" json:"unchanged"`
	Skipped    int64      `gorm:"not null;default:0" json:"skipped"`
	Error      string     `gorm:"size:1000;not null;default:''" json:"error,omitempty"`
	CreatedAt  time.Time  `gorm:"not null" json:"created_at"`
	UpdatedAt  time.Time  `gorm:"not null" json:"updated_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`

	// Progress is BytesDone / Size, 0 to 1.
	Progress float64 `gorm:"-" json:"progress"`
}

func (imp *Import) fill() {
	switch {
	case imp.Status == ImportDone:
		imp.Progress = 1
	case imp.Size > 0:
		imp.Progress = min(float64(imp.BytesDone)/float64(imp.Size), 1)
	}
}

// ImportChunk is one piece of an uploaded file. Keeping the upload in the
// database, not on local disk, lets `utskick serve` and `utskick work`
// run on different machines; chunks are deleted when the import ends.
type ImportChunk struct {
	ImportID int64  `gorm:"primaryKey;autoIncrement:false"`
	Seq      int    `gorm:"primaryKey;autoIncrement:false"`
	Data     []byte `gorm:"not null"`
}

// ImportSeen remembers the first line of each address in an import, so
// that a duplicate is found without holding the file's addresses in
// memory. Rows are deleted when the import ends.
//
// The key is the first 8 bytes of the address hash as an integer, not the
// 64-character hex: inserts land at random places in the key's index, and
// an index of 8-byte keys is an eighth of the pages to dirty per batch,
// which is most of what an import costs on SQLite. The full hash is kept
// beside it, so that two addresses sharing a key are told apart.
type ImportSeen struct {
	ImportID  int64  `gorm:"primaryKey;autoIncrement:false"`
	HKey      int64  `gorm:"column:hkey;primaryKey;autoIncrement:false"`
	EmailHash string `gorm:"size:64;not null"`
	Line      int64  `gorm:"not null"`
}

// TableName keeps the table called import_seen.
func (ImportSeen) TableName() string { return "import_seen" }

// ImportReject is one skipped row of an import, for the report.
type ImportReject struct {
	ID       int64  `gorm:"primaryKey" json:"-"`
	ImportID int64  `gorm:"not null;index:idx_import_rejects_import_line,priority:1" json:"-"`
	Line     int64  `gorm:"not null;index:idx_import_rejects_import_line,priority:2" json:"line"`
	Email    string `gorm:"size:320;not null;default:''" json:"email"`
	Reason   string `gorm:"size:32;not null" json:"reason"`
	Detail   string `gorm:"size:300;not null;default:''" json:"detail"`
}

// CreateImport records a new import in status uploading. Its lists must
// exist (a *NotFoundError names the first that does not).
func (s *Store) CreateImport(ctx context.Context, imp *Import) error {
	if err := checkListsFor(ctx, imp.ListIDs, GrantAudience); err != nil {
		return err
	}
	imp.Status = ImportUploading
	if imp.ListIDs == nil {
		imp.ListIDs = IDList{}
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := checkListsExist(tx, imp.ListIDs); err != nil {
			return err
		}
		if err := tx.Create(imp).Error; err != nil {
			return fmt.Errorf("create import: %w", err)
		}
		return nil
	})
}

// AppendImportChunk stores piece seq of an upload.
func (s *Store) AppendImportChunk(ctx context.Context, id int64, seq int, data []byte) error {
	if err := s.writer(ctx).Create(&ImportChunk{ImportID: id, Seq: seq, Data: data}).Error; err != nil {
		return fmt.Errorf("import %d chunk %d: %w", id, seq, err)
	}
	return nil
}

// QueueImport marks a fully uploaded import as ready for the worker.
func (s *Store) QueueImport(ctx context.Context, id, size int64) error {
	res := s.writer(ctx).Model(&Import{}).Where("id = ? AND status = ?", id, ImportUploading).
		Updates(map[string]any{"status": ImportQueued, "size": size, "updated_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("queue import %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return conflictf("import %d is not uploading", id)
	}
	return nil
}

// DeleteImport removes an import with its chunks and report.
func (s *Store) DeleteImport(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		// Children first, explicitly: ON DELETE CASCADE would do it, but
		// SQLite only cascades on connections with foreign keys on, and a
		// failed upload must not leave its chunks behind on any of them.
		for _, m := range []any{&ImportChunk{}, &ImportSeen{}, &ImportReject{}} {
			if err := tx.Where("import_id = ?", id).Delete(m).Error; err != nil {
				return fmt.Errorf("delete import %d: %w", id, err)
			}
		}
		res := tx.Delete(&Import{}, id)
		if res.Error != nil {
			return fmt.Errorf("delete import %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("import", id)
		}
		return nil
	})
}

// Import returns one import.
func (s *Store) Import(ctx context.Context, id int64) (*Import, error) {
	var imp Import
	if err := s.reader(ctx).First(&imp, id).Error; err != nil {
		if isMissing(err) {
			return nil, notFound("import", id)
		}
		return nil, fmt.Errorf("import %d: %w", id, err)
	}
	if !visibleImport(AccessFrom(ctx), imp.ListIDs) {
		return nil, notFound("import", id)
	}
	imp.fill()
	return &imp, nil
}

// visibleImport reports whether acc may see an import into lists: it
// needs the viewer role on each of them, as for a campaign. An import
// not yet given its lists (uploaded, not reviewed) is seen by anyone who
// may import at all.
func visibleImport(acc *Access, lists []int64) bool {
	if acc == nil {
		return true
	}
	if len(lists) == 0 {
		return acc.Global(GrantViewer) || acc.Any(GrantAudience)
	}
	return acc.CanAll(lists, GrantViewer)
}

// Imports lists the imports the actor of ctx may see, newest first,
// before the id before (0: from the newest). The lists of an import are
// a JSON column, so the grants are applied here, reading on in pages
// until limit visible ones are found (or a bounded number of rows was
// read: next then resumes after the last row read).
func (s *Store) Imports(ctx context.Context, before int64, limit int) ([]Import, int64, error) {
	if limit <= 0 {
		limit = 100
	}
	acc := AccessFrom(ctx)
	var out []Import
	for read := 0; ; {
		q := s.reader(ctx).Order("id DESC").Limit(limit + 1)
		if before > 0 {
			q = q.Where("id < ?", before)
		}
		var page []Import
		if err := q.Find(&page).Error; err != nil {
			return nil, 0, fmt.Errorf("imports: %w", err)
		}
		for i := range page {
			before = page[i].ID
			if !visibleImport(acc, page[i].ListIDs) {
				continue
			}
			if len(out) == limit {
				// One more visible row: there is a next page.
				return out, out[limit-1].ID, nil
			}
			page[i].fill()
			out = append(out, page[i])
		}
		read += len(page)
		if len(page) <= limit {
			return out, 0, nil // no rows older
		}
		if read >= 20*(limit+1) {
			// Bounded work per request: the next page goes on from the
			// last row read, whether or not this one is full.
			return out, before, nil
		}
	}
}

// UnfinishedImports are the ids of imports queued or running, for
// reconcile to make sure each has its task.
func (s *Store) UnfinishedImports(ctx context.Context) ([]int64, error) {
	var ids []int64
	if err := s.reader(ctx).Model(&Import{}).Where("status IN ?", []string{ImportQueued, ImportRunning}).
		Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("unfinished imports: %w", err)
	}
	return ids, nil
}

// DeleteStaleUploads removes imports still uploading after olderThan: the
// API process died or the client went away mid-upload.
func (s *Store) DeleteStaleUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	var ids []int64
	if err := s.reader(ctx).Model(&Import{}).Where("status = ? AND created_at < ?", ImportUploading, s.now().Add(-olderThan)).
		Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("stale uploads: %w", err)
	}
	for _, id := range ids {
		if err := s.DeleteImport(ctx, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// StartImport moves a queued (or, for a retry, running) import to running
// and returns it. A finished import is ErrStale: its task has nothing to
// do.
func (s *Store) StartImport(ctx context.Context, id int64) (*Import, error) {
	now := s.now()
	res := s.writer(ctx).Model(&Import{}).Where("id = ? AND status IN ?", id, []string{ImportQueued, ImportRunning}).
		Updates(map[string]any{"status": ImportRunning, "started_at": gorm.Expr("COALESCE(started_at, ?)", now), "updated_at": now})
	if res.Error != nil {
		return nil, fmt.Errorf("start import %d: %w", id, res.Error)
	}
	imp, err := s.Import(ctx, id)
	if err != nil {
		return nil, err
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("import %d is %s: %w", id, imp.Status, ErrStale)
	}
	return imp, nil
}

// FinishImport ends an import as done or failed (with errText) and drops
// the uploaded file and the seen-set, which hold personal data that is no
// longer needed.
func (s *Store) FinishImport(ctx context.Context, id int64, status, errText string) error {
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		now := s.now()
		upd := map[string]any{"status": status, "finished_at": now, "updated_at": now, "error": truncate(errText, 1000)}
		res := tx.Model(&Import{}).Where("id = ? AND status = ?", id, ImportRunning).Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("finish import %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil // finished by an earlier run of the task
		}
		for _, m := range []any{&ImportChunk{}, &ImportSeen{}} {
			if err := tx.Where("import_id = ?", id).Delete(m).Error; err != nil {
				return fmt.Errorf("finish import %d: %w", id, err)
			}
		}
		return nil
	})
	if err == nil && status == ImportDone && s.dialect == DialectPostgres {
		// Postgres plans by statistics that autovacuum refreshes only
		// a while after a bulk change; until then a list just imported
		// looks empty, and a send right after the import was planned as
		// if it were (a scan of the whole list on every recheck). An
		// error here is no reason to fail the import: autovacuum will
		// catch up.
		_ = s.db.WithContext(ctx).Exec("ANALYZE subscribers, subscriptions").Error
	}
	return err
}

// SetImportOptinDone records that the opt-in mails of lines up to line
// are enqueued.
func (s *Store) SetImportOptinDone(ctx context.Context, id, line int64) error {
	if err := s.writer(ctx).Model(&Import{}).Where("id = ?", id).Update("optin_done", line).Error; err != nil {
		return fmt.Errorf("import %d: %w", id, err)
	}
	return nil
}

// ImportFile reads an upload back, one chunk in memory at a time.
func (s *Store) ImportFile(ctx context.Context, id int64) io.Reader {
	return &chunkReader{s: s, ctx: ctx, id: id}
}

type chunkReader struct {
	s    *Store
	ctx  context.Context
	id   int64
	seq  int
	buf  []byte
	done bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		var c ImportChunk
		err := r.s.reader(r.ctx).Where("import_id = ? AND seq = ?", r.id, r.seq).Take(&c).Error
		if isMissing(err) {
			r.done = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("import %d chunk %d: %w", r.id, r.seq, err)
		}
		r.buf, r.seq = c.Data, r.seq+1
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// ImportRejects calls fn for each skipped row of an import in line order,
// reading a page at a time so that a large report streams.
func (s *Store) ImportRejects(ctx context.Context, id int64, fn func(ImportReject) error) error {
	var after int64
	for {
		var page []ImportReject
		if err := s.reader(ctx).Where("import_id = ? AND id > ?", id, after).Order("id").Limit(1000).Find(&page).Error; err != nil {
			return fmt.Errorf("import %d rejects: %w", id, err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// ImportRow is one parsed line of an import file.
type ImportRow struct {
	Line    int64
	Email   string // normalised; "" when Invalid is set
	Raw     string // the address cell as given, for the report
	Invalid string // why the row was refused before it reached the store
	Reason  string // the reject reason for Invalid; default RejectInvalidAddress

	Name, Language string
	Attributes     Attributes // only the file's non-empty attribute cells
	// TrackingConsent is the row's answer to open and click tracking (nil:
	// no answer in the file). It applies to the import's lists that
	// track, on new subscriptions, and on existing ones with Overwrite.
	TrackingConsent *bool
}

// Size estimates the memory the row holds, for bounding a batch.
func (r *ImportRow) Size() int {
	n := 128 + len(r.Email) + len(r.Raw) + len(r.Invalid) + len(r.Name) + len(r.Language)
	for k, v := range r.Attributes {
		n += 64 + len(k)
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	return n
}

// ImportCheckpoint is how far through the file a batch reaches.
type ImportCheckpoint struct {
	Line  int64 // last line of the batch
	Bytes int64 // bytes of the file read
}

// OptinNeed asks for one confirmation mail.
type OptinNeed struct {
	SubscriberID int64
	ListIDs      []int64
}

// ImportBatchResult is what ApplyImportBatch did that the caller must
// follow up.
type ImportBatchResult struct {
	Optins []OptinNeed
}

type importCounts struct{ created, updated, unchanged, skipped int64 }

// importBatch is the state of one ApplyImportBatch transaction.
type importBatch struct {
	s       *Store
	tx      *gorm.DB
	imp     *Import
	now     time.Time
	by      Actor
	n       importCounts
	rejects []ImportReject
	events  []Event
	res     *ImportBatchResult
}

type importLive struct {
	*ImportRow
	hash       string
	suppressed string
}

func (b *importBatch) reject(line int64, email, reason, detail string) {
	b.rejects = append(b.rejects, ImportReject{ImportID: b.imp.ID, Line: line, Email: truncate(email, 320),
		Reason: reason, Detail: truncate(detail, 300)})
	b.n.skipped++
}

func (b *importBatch) event(kind string, line int64, subscriberID, listID *int64, extra map[string]any) {
	ev := newEvent(kind, b.by, b.now, subscriberID, listID, nil)
	ev.Data = withData(ev.Data, "line", line)
	for k, v := range extra {
		ev.Data[k] = v
	}
	b.events = append(b.events, ev)
}

// ApplyImportBatch writes the effects of one batch of rows in one
// transaction, together with the reject report rows, the events and the
// import's counters and checkpoint, so a task that dies between batches
// resumes exactly after the last one committed. Every write is
// set-based (multi-row inserts, one UPDATE per list), and a row whose
// address is already as the file asks writes nothing, so running the same
// file again changes nothing.
func (s *Store) ApplyImportBatch(ctx context.Context, imp *Import, rows []ImportRow, cp ImportCheckpoint) (*ImportBatchResult, error) {
	res := &ImportBatchResult{}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		b := &importBatch{s: s, tx: tx, imp: imp, now: s.now(), res: res,
			by: Actor{Source: "import", Data: map[string]any{"import_id": imp.ID}}}
		if imp.TokenID != nil {
			b.by.TokenID = *imp.TokenID
		}
		if imp.UserID != nil {
			b.by.UserID = *imp.UserID
		}
		live, err := b.screen(rows)
		if err != nil {
			return err
		}
		switch imp.Mode {
		case ImportSubscribe:
			err = b.subscribe(live)
		case ImportUnsubscribe:
			err = b.unsubscribe(live)
		case ImportSuppress:
			err = b.suppress(live)
		default:
			err = fmt.Errorf("import %d: unknown mode %q", imp.ID, imp.Mode)
		}
		if err != nil {
			return err
		}
		if len(b.rejects) > 0 {
			// Batches come in line order; sorted within one, the report
			// reads in line order by id alone.
			slices.SortStableFunc(b.rejects, func(x, y ImportReject) int { return cmp.Compare(x.Line, y.Line) })
			if err := tx.CreateInBatches(b.rejects, 500).Error; err != nil {
				return fmt.Errorf("import %d: write rejects: %w", imp.ID, err)
			}
		}
		if err := insertEventsBulk(tx, b.events); err != nil {
			return err
		}
		err = tx.Model(&Import{}).Where("id = ?", imp.ID).Updates(map[string]any{
			"created":    gorm.Expr("created + ?", b.n.created),
			"updated":    gorm.Expr("updated + ?", b.n.updated),
			"unchanged":  gorm.Expr("unchanged + ?", b.n.unchanged),
			"skipped":    gorm.Expr("skipped + ?", b.n.skipped),
			"rows_read":  gorm.Expr("rows_read + ?", len(rows)),
			"line_done":  cp.Line,
			"bytes_done": cp.Bytes,
			"updated_at": b.now,
		}).Error
		if err != nil {
			return fmt.Errorf("import %d: progress: %w", imp.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	imp.LineDone, imp.BytesDone = cp.Line, cp.Bytes
	return res, nil
}

// screen rejects invalid rows and duplicates (within the batch, and
// against earlier batches through import_seen), and looks up suppression.
func (b *importBatch) screen(rows []ImportRow) ([]importLive, error) {
	first := make(map[string]int64, len(rows))
	cand := make([]importLive, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		if r.Invalid != "" {
			reason := r.Reason
			if reason == "" {
				reason = RejectInvalidAddress
			}
			b.reject(r.Line, r.Raw, reason, r.Invalid)
			continue
		}
		h := b.s.AddressHash(r.Email)
		if line, ok := first[h]; ok {
			b.reject(r.Line, r.Email, RejectDuplicate, fmt.Sprintf("same address as line %d", line))
			continue
		}
		first[h] = r.Line
		cand = append(cand, importLive{ImportRow: r, hash: h})
	}
	if len(cand) == 0 {
		return nil, nil
	}
	seen := make([]ImportSeen, len(cand))
	hashes := make([]string, len(cand))
	keys := make([]int64, len(cand))
	for i, c := range cand {
		keys[i] = hashKey(c.hash)
		seen[i] = ImportSeen{ImportID: b.imp.ID, HKey: keys[i], EmailHash: c.hash, Line: c.Line}
		hashes[i] = c.hash
	}
	if err := b.tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(seen, 1000).Error; err != nil {
		return nil, fmt.Errorf("import %d: seen: %w", b.imp.ID, err)
	}
	var got []ImportSeen
	for part := range slices.Chunk(keys, 1000) {
		var g []ImportSeen
		if err := b.tx.Where("import_id = ? AND hkey IN ?", b.imp.ID, part).Find(&g).Error; err != nil {
			return nil, fmt.Errorf("import %d: seen: %w", b.imp.ID, err)
		}
		got = append(got, g...)
	}
	firstLine := make(map[string]int64, len(got))
	for _, g := range got {
		firstLine[g.EmailHash] = g.Line
	}
	var sps []Suppression
	if err := b.tx.Select("email_hash", "reason").Where("email_hash IN ?", hashes).Find(&sps).Error; err != nil {
		return nil, fmt.Errorf("import %d: suppressions: %w", b.imp.ID, err)
	}
	supp := make(map[string]string, len(sps))
	for _, sp := range sps {
		supp[sp.EmailHash] = sp.Reason
	}
	live := cand[:0]
	for _, c := range cand {
		// A key taken by another address (a 64-bit collision) leaves this
		// one out of the table; it is not a duplicate.
		if l, ok := firstLine[c.hash]; ok && l != c.Line {
			b.reject(c.Line, c.Email, RejectDuplicate, fmt.Sprintf("same address as line %d", l))
			continue
		}
		c.suppressed = supp[c.hash]
		if c.suppressed != "" && b.imp.Mode == ImportSubscribe {
			// The address itself is not written to the report: an erased
			// person's address must not come back into the database by
			// way of a reject row. The line number finds it in the file.
			b.reject(c.Line, "", RejectSuppressed, c.suppressed)
			continue
		}
		live = append(live, c)
	}
	return live, nil
}

// existing loads the subscribers of the rows' addresses by address.
func (b *importBatch) existing(live []importLive, cols ...string) (map[string]*Subscriber, error) {
	emails := make([]string, len(live))
	for i, r := range live {
		emails[i] = r.Email
	}
	var subs []Subscriber
	q := b.tx.Where("email IN ?", emails)
	if len(cols) > 0 {
		q = q.Select(cols)
	}
	if err := q.Find(&subs).Error; err != nil {
		return nil, fmt.Errorf("import %d: subscribers: %w", b.imp.ID, err)
	}
	out := make(map[string]*Subscriber, len(subs))
	for i := range subs {
		out[subs[i].Email] = &subs[i]
	}
	return out, nil
}

func (b *importBatch) subscribe(live []importLive) error {
	if len(live) == 0 {
		return nil
	}
	imp := b.imp
	have, err := b.existing(live)
	if err != nil {
		return err
	}
	var fresh []Subscriber
	created := map[string]bool{}
	for _, r := range live {
		if have[r.Email] != nil {
			continue
		}
		lang := r.Language
		if lang == "" {
			lang = "sv"
		}
		attrs := r.Attributes
		if attrs == nil {
			attrs = Attributes{}
		}
		fresh = append(fresh, Subscriber{Email: r.Email, Name: r.Name, Language: lang, Attributes: attrs,
			EmailHash: r.hash, CreatedAt: b.now, UpdatedAt: b.now})
		created[r.Email] = true
	}
	if len(fresh) > 0 {
		// DO NOTHING: a form may add the same address between our read and
		// this write; the reload below picks up whichever row won.
		err := b.tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "email"}}, DoNothing: true}).
			Omit(clause.Associations).CreateInBatches(&fresh, 500).Error
		if err != nil {
			return fmt.Errorf("import %d: create subscribers: %w", imp.ID, err)
		}
		emails := make([]string, len(fresh))
		for i, f := range fresh {
			emails[i] = f.Email
		}
		var ids []Subscriber
		if err := b.tx.Select("id", "email").Where("email IN ?", emails).Find(&ids).Error; err != nil {
			return fmt.Errorf("import %d: reload subscribers: %w", imp.ID, err)
		}
		for i := range ids {
			have[ids[i].Email] = &ids[i]
		}
	}

	subIDs := make([]int64, 0, len(live))
	for _, r := range live {
		subIDs = append(subIDs, have[r.Email].ID)
	}
	var cur []Subscription
	if len(imp.ListIDs) > 0 {
		if err := b.tx.Select("subscriber_id", "list_id", "status", "tracking_consent").
			Where("subscriber_id IN ? AND list_id IN ?", subIDs, []int64(imp.ListIDs)).Find(&cur).Error; err != nil {
			return fmt.Errorf("import %d: subscriptions: %w", imp.ID, err)
		}
	}
	status := make(map[[2]int64]string, len(cur))
	tracking := make(map[[2]int64]bool, len(cur))
	for _, m := range cur {
		status[[2]int64{m.SubscriberID, m.ListID}] = m.Status
		tracking[[2]int64{m.SubscriberID, m.ListID}] = m.TrackingConsent
	}
	tracked, err := b.trackedLists()
	if err != nil {
		return err
	}
	want, kind := SubUnconfirmed, EventSubscribed
	if imp.ConsentBasis != "" {
		want, kind = SubConfirmed, EventConfirmed
	}
	var consent map[string]any
	if imp.ConsentBasis != "" {
		consent = map[string]any{"consent_basis": imp.ConsentBasis}
	}
	var inserts []Subscription
	upgrade := map[int64][]int64{} // list → subscribers going unconfirmed → confirmed
	type answer struct {
		list int64
		yes  bool
	}
	answers := map[answer][]int64{} // a changed tracking consent → subscribers
	for _, r := range live {
		sub := have[r.Email]
		id := sub.ID
		isNew := created[r.Email]
		changed := false
		if isNew {
			b.event(EventCreated, r.Line, &id, nil, nil)
		} else if imp.Overwrite {
			ok, err := b.overwrite(sub, r)
			if err != nil {
				return err
			}
			changed = ok
		}
		var left, need []int64
		for _, l := range imp.ListIDs {
			l := l
			// The row's tracking answer counts only on lists that track.
			answered := r.TrackingConsent != nil && tracked[l]
			st := status[[2]int64{id, l}]
			switch st {
			case "":
				m := Subscription{SubscriberID: id, ListID: l, Status: want, CreatedAt: b.now, UpdatedAt: b.now}
				if want == SubConfirmed {
					m.ConsentBasis, m.ConfirmedAt = imp.ConsentBasis, &b.now
				} else {
					need = append(need, l)
				}
				data := consent
				if answered {
					m.TrackingConsent = *r.TrackingConsent
					data = map[string]any{"tracking_consent": *r.TrackingConsent}
					if imp.ConsentBasis != "" {
						data["consent_basis"] = imp.ConsentBasis
					}
				}
				inserts = append(inserts, m)
				b.event(kind, r.Line, &id, &l, data)
				changed = true
			case SubUnconfirmed:
				if want == SubConfirmed {
					upgrade[l] = append(upgrade[l], id)
					b.event(EventConfirmed, r.Line, &id, &l, consent)
					changed = true
				}
			case SubUnsubscribed:
				left = append(left, l)
			}
			// An existing subscription takes the file's answer only when
			// the import overwrites: like a name, it may have been given
			// by the person since the file was made.
			if st != "" && st != SubUnsubscribed && imp.Overwrite && answered && *r.TrackingConsent != tracking[[2]int64{id, l}] {
				k := answer{l, *r.TrackingConsent}
				answers[k] = append(answers[k], id)
				b.event(EventTrackingConsent, r.Line, &id, &l, map[string]any{"tracking_consent": *r.TrackingConsent})
				changed = true
			}
		}
		if len(need) > 0 {
			b.res.Optins = append(b.res.Optins, OptinNeed{SubscriberID: id, ListIDs: need})
		}
		switch {
		case isNew:
			b.n.created++
		case changed:
			b.n.updated++
		case len(left) > 0:
			b.reject(r.Line, r.Email, RejectUnsubscribed, fmt.Sprintf("left list %s before; ask the person to subscribe again", joinIDs(left)))
		default:
			b.n.unchanged++
		}
	}
	if len(inserts) > 0 {
		if err := b.tx.CreateInBatches(inserts, 500).Error; err != nil {
			return fmt.Errorf("import %d: subscribe: %w", imp.ID, err)
		}
	}
	for l, ids := range upgrade {
		err := b.tx.Model(&Subscription{}).Where("list_id = ? AND subscriber_id IN ? AND status = ?", l, ids, SubUnconfirmed).
			Updates(map[string]any{"status": SubConfirmed, "confirmed_at": b.now, "updated_at": b.now, "consent_basis": imp.ConsentBasis}).Error
		if err != nil {
			return fmt.Errorf("import %d: confirm list %d: %w", imp.ID, l, err)
		}
	}
	for k, ids := range answers {
		err := b.tx.Model(&Subscription{}).Where("list_id = ? AND subscriber_id IN ?", k.list, ids).
			Updates(map[string]any{"tracking_consent": k.yes, "updated_at": b.now}).Error
		if err != nil {
			return fmt.Errorf("import %d: tracking consent on list %d: %w", imp.ID, k.list, err)
		}
	}
	return nil
}

// trackedLists are the import's lists with open or click tracking on.
func (b *importBatch) trackedLists() (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(b.imp.ListIDs) == 0 {
		return out, nil
	}
	var ids []int64
	if err := b.tx.Model(&List{}).Where("id IN ? AND (track_opens = ? OR track_clicks = ?)", []int64(b.imp.ListIDs), true, true).
		Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("import %d: tracked lists: %w", b.imp.ID, err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// overwrite applies the row's name, language and attributes to an
// existing subscriber (attributes are merged: the file's columns replace
// those keys, others stay). Empty cells change nothing.
func (b *importBatch) overwrite(sub *Subscriber, r importLive) (bool, error) {
	upd := map[string]any{}
	var fields []string
	if r.Name != "" && r.Name != sub.Name {
		upd["name"], upd["name_fold"] = r.Name, Fold(r.Name)
		fields = append(fields, "name")
	}
	if r.Language != "" && r.Language != sub.Language {
		upd["language"] = r.Language
		fields = append(fields, "language")
	}
	if len(r.Attributes) > 0 {
		merged := Attributes{}
		for k, v := range sub.Attributes {
			merged[k] = v
		}
		diff := false
		for k, v := range r.Attributes {
			if old, ok := sub.Attributes[k]; !ok || fmt.Sprint(old) != fmt.Sprint(v) {
				merged[k] = v
				diff = true
			}
		}
		if diff {
			upd["attributes"] = merged
			fields = append(fields, "attributes")
		}
	}
	if len(upd) == 0 {
		return false, nil
	}
	upd["updated_at"] = b.now
	if err := b.tx.Model(&Subscriber{}).Where("id = ?", sub.ID).Updates(upd).Error; err != nil {
		return false, fmt.Errorf("import %d: update subscriber %d: %w", b.imp.ID, sub.ID, err)
	}
	id := sub.ID
	b.event(EventUpdated, r.Line, &id, nil, map[string]any{"fields": fields})
	return true, nil
}

func (b *importBatch) unsubscribe(live []importLive) error {
	if len(live) == 0 {
		return nil
	}
	have, err := b.existing(live, "id", "email")
	if err != nil {
		return err
	}
	var ids []int64
	for _, r := range live {
		if sub := have[r.Email]; sub != nil {
			ids = append(ids, sub.ID)
		}
	}
	var cur []Subscription
	if len(ids) > 0 {
		q := b.tx.Select("subscriber_id", "list_id").Where("subscriber_id IN ? AND status <> ?", ids, SubUnsubscribed)
		if len(b.imp.ListIDs) > 0 {
			q = q.Where("list_id IN ?", []int64(b.imp.ListIDs))
		}
		if err := q.Order("subscriber_id, list_id").Find(&cur).Error; err != nil {
			return fmt.Errorf("import %d: subscriptions: %w", b.imp.ID, err)
		}
	}
	on := map[int64][]int64{}     // subscriber → lists to leave
	byList := map[int64][]int64{} // list → subscribers
	for _, m := range cur {
		on[m.SubscriberID] = append(on[m.SubscriberID], m.ListID)
		byList[m.ListID] = append(byList[m.ListID], m.SubscriberID)
	}
	for _, r := range live {
		sub := have[r.Email]
		if sub == nil {
			b.reject(r.Line, r.Email, RejectNotFound, "no subscriber with this address")
			continue
		}
		id := sub.ID
		if len(on[id]) == 0 {
			b.n.unchanged++
			continue
		}
		for _, l := range on[id] {
			l := l
			b.event(EventUnsubscribed, r.Line, &id, &l, nil)
		}
		b.n.updated++
	}
	for l, subs := range byList {
		err := b.tx.Model(&Subscription{}).Where("list_id = ? AND subscriber_id IN ? AND status <> ?", l, subs, SubUnsubscribed).
			Updates(map[string]any{"status": SubUnsubscribed, "unsubscribed_at": b.now, "updated_at": b.now}).Error
		if err != nil {
			return fmt.Errorf("import %d: unsubscribe list %d: %w", b.imp.ID, l, err)
		}
	}
	return nil
}

func (b *importBatch) suppress(live []importLive) error {
	var rows []Suppression
	var hashes []string
	lineOf := map[string]int64{}
	for _, r := range live {
		if r.suppressed != "" {
			b.n.unchanged++
			continue
		}
		rows = append(rows, Suppression{EmailHash: r.hash, Email: r.Email, Reason: SuppressManual, Source: "import",
			Note: fmt.Sprintf("import %d line %d", b.imp.ID, r.Line), CreatedAt: b.now})
		hashes = append(hashes, r.hash)
		lineOf[r.hash] = r.Line
		b.n.created++
	}
	if len(rows) == 0 {
		return nil
	}
	if err := b.tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 500).Error; err != nil {
		return fmt.Errorf("import %d: suppress: %w", b.imp.ID, err)
	}
	var subs []Subscriber
	if err := b.tx.Select("id", "email_hash").Where("email_hash IN ?", hashes).Find(&subs).Error; err != nil {
		return fmt.Errorf("import %d: suppress: %w", b.imp.ID, err)
	}
	subOf := map[string]int64{}
	for _, s := range subs {
		subOf[s.EmailHash] = s.ID
	}
	for _, h := range hashes {
		var sid *int64
		if id, ok := subOf[h]; ok {
			sid = &id
		}
		b.event(EventSuppressed, lineOf[h], sid, nil, map[string]any{"reason": SuppressManual})
	}
	return nil
}

// PendingOptins returns, for the given addresses, the subscribers still
// unconfirmed on any of listIDs: what a resumed import must (re)enqueue
// opt-in mail for.
func (s *Store) PendingOptins(ctx context.Context, emails []string, listIDs []int64) ([]OptinNeed, error) {
	if len(emails) == 0 || len(listIDs) == 0 {
		return nil, nil
	}
	var rows []struct {
		SubscriberID int64
		ListID       int64
	}
	err := s.reader(ctx).Table("subscriptions m").Select("m.subscriber_id, m.list_id").
		Joins("JOIN subscribers s ON s.id = m.subscriber_id").
		Where("s.email IN ? AND m.list_id IN ? AND m.status = ?", emails, listIDs, SubUnconfirmed).
		Order("m.subscriber_id, m.list_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("pending opt-ins: %w", err)
	}
	var out []OptinNeed
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1].SubscriberID == r.SubscriberID {
			out[n-1].ListIDs = append(out[n-1].ListIDs, r.ListID)
			continue
		}
		out = append(out, OptinNeed{SubscriberID: r.SubscriberID, ListIDs: []int64{r.ListID}})
	}
	return out, nil
}

// hashKey is the first 8 bytes of a hex address hash as an integer.
func hashKey(hexHash string) int64 {
	var k uint64
	for i := 0; i < 16 && i < len(hexHash); i++ {
		c := hexHash[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		}
		k = k<<4 | uint64(v)
	}
	return int64(k)
}

func joinIDs(ids []int64) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ", ")
}

// insertEventsBulk appends events with multi-row INSERTs and no RETURNING:
// an import writes two events a row, and gorm's Create would also read
// every new id back, which it does not need.
func insertEventsBulk(tx *gorm.DB, evs []Event) error {
	const cols = 12
	const per = 500 // 6,000 parameters a statement: under SQLite's 32,766 and Postgres's 65,535
	for part := range slices.Chunk(evs, per) {
		var sb strings.Builder
		sb.WriteString("INSERT INTO events (kind, subscriber_id, list_id, campaign_id, delivery_id, source, token_id, user_id, ip, user_agent, data, created_at) VALUES ")
		args := make([]any, 0, len(part)*cols)
		for i, ev := range part {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
			data, err := ev.Data.Value()
			if err != nil {
				return err
			}
			args = append(args, ev.Kind, ev.SubscriberID, ev.ListID, ev.CampaignID, ev.DeliveryID, ev.Source, ev.TokenID, ev.UserID,
				ev.IP, ev.UserAgent, data, ev.CreatedAt)
		}
		if err := tx.Exec(sb.String(), args...).Error; err != nil {
			return fmt.Errorf("append events: %w", err)
		}
	}
	return nil
}
