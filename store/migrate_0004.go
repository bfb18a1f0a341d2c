package store

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// migrate0004 adds what delivery statistics need: tracking switches on
// lists and the consent flag on subscriptions, the links of each campaign,
// counters kept by the database itself, webhooks with their delivery log,
// and indexes for per-delivery event lookups. Existing rows are counted
// into the new counters in the same transaction.
func migrate0004(tx *gorm.DB, dialect string) error {
	stmts := []string{
		`ALTER TABLE lists ADD COLUMN track_opens {{bool}} NOT NULL DEFAULT FALSE`,
		`ALTER TABLE lists ADD COLUMN track_clicks {{bool}} NOT NULL DEFAULT FALSE`,
		`ALTER TABLE subscriptions ADD COLUMN tracking_consent {{bool}} NOT NULL DEFAULT FALSE`,

		`CREATE INDEX idx_events_delivery_kind ON events (delivery_id, kind)`,
		`CREATE INDEX idx_events_campaign_kind ON events (campaign_id, kind, subscriber_id)`,

		// The URLs a campaign's click tokens point at, by link index: the
		// redirect looks the target up here and never takes it from the
		// request.
		`CREATE TABLE campaign_links (
			campaign_id BIGINT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
			idx INTEGER NOT NULL,
			url VARCHAR(2000) NOT NULL,
			PRIMARY KEY (campaign_id, idx)
		)`,

		// delivery_counts is kept by triggers on deliveries, so every
		// status change anywhere is counted in the same transaction and a
		// campaign's report reads a handful of rows instead of scanning a
		// million.
		`CREATE TABLE delivery_counts (
			campaign_id BIGINT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
			status VARCHAR(16) NOT NULL,
			failure_class VARCHAR(16) NOT NULL,
			n BIGINT NOT NULL,
			last_at {{ts}},
			PRIMARY KEY (campaign_id, status, failure_class)
		){{clustered}}`,

		// stat_counts are event counts per hour (campaigns) or per day
		// (lists). bucket is the start of the period in unix seconds, UTC,
		// so both databases compare it the same way.
		`CREATE TABLE stat_counts (
			scope VARCHAR(1) NOT NULL,
			scope_id BIGINT NOT NULL,
			metric VARCHAR(40) NOT NULL,
			link INTEGER NOT NULL,
			bucket BIGINT NOT NULL,
			n BIGINT NOT NULL,
			PRIMARY KEY (scope, scope_id, metric, link, bucket)
		){{clustered}}`,

		// list_counts is delivery_counts for subscriptions: the list
		// report's "current size by status" without counting a million
		// rows.
		`CREATE TABLE list_counts (
			list_id BIGINT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
			status VARCHAR(16) NOT NULL,
			n BIGINT NOT NULL,
			PRIMARY KEY (list_id, status)
		){{clustered}}`,

		`CREATE TABLE webhooks (
			id {{pk}},
			url VARCHAR(2000) NOT NULL,
			events TEXT NOT NULL,
			secret VARCHAR(100) NOT NULL,
			description VARCHAR(400) NOT NULL DEFAULT '',
			created_at {{ts}} NOT NULL
		)`,
		`CREATE TABLE webhook_deliveries (
			id {{pk}},
			webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
			event VARCHAR(40) NOT NULL,
			event_id BIGINT,
			payload TEXT NOT NULL,
			status VARCHAR(16) NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			last_code INTEGER NOT NULL DEFAULT 0,
			last_error VARCHAR(1000) NOT NULL DEFAULT '',
			enqueued_at {{ts}},
			delivered_at {{ts}},
			created_at {{ts}} NOT NULL,
			updated_at {{ts}} NOT NULL
		)`,
		`CREATE INDEX idx_webhook_deliveries_status ON webhook_deliveries (status, id)`,
		`CREATE INDEX idx_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id)`,
		`CREATE TABLE webhook_attempts (
			id {{pk}},
			delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
			attempt INTEGER NOT NULL,
			status_code INTEGER NOT NULL DEFAULT 0,
			error VARCHAR(1000) NOT NULL DEFAULT '',
			duration_ms INTEGER NOT NULL DEFAULT 0,
			created_at {{ts}} NOT NULL
		)`,
		`CREATE INDEX idx_webhook_attempts_delivery ON webhook_attempts (delivery_id, id)`,
	}
	stmts = append(stmts, deliveryCountTriggers[dialect]...)
	stmts = append(stmts, listCountTriggers[dialect]...)
	stmts = append(stmts,
		`INSERT INTO list_counts (list_id, status, n)
			SELECT list_id, status, COUNT(*) FROM subscriptions GROUP BY list_id, status`,
		`INSERT INTO delivery_counts (campaign_id, status, failure_class, n, last_at)
			SELECT campaign_id, status, failure_class, COUNT(*), MAX(sent_at) FROM deliveries
			GROUP BY campaign_id, status, failure_class`,
		`INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n)
			SELECT 'c', campaign_id, 'sent', -1, `+bucketSQL(dialect, "sent_at", 3600)+`, COUNT(*) FROM deliveries
			WHERE status = 'sent' AND sent_at IS NOT NULL GROUP BY 2, 5`,
		`INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n)
			SELECT 'c', campaign_id, 'unsubscribes', -1, `+bucketSQL(dialect, "created_at", 3600)+`, COUNT(DISTINCT subscriber_id) FROM events
			WHERE kind = 'unsubscribed' AND campaign_id IS NOT NULL GROUP BY 2, 5`,
		`INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n)
			SELECT 'l', list_id, kind, -1, `+bucketSQL(dialect, "created_at", 86400)+`, COUNT(*) FROM events
			WHERE kind IN ('subscribed', 'confirmed', 'unsubscribed') AND list_id IS NOT NULL GROUP BY 2, 3, 5`,
	)
	r := strings.NewReplacer(
		"{{pk}}", map[string]string{DialectSQLite: "INTEGER PRIMARY KEY AUTOINCREMENT", DialectPostgres: "BIGSERIAL PRIMARY KEY"}[dialect],
		"{{ts}}", map[string]string{DialectSQLite: "DATETIME", DialectPostgres: "TIMESTAMPTZ"}[dialect],
		"{{bool}}", map[string]string{DialectSQLite: "NUMERIC", DialectPostgres: "BOOLEAN"}[dialect],
		// Counter tables are read by primary-key range: on SQLite,
		// keeping the rows in the key's b-tree halves the lookups.
		"{{clustered}}", map[string]string{DialectSQLite: " WITHOUT ROWID", DialectPostgres: ""}[dialect],
	)
	for _, stmt := range stmts {
		if err := tx.Exec(r.Replace(stmt)).Error; err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil
}

// bucketSQL is the one place that turns a timestamp column into the start
// of its hour or day in unix seconds, for both databases. SQLite keeps
// times as text ("2006-01-02 15:04:05.999999999+00:00"), which strftime
// reads; Postgres has them as timestamptz. Plain arithmetic on the epoch
// avoids any dependence on the session's time zone.
func bucketSQL(dialect, col string, period int) string {
	if dialect == DialectPostgres {
		return fmt.Sprintf("(CAST(FLOOR(EXTRACT(EPOCH FROM %s)) AS BIGINT) / %d * %d)", col, period, period)
	}
	return fmt.Sprintf("(CAST(strftime('%%s', %s) AS INTEGER) / %d * %d)", col, period, period)
}

// deliveryCountTriggers keep delivery_counts (and the hourly "sent"
// counts) in step with deliveries. SQLite has row triggers only; it has
// one writer, and a counter upsert costs about a microsecond. Postgres
// uses statement triggers with transition tables, so a claim or an outcome
// group of a hundred rows costs one upsert per status it touches; rows are
// upserted in key order so two writers take the counter rows' locks in the
// same order.
var deliveryCountTriggers = map[string][]string{
	DialectSQLite: {
		`CREATE TRIGGER trg_delivery_counts_ins AFTER INSERT ON deliveries BEGIN
			INSERT INTO delivery_counts (campaign_id, status, failure_class, n, last_at)
			VALUES (NEW.campaign_id, NEW.status, NEW.failure_class, 1, NEW.sent_at)
			ON CONFLICT (campaign_id, status, failure_class) DO UPDATE SET n = n + 1;
		END`,
		`CREATE TRIGGER trg_delivery_counts_upd AFTER UPDATE OF status, failure_class ON deliveries
		WHEN OLD.status IS NOT NEW.status OR OLD.failure_class IS NOT NEW.failure_class BEGIN
			UPDATE delivery_counts SET n = n - 1
			WHERE campaign_id = OLD.campaign_id AND status = OLD.status AND failure_class = OLD.failure_class;
			INSERT INTO delivery_counts (campaign_id, status, failure_class, n, last_at)
			VALUES (NEW.campaign_id, NEW.status, NEW.failure_class, 1, NEW.sent_at)
			ON CONFLICT (campaign_id, status, failure_class) DO UPDATE SET n = n + 1,
				last_at = CASE WHEN last_at IS NULL OR excluded.last_at > last_at THEN excluded.last_at ELSE last_at END;
		END`,
		`CREATE TRIGGER trg_delivery_counts_sent AFTER UPDATE OF status ON deliveries
		WHEN NEW.status = 'sent' AND OLD.status IS NOT 'sent' AND NEW.sent_at IS NOT NULL BEGIN
			INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n)
			VALUES ('c', NEW.campaign_id, 'sent', -1, ` + bucketSQL(DialectSQLite, "NEW.sent_at", 3600) + `, 1)
			ON CONFLICT (scope, scope_id, metric, link, bucket) DO UPDATE SET n = n + 1;
		END`,
		`CREATE TRIGGER trg_delivery_counts_del AFTER DELETE ON deliveries BEGIN
			UPDATE delivery_counts SET n = n - 1
			WHERE campaign_id = OLD.campaign_id AND status = OLD.status AND failure_class = OLD.failure_class;
		END`,
	},
	DialectPostgres: {
		`CREATE FUNCTION utskick_delivery_counts_ins() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO delivery_counts (campaign_id, status, failure_class, n, last_at)
			SELECT campaign_id, status, failure_class, COUNT(*), MAX(sent_at) FROM nt
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
			ON CONFLICT (campaign_id, status, failure_class) DO UPDATE SET n = delivery_counts.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
		`CREATE FUNCTION utskick_delivery_counts_upd() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO delivery_counts (campaign_id, status, failure_class, n, last_at)
			SELECT campaign_id, status, failure_class, SUM(d), MAX(at) FROM (
				SELECT campaign_id, status, failure_class, 1 AS d, sent_at AS at FROM nt
				UNION ALL
				SELECT campaign_id, status, failure_class, -1, NULL FROM ot) x
			GROUP BY 1, 2, 3 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3
			ON CONFLICT (campaign_id, status, failure_class) DO UPDATE SET n = delivery_counts.n + EXCLUDED.n,
				last_at = GREATEST(delivery_counts.last_at, EXCLUDED.last_at);
			INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n)
			SELECT 'c', nt.campaign_id, 'sent', -1, ` + bucketSQL(DialectPostgres, "nt.sent_at", 3600) + `, COUNT(*)
			FROM nt JOIN ot ON ot.id = nt.id
			WHERE nt.status = 'sent' AND ot.status <> 'sent' AND nt.sent_at IS NOT NULL
			GROUP BY 2, 5 ORDER BY 2, 5
			ON CONFLICT (scope, scope_id, metric, link, bucket) DO UPDATE SET n = stat_counts.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
		`CREATE FUNCTION utskick_delivery_counts_del() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			UPDATE delivery_counts c SET n = c.n - x.n
			FROM (SELECT campaign_id, status, failure_class, COUNT(*) AS n FROM ot GROUP BY 1, 2, 3) x
			WHERE c.campaign_id = x.campaign_id AND c.status = x.status AND c.failure_class = x.failure_class;
			RETURN NULL;
		END $$`,
		`CREATE TRIGGER trg_delivery_counts_ins AFTER INSERT ON deliveries
			REFERENCING NEW TABLE AS nt FOR EACH STATEMENT EXECUTE FUNCTION utskick_delivery_counts_ins()`,
		`CREATE TRIGGER trg_delivery_counts_upd AFTER UPDATE ON deliveries
			REFERENCING OLD TABLE AS ot NEW TABLE AS nt FOR EACH STATEMENT EXECUTE FUNCTION utskick_delivery_counts_upd()`,
		`CREATE TRIGGER trg_delivery_counts_del AFTER DELETE ON deliveries
			REFERENCING OLD TABLE AS ot FOR EACH STATEMENT EXECUTE FUNCTION utskick_delivery_counts_del()`,
	},
}

