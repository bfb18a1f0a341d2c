package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migration is one step of the schema's history. Steps are never edited
// once released; a change is a new step at the end. Each runs in its own
// transaction and is recorded in schema_migrations.
type migration struct {
	ID string
	Up func(tx *gorm.DB, dialect string) error
}

// migrations is the schema's history, oldest first.
var migrations = []migration{
	{ID: "0001_init", Up: sqlStep(schema0001)},
	{ID: "0002_templates", Up: sqlStep(schema0002)},
	{ID: "0003_subscribers", Up: sqlStep(schema0003)},
	{ID: "0004_stats", Up: migrate0004},
	{ID: "0005_instance", Up: migrate0005},
	{ID: "0006_claim_index", Up: sqlStep(schema0006)},
	{ID: "0007_staff_users", Up: sqlStep(schema0007)},
	{ID: "0008_reply_to", Up: sqlStep(schema0008)},
	{ID: "0009_heartbeats", Up: sqlStep(schema0009)},
	{ID: "0010_sender_identity", Up: sqlStep(schema0010)},
	{ID: "0011_media", Up: sqlStep(schema0011)},
	{ID: "0012_subscriber_search", Up: migrate0012},
	{ID: "0013_grants_audit", Up: migrate0013},
	{ID: "0014_totp", Up: sqlStep(schema0014)},
	{ID: "0015_counter_shards", Up: migrate0015},
	{ID: "0016_require_two_factor", Up: sqlStep(schema0016)},
	{ID: "0017_media_edit_s3", Up: sqlStep(schema0017)},
	{ID: "0019_search_fold", Up: migrate0019},
	{ID: "0020_withdrawal_mark", Up: migrate0020},
}

