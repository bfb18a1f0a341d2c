package store

// schema0007 adds the staff workspace's accounts: users, their sessions
// (only a SHA-256 of the cookie's secret is kept, so a copy of the
// database signs nobody in), one-time links for invitations, password
// resets and the first-run setup (also hashed), and the staff user behind
// an event made in the web workspace.
const schema0007 = `
CREATE TABLE users (
	id {{pk}},
	email VARCHAR(320) NOT NULL,
	name VARCHAR(200) NOT NULL DEFAULT '',
	lang VARCHAR(8) NOT NULL DEFAULT 'sv',
	role VARCHAR(16) NOT NULL,
	status VARCHAR(16) NOT NULL,
	password_hash VARCHAR(200) NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	last_signin_at {{ts}}
);
CREATE UNIQUE INDEX idx_users_email ON users (email);

CREATE TABLE sessions (
	id {{pk}},
	hash VARCHAR(64) NOT NULL,
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at {{ts}} NOT NULL,
	last_seen_at {{ts}} NOT NULL,
	expires_at {{ts}} NOT NULL,
	ip VARCHAR(64) NOT NULL DEFAULT '',
	user_agent VARCHAR(500) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX idx_sessions_hash ON sessions (hash);
CREATE INDEX idx_sessions_user_id ON sessions (user_id);

CREATE TABLE user_tokens (
	id {{pk}},
	hash VARCHAR(64) NOT NULL,
	user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
	purpose VARCHAR(16) NOT NULL,
	created_at {{ts}} NOT NULL,
	expires_at {{ts}} NOT NULL,
	used_at {{ts}}
);
CREATE UNIQUE INDEX idx_user_tokens_hash ON user_tokens (hash);
CREATE INDEX idx_user_tokens_user_id ON user_tokens (user_id);

ALTER TABLE events ADD COLUMN user_id BIGINT;
`
