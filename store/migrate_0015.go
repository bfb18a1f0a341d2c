package store

import (
	"fmt"

	"gorm.io/gorm"
)

// migrate0015 shards the counters on Postgres. delivery_counts and
// list_counts kept one row per campaign (list) and status, which every
// writing transaction updated: the sender's outcome group, and each of
// fifty people unsubscribing at once after a send, all queued on the same
// few row locks until their transactions committed. Now each Postgres
// session adds its deltas to a shard of its own (its backend pid modulo
// counterShards), so concurrent writers do not wait for each other, and
// the old names are views that add the shards up: every reader keeps its
// query, and the numbers stay exact (a delta and the change it counts
// commit together, as before).
//
// SQLite has one writer at a time anyway, so its counters stay as they
// were; the step is recorded there and changes nothing.
func migrate0015(tx *gorm.DB, dialect string) error {
	if dialect != DialectPostgres {
		return nil
	}
	stmts := []string{
		`ALTER TABLE delivery_counts RENAME TO delivery_count_shards`,
		`ALTER TABLE delivery_count_shards ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0`,
		`ALTER TABLE delivery_count_shards DROP CONSTRAINT delivery_counts_pkey`,
		`ALTER TABLE delivery_count_shards ADD PRIMARY KEY (campaign_id, status, failure_class, shard)`,
		`CREATE VIEW delivery_counts AS
			SELECT campaign_id, status, failure_class, CAST(SUM(n) AS BIGINT) AS n, MAX(last_at) AS last_at
			FROM delivery_count_shards GROUP BY campaign_id, status, failure_class`,
		`ALTER TABLE list_counts RENAME TO list_count_shards`,
		`ALTER TABLE list_count_shards ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0`,
		`ALTER TABLE list_count_shards DROP CONSTRAINT list_counts_pkey`,
		`ALTER TABLE list_count_shards ADD PRIMARY KEY (list_id, status, shard)`,
		`CREATE VIEW list_counts AS
			SELECT list_id, status, CAST(SUM(n) AS BIGINT) AS n FROM list_count_shards GROUP BY list_id, status`,
		fmt.Sprintf(`CREATE FUNCTION utskick_counter_shard() RETURNS smallint LANGUAGE sql STABLE AS
			'SELECT CAST(pg_backend_pid() %% %d AS smallint)'`, counterShards),
		`CREATE OR REPLACE FUNCTION utskick_delivery_counts_ins() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO delivery_count_shards (campaign_id, status, failure_class, shard, n, last_at)
			SELECT campaign_id, status, failure_class, utskick_counter_shard(), COUNT(*), MAX(sent_at) FROM nt
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
			ON CONFLICT (campaign_id, status, failure_class, shard) DO UPDATE SET n = delivery_count_shards.n + EXCLUDED.n,
				last_at = GREATEST(delivery_count_shards.last_at, EXCLUDED.last_at);
			RETURN NULL;
		END $$`,
		`CREATE OR REPLACE FUNCTION utskick_delivery_counts_upd() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO delivery_count_shards (campaign_id, status, failure_class, shard, n, last_at)
			SELECT campaign_id, status, failure_class, utskick_counter_shard(), SUM(d), MAX(at) FROM (
				SELECT campaign_id, status, failure_class, 1 AS d, sent_at AS at FROM nt
				UNION ALL
				SELECT campaign_id, status, failure_class, -1, NULL FROM ot) x
			GROUP BY 1, 2, 3 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3
			ON CONFLICT (campaign_id, status, failure_class, shard) DO UPDATE SET n = delivery_count_shards.n + EXCLUDED.n,
				last_at = GREATEST(delivery_count_shards.last_at, EXCLUDED.last_at);
			INSERT INTO stat_counts (scope, scope_id, metric, link, bucket, n)
			SELECT 'c', nt.campaign_id, 'sent', -1, ` + bucketSQL(DialectPostgres, "nt.sent_at", 3600) + `, COUNT(*)
			FROM nt JOIN ot ON ot.id = nt.id
			WHERE nt.status = 'sent' AND ot.status <> 'sent' AND nt.sent_at IS NOT NULL
			GROUP BY 2, 5 ORDER BY 2, 5
			ON CONFLICT (scope, scope_id, metric, link, bucket) DO UPDATE SET n = stat_counts.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
		// A deletion adds a negative delta to this session's shard: the
		// sum is what counts, and no other session's row is touched.
		`CREATE OR REPLACE FUNCTION utskick_delivery_counts_del() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO delivery_count_shards (campaign_id, status, failure_class, shard, n, last_at)
			SELECT ot.campaign_id, ot.status, ot.failure_class, utskick_counter_shard(), -COUNT(*), NULL FROM ot
			WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = ot.campaign_id)
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
			ON CONFLICT (campaign_id, status, failure_class, shard) DO UPDATE SET n = delivery_count_shards.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
		`CREATE OR REPLACE FUNCTION utskick_list_counts_ins() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO list_count_shards (list_id, status, shard, n)
			SELECT list_id, status, utskick_counter_shard(), COUNT(*) FROM nt GROUP BY 1, 2 ORDER BY 1, 2
			ON CONFLICT (list_id, status, shard) DO UPDATE SET n = list_count_shards.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
		`CREATE OR REPLACE FUNCTION utskick_list_counts_upd() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO list_count_shards (list_id, status, shard, n)
			SELECT list_id, status, utskick_counter_shard(), SUM(d) FROM (
				SELECT list_id, status, 1 AS d FROM nt
				UNION ALL
				SELECT list_id, status, -1 FROM ot) x
			GROUP BY 1, 2 HAVING SUM(d) <> 0 ORDER BY 1, 2
			ON CONFLICT (list_id, status, shard) DO UPDATE SET n = list_count_shards.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
		`CREATE OR REPLACE FUNCTION utskick_list_counts_del() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO list_count_shards (list_id, status, shard, n)
			SELECT ot.list_id, ot.status, utskick_counter_shard(), -COUNT(*) FROM ot
			WHERE EXISTS (SELECT 1 FROM lists l WHERE l.id = ot.list_id)
			GROUP BY 1, 2 ORDER BY 1, 2
			ON CONFLICT (list_id, status, shard) DO UPDATE SET n = list_count_shards.n + EXCLUDED.n;
			RETURN NULL;
		END $$`,
	}
	for _, stmt := range stmts {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil
}

// counterShards is how many rows a Postgres counter is spread over: more
// than the connections that write at once in a typical deployment (the
// pool's default is 10 per process), few enough that a report adds up a
// handful of rows.
const counterShards = 16