// listCountTriggers keep list_counts in step with subscriptions, as
// deliveryCountTriggers do for deliveries.
var listCountTriggers = map[string][]string{
	DialectSQLite: {
		`CREATE TRIGGER trg_list_counts_ins AFTER INSERT ON subscriptions BEGIN
			INSERT INTO list_counts (list_id, status, n) VALUES (NEW.list_id, NEW.status, 1)
			ON CONFLICT (list_id, status) DO UPDATE SET n = n + 1;
		END`,
		`CREATE TRIGGER trg_list_counts_upd AFTER UPDATE OF status ON subscriptions
		WHEN OLD.status IS NOT NEW.status BEGIN
			UPDATE list_counts SET n = n - 1 WHERE list_id = OLD.list_id AND status = OLD.status;
			INSERT INTO list_counts (list_id, status, n) VALUES (NEW.list_id, NEW.status, 1)
			ON CONFLICT (list_id, status) DO UPDATE SET n = n + 1;
		END`,
		`CREATE TRIGGER trg_list_counts_del AFTER DELETE ON subscriptions BEGIN
			UPDATE list_counts SET n = n - 1 WHERE list_id = OLD.list_id AND status = OLD.status;
		END`,
	},
	DialectPostgres: {
		`CREATE FUNCTION utskick_list_counts_ins() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO list_counts (list_id, status, n)
			SELECT list_id, status, COUNT(*) FROM nt GROUP BY 1, 2 ORDER BY 1, 2
			ON CONFLICT (list_id, status) DO UPDATE SET n = list_counts.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
		`CREATE FUNCTION utskick_list_counts_upd() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO list_counts (list_id, status, n)
			SELECT list_id, status, SUM(d) FROM (
				SELECT list_id, status, 1 AS d FROM nt
				UNION ALL
				SELECT list_id, status, -1 FROM ot) x
			GROUP BY 1, 2 HAVING SUM(d) <> 0 ORDER BY 1, 2
			ON CONFLICT (list_id, status) DO UPDATE SET n = list_counts.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
		`CREATE FUNCTION utskick_list_counts_del() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			UPDATE list_counts c SET n = c.n - x.n
			FROM (SELECT list_id, status, COUNT(*) AS n FROM ot GROUP BY 1, 2) x
			WHERE c.list_id = x.list_id AND c.status = x.status;
			RETURN NULL;
		END $$`,
		`CREATE TRIGGER trg_list_counts_ins AFTER INSERT ON subscriptions
			REFERENCING NEW TABLE AS nt FOR EACH STATEMENT EXECUTE FUNCTION utskick_list_counts_ins()`,
		`CREATE TRIGGER trg_list_counts_upd AFTER UPDATE ON subscriptions
			REFERENCING OLD TABLE AS ot NEW TABLE AS nt FOR EACH STATEMENT EXECUTE FUNCTION utskick_list_counts_upd()`,
		`CREATE TRIGGER trg_list_counts_del AFTER DELETE ON subscriptions
			REFERENCING OLD TABLE AS ot FOR EACH STATEMENT EXECUTE FUNCTION utskick_list_counts_del()`,
	},
}
