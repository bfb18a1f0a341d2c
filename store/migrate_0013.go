package store

import (
	"fmt"

	"gorm.io/gorm"
)

// schema0013 adds list-scoped roles, four-eyes approval and the audit log.
//
//   - list_grants: a user's roles on one list (viewer, author, publisher,
//     audience); a user may hold several on a list.
//   - lists.requires_approval: sends to the list need a second publisher.
//   - campaigns: who asked for the send, who approved it and at which
//     revision, and the reviewer's comment of a rejection.
//   - api_tokens.user_id: a token made by a user carries at most that
//     user's rights; tokens without one are the instance's tokens of old
//     and keep their role over every list.
//   - audit_log (append-only; triggers refuse UPDATE and DELETE) and
//     audit_personal (the personal values of subscriber changes, deleted
//     when the person is erased).
//
// Existing staff users keep working as they did: an editor becomes a
// member with publisher and audience grants on every existing list, a
// viewer a member with viewer grants on every list; admins stay admins.
const schema0013 = `
CREATE TABLE list_grants (
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	list_id BIGINT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	role VARCHAR(16) NOT NULL,
	created_at {{ts}} NOT NULL,
	PRIMARY KEY (user_id, list_id, role)
);
CREATE INDEX idx_list_grants_list_id ON list_grants (list_id);

ALTER TABLE lists ADD COLUMN requires_approval {{bool}} NOT NULL DEFAULT FALSE;
ALTER TABLE campaigns ADD COLUMN requested_by_user BIGINT;
ALTER TABLE campaigns ADD COLUMN requested_by_token BIGINT;
ALTER TABLE campaigns ADD COLUMN approved_by_user BIGINT;
ALTER TABLE campaigns ADD COLUMN approved_by_token BIGINT;
ALTER TABLE campaigns ADD COLUMN approved_at {{ts}};
ALTER TABLE campaigns ADD COLUMN approved_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN review_comment VARCHAR(1000) NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN user_id BIGINT REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX idx_api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE audit_log (
	id {{pk}},
	created_at {{ts}} NOT NULL,
	user_id BIGINT,
	token_id BIGINT,
	source VARCHAR(40) NOT NULL DEFAULT '',
	ip VARCHAR(64) NOT NULL DEFAULT '',
	user_agent VARCHAR(500) NOT NULL DEFAULT '',
	action VARCHAR(80) NOT NULL,
	object_type VARCHAR(40) NOT NULL DEFAULT '',
	object_id VARCHAR(64) NOT NULL DEFAULT '',
	request_id VARCHAR(64) NOT NULL DEFAULT '',
	changes TEXT NOT NULL
);
CREATE INDEX idx_audit_log_request_id ON audit_log (request_id);
CREATE INDEX idx_audit_log_created_at ON audit_log (created_at);
CREATE INDEX idx_audit_log_user_id ON audit_log (user_id);
CREATE INDEX idx_audit_log_action ON audit_log (action);
CREATE INDEX idx_audit_object ON audit_log (object_type, object_id);

CREATE TABLE audit_personal (
	audit_id BIGINT PRIMARY KEY,
	subscriber_id BIGINT NOT NULL,
	changes TEXT NOT NULL
);
CREATE INDEX idx_audit_personal_subscriber_id ON audit_personal (subscriber_id);

INSERT INTO list_grants (user_id, list_id, role, created_at)
	SELECT u.id, l.id, g.role, u.updated_at FROM users u CROSS JOIN lists l
	JOIN (SELECT 'editor' AS was, 'publisher' AS role UNION ALL SELECT 'editor', 'audience'
	      UNION ALL SELECT 'viewer', 'viewer') g ON g.was = u.role;
UPDATE users SET role = 'member' WHERE role IN ('editor', 'viewer');
`

// Triggers that make audit_log append-only in the database itself, so
// that not even a hand-written statement changes history.
var auditTriggers = map[string][]string{
	DialectSQLite: {
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
	},
	DialectPostgres: {
		`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$`,
		`CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
		`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`,
	},
}

func migrate0013(tx *gorm.DB, dialect string) error {
	if err := sqlStep(schema0013)(tx, dialect); err != nil {
		return err
	}
	for _, stmt := range auditTriggers[dialect] {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil
}