// sqlStep runs DDL written once for both databases; {{pk}}, {{ts}},
// {{bool}} and {{blob}} become each dialect's spelling.
func sqlStep(ddl string) func(*gorm.DB, string) error {
	return func(tx *gorm.DB, dialect string) error {
		r := strings.NewReplacer(
			"{{pk}}", map[string]string{DialectSQLite: "INTEGER PRIMARY KEY AUTOINCREMENT", DialectPostgres: "BIGSERIAL PRIMARY KEY"}[dialect],
			"{{ts}}", map[string]string{DialectSQLite: "DATETIME", DialectPostgres: "TIMESTAMPTZ"}[dialect],
			"{{bool}}", map[string]string{DialectSQLite: "NUMERIC", DialectPostgres: "BOOLEAN"}[dialect],
			"{{blob}}", map[string]string{DialectSQLite: "BLOB", DialectPostgres: "BYTEA"}[dialect],
		)
		for _, stmt := range strings.Split(r.Replace(ddl), ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if err := tx.Exec(stmt).Error; err != nil {
				return fmt.Errorf("%s: %w", firstLine(stmt), err)
			}
		}
		return nil
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

const schema0001 = `
CREATE TABLE lists (
	id {{pk}},
	slug VARCHAR(64) NOT NULL,
	name VARCHAR(200) NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	language VARCHAR(8) NOT NULL DEFAULT 'sv',
	optin VARCHAR(8) NOT NULL DEFAULT 'double',
	visibility VARCHAR(8) NOT NULL DEFAULT 'private',
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX idx_lists_slug ON lists (slug);

CREATE TABLE subscribers (
	id {{pk}},
	email VARCHAR(320) NOT NULL,
	name VARCHAR(200) NOT NULL DEFAULT '',
	language VARCHAR(8) NOT NULL DEFAULT 'sv',
	attributes TEXT NOT NULL DEFAULT '{}',
	email_hash VARCHAR(64) NOT NULL,
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX idx_subscribers_email ON subscribers (email);
CREATE INDEX idx_subscribers_email_hash ON subscribers (email_hash);

CREATE TABLE suppressions (
	id {{pk}},
	email_hash VARCHAR(64) NOT NULL,
	email VARCHAR(320) NOT NULL DEFAULT '',
	reason VARCHAR(32) NOT NULL,
	source VARCHAR(40) NOT NULL DEFAULT '',
	note VARCHAR(1000) NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX idx_suppressions_email_hash ON suppressions (email_hash);

CREATE TABLE subscriptions (
	subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	list_id BIGINT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	status VARCHAR(16) NOT NULL,
	consent_basis TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	confirmed_at {{ts}},
	unsubscribed_at {{ts}},
	PRIMARY KEY (subscriber_id, list_id)
);
CREATE INDEX idx_subscriptions_list_status ON subscriptions (list_id, status, subscriber_id);

CREATE TABLE campaigns (
	id {{pk}},
	name VARCHAR(200) NOT NULL,
	subject VARCHAR(400) NOT NULL,
	from_addr VARCHAR(400) NOT NULL DEFAULT '',
	preheader VARCHAR(400) NOT NULL DEFAULT '',
	body TEXT NOT NULL,
	status VARCHAR(16) NOT NULL,
	status_reason VARCHAR(400) NOT NULL DEFAULT '',
	revision INTEGER NOT NULL DEFAULT 0,
	send_at {{ts}},
	started_at {{ts}},
	finished_at {{ts}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE INDEX idx_campaigns_status ON campaigns (status);

CREATE TABLE campaign_lists (
	campaign_id BIGINT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	list_id BIGINT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	PRIMARY KEY (campaign_id, list_id)
);
CREATE INDEX idx_campaign_lists_list_id ON campaign_lists (list_id);

CREATE TABLE deliveries (
	id {{pk}},
	campaign_id BIGINT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	subscriber_id BIGINT REFERENCES subscribers (id) ON DELETE SET NULL,
	status VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	smtp_code INTEGER NOT NULL DEFAULT 0,
	smtp_message VARCHAR(1000) NOT NULL DEFAULT '',
	failure_class VARCHAR(16) NOT NULL DEFAULT '',
	message_id VARCHAR(255) NOT NULL DEFAULT '',
	claim_token VARCHAR(40) NOT NULL DEFAULT '',
	claimed_until {{ts}},
	next_attempt_at {{ts}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	sent_at {{ts}}
);
CREATE UNIQUE INDEX idx_deliveries_campaign_subscriber ON deliveries (campaign_id, subscriber_id);
CREATE INDEX idx_deliveries_campaign_status ON deliveries (campaign_id, status);
CREATE INDEX idx_deliveries_subscriber_id ON deliveries (subscriber_id);

CREATE TABLE events (
	id {{pk}},
	kind VARCHAR(40) NOT NULL,
	subscriber_id BIGINT,
	list_id BIGINT,
	campaign_id BIGINT,
	delivery_id BIGINT,
	source VARCHAR(40) NOT NULL DEFAULT '',
	token_id BIGINT,
	ip VARCHAR(64) NOT NULL DEFAULT '',
	user_agent VARCHAR(500) NOT NULL DEFAULT '',
	data TEXT NOT NULL DEFAULT '{}',
	created_at {{ts}} NOT NULL
);
CREATE INDEX idx_events_kind_created ON events (kind, created_at);
CREATE INDEX idx_events_subscriber_id ON events (subscriber_id);
CREATE INDEX idx_events_list_id ON events (list_id);
CREATE INDEX idx_events_campaign_id ON events (campaign_id);

CREATE TABLE api_tokens (
	id {{pk}},
	name VARCHAR(200) NOT NULL,
	role VARCHAR(16) NOT NULL,
	hash VARCHAR(64) NOT NULL,
	prefix VARCHAR(16) NOT NULL,
	created_at {{ts}} NOT NULL,
	last_used_at {{ts}}
);
CREATE UNIQUE INDEX idx_api_tokens_hash ON api_tokens (hash);
`

// schema0002 adds staff templates, a list's choice of template and its
// public archive switch.
const schema0002 = `
CREATE TABLE templates (
	id {{pk}},
	name VARCHAR(200) NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	html TEXT NOT NULL,
	compiled_html TEXT NOT NULL,
	theme TEXT NOT NULL DEFAULT '{}',
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX idx_templates_name ON templates (name);
ALTER TABLE lists ADD COLUMN template_id BIGINT REFERENCES templates (id);
ALTER TABLE lists ADD COLUMN archive {{bool}} NOT NULL DEFAULT FALSE;
CREATE INDEX idx_lists_template_id ON lists (template_id);
`

// schema0003 adds CSV imports (the upload kept in the database in chunks,
// so that an API process and a worker on another machine share it), the
// per-import set of addresses seen (duplicate detection without holding
// the file's addresses in memory), the reject report, and the record of
// confirmation mails that limits them to one per address and list per
// window.
const schema0003 = `
CREATE TABLE imports (
	id {{pk}},
	status VARCHAR(16) NOT NULL,
	mode VARCHAR(16) NOT NULL,
	list_ids TEXT NOT NULL DEFAULT '[]',
	overwrite {{bool}} NOT NULL DEFAULT FALSE,
	consent_basis TEXT NOT NULL DEFAULT '',
	filename VARCHAR(255) NOT NULL DEFAULT '',
	size BIGINT NOT NULL DEFAULT 0,
	token_id BIGINT,
	line_done BIGINT NOT NULL DEFAULT 0,
	optin_done BIGINT NOT NULL DEFAULT 0,
	bytes_done BIGINT NOT NULL DEFAULT 0,
	rows_read BIGINT NOT NULL DEFAULT 0,
	created BIGINT NOT NULL DEFAULT 0,
	updated BIGINT NOT NULL DEFAULT 0,
	unchanged BIGINT NOT NULL DEFAULT 0,
	skipped BIGINT NOT NULL DEFAULT 0,
	error VARCHAR(1000) NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	started_at {{ts}},
	finished_at {{ts}}
);
CREATE INDEX idx_imports_status ON imports (status);

CREATE TABLE import_chunks (
	import_id BIGINT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
	seq INTEGER NOT NULL,
	data {{blob}} NOT NULL,
	PRIMARY KEY (import_id, seq)
);

CREATE TABLE import_seen (
	import_id BIGINT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
	hkey BIGINT NOT NULL,
	email_hash VARCHAR(64) NOT NULL,
	line BIGINT NOT NULL,
	PRIMARY KEY (import_id, hkey)
);

CREATE TABLE import_rejects (
	id {{pk}},
	import_id BIGINT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
	line BIGINT NOT NULL,
	email VARCHAR(320) NOT NULL DEFAULT '',
	reason VARCHAR(32) NOT NULL,
	detail VARCHAR(300) NOT NULL DEFAULT ''
);
CREATE INDEX idx_import_rejects_import_line ON import_rejects (import_id, line);

CREATE TABLE optin_mails (
	email_hash VARCHAR(64) NOT NULL,
	list_id BIGINT NOT NULL,
	task_id VARCHAR(100) NOT NULL DEFAULT '',
	sent_at {{ts}} NOT NULL,
	PRIMARY KEY (email_hash, list_id)
);
`

// schema0006 replaces the (campaign_id, status) index of deliveries with
// (campaign_id, status, id). Postgres orders equal keys by their place in
// the heap, not by id, so a claim ("the next pending deliveries in id
// order") walked the primary key from the campaign's first delivery and
// filtered out every one already sent: each claim grew slower as the
// campaign went on (a 100,000-recipient campaign on Postgres sent at
// half the rate of a 50,000 one). SQLite's index already ended in the
// rowid; there the change is only the name.
const schema0006 = `
DROP INDEX idx_deliveries_campaign_status;
CREATE INDEX idx_deliveries_claim ON deliveries (campaign_id, status, id);
`

// schema0008 adds Reply-To: a list's default, and a campaign's own
// (empty: the first list's, else none).
const schema0008 = `
ALTER TABLE lists ADD COLUMN reply_to VARCHAR(400) NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN reply_to VARCHAR(400) NOT NULL DEFAULT '';
`

// schema0010 adds the sender identity: the instance's defaults in a table
// of one row (id 1), and a list's own overrides ("" on a list: the
// instance's). The postal address and contact line go in every mail's
// footer; Swedish law wants them in marketing mail.
const schema0010 = `
CREATE TABLE sender_identity (
	id INTEGER PRIMARY KEY,
	from_name VARCHAR(200) NOT NULL DEFAULT '',
	from_address VARCHAR(320) NOT NULL DEFAULT '',
	reply_to VARCHAR(400) NOT NULL DEFAULT '',
	postal_address VARCHAR(300) NOT NULL DEFAULT '',
	contact VARCHAR(300) NOT NULL DEFAULT '',
	updated_at {{ts}},
	updated_by_user_id BIGINT,
	updated_by_token_id BIGINT
);
ALTER TABLE lists ADD COLUMN from_name VARCHAR(200) NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN from_address VARCHAR(320) NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN postal_address VARCHAR(300) NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN contact VARCHAR(300) NOT NULL DEFAULT '';
`

// schemaMigration records an applied step.
type schemaMigration struct {
	ID        string    `gorm:"primaryKey;size:100"`
	AppliedAt time.Time `gorm:"not null"`
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// Migrate applies the steps not yet recorded, each in its own transaction.
// Several processes may start at once: on Postgres an advisory lock
// serialises them, on SQLite the immediate write lock does.
func (s *Store) Migrate(ctx context.Context) error {
	db := s.writer(ctx)
	if err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		id VARCHAR(100) PRIMARY KEY, applied_at ` + map[string]string{DialectSQLite: "DATETIME", DialectPostgres: "TIMESTAMPTZ"}[s.dialect] + ` NOT NULL)`).Error; err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		err := db.Transaction(func(tx *gorm.DB) error {
			if s.dialect == DialectPostgres {
				if err := tx.Exec("SELECT pg_advisory_xact_lock(7452019)").Error; err != nil {
					return fmt.Errorf("lock migrations: %w", err)
				}
			}
			var n int64
			if err := tx.Model(&schemaMigration{}).Where("id = ?", m.ID).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if err := m.Up(tx, s.dialect); err != nil {
				return err
			}
			return tx.Create(&schemaMigration{ID: m.ID, AppliedAt: s.now()}).Error
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.ID, err)
		}
	}
	return nil
}

// AppliedMigrations lists recorded steps in order.
func (s *Store) AppliedMigrations(ctx context.Context) ([]string, error) {
	var ids []string
	if err := s.reader(ctx).Model(&schemaMigration{}).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("applied migrations: %w", err)
	}
	return ids, nil
}

// models are the live tables, for the test that checks the migrated schema
// matches them.
func models() []any {
	return []any{&List{}, &Subscriber{}, &Subscription{}, &Campaign{}, &CampaignList{}, &Delivery{}, &Event{}, &APIToken{}, &Suppression{},
		&Template{}, &Import{}, &ImportChunk{}, &ImportSeen{}, &ImportReject{}, &OptinMail{},
		&CampaignLink{}, &DeliveryCount{}, &ListCount{}, &StatCount{}, &Webhook{}, &WebhookDelivery{}, &WebhookAttempt{},
		&User{}, &Session{}, &UserToken{}, &Media{}, &ListGrant{}, &AuditRow{}, &AuditPersonal{}, &RecoveryCode{}, &SenderIdentity{}}
}
