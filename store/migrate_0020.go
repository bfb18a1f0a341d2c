package store

import (
	"fmt"

	"gorm.io/gorm"
)

// migrate0020 adds the withdrawal mark (WithdrawalMark): a count that
// triggers raise with every change that can take someone out of a
// campaign's audience while it is being sent: a confirmed subscription
// changed or removed, a subscriber deleted or given another address, an
// address suppressed, a list taken off a campaign. Senders used the
// newest event's id for this, which was sound on SQLite only (Postgres
// takes ids at insert, so an event can become visible below one already
// seen), and so on Postgres every sender looked at its whole batch again
// every 50 ms: a third of the database's CPU in a send.
//
// On Postgres each session adds to a shard of its own, as the counters of
// 0015 do, so concurrent unsubscribes never wait on one row; the mark is
// their sum, which only grows, so an unchanged sum means no such change
// committed in between. SQLite has one writer, so one row serves.
func migrate0020(tx *gorm.DB, dialect string) error {
	stmts := []string{`CREATE TABLE withdrawal_shards (shard SMALLINT PRIMARY KEY, n BIGINT NOT NULL)`}
	if dialect == DialectPostgres {
		stmts = append(stmts,
			`CREATE FUNCTION utskick_withdrawal() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				INSERT INTO withdrawal_shards (shard, n) VALUES (utskick_counter_shard(), 1)
				ON CONFLICT (shard) DO UPDATE SET n = withdrawal_shards.n + 1;
				RETURN NULL;
			END $$`,
			// Only a subscription that was confirmed can be withdrawn; the
			// other tables' changes count whatever they touched.
			`CREATE FUNCTION utskick_withdrawal_subscriptions() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF EXISTS (SELECT 1 FROM ot WHERE status = 'confirmed') THEN
					INSERT INTO withdrawal_shards (shard, n) VALUES (utskick_counter_shard(), 1)
					ON CONFLICT (shard) DO UPDATE SET n = withdrawal_shards.n + 1;
				END IF;
				RETURN NULL;
			END $$`,
			`CREATE TRIGGER trg_withdrawal_subscriptions_upd AFTER UPDATE ON subscriptions
				REFERENCING OLD TABLE AS ot FOR EACH STATEMENT EXECUTE FUNCTION utskick_withdrawal_subscriptions()`,
			`CREATE TRIGGER trg_withdrawal_subscriptions_del AFTER DELETE ON subscriptions
				REFERENCING OLD TABLE AS ot FOR EACH STATEMENT EXECUTE FUNCTION utskick_withdrawal_subscriptions()`,
			`CREATE TRIGGER trg_withdrawal_subscribers AFTER UPDATE OF email_hash OR DELETE ON subscribers
				FOR EACH STATEMENT EXECUTE FUNCTION utskick_withdrawal()`,
			`CREATE TRIGGER trg_withdrawal_suppressions AFTER INSERT OR UPDATE OF email_hash ON suppressions
				FOR EACH STATEMENT EXECUTE FUNCTION utskick_withdrawal()`,
			`CREATE TRIGGER trg_withdrawal_campaign_lists AFTER UPDATE OR DELETE ON campaign_lists
				FOR EACH STATEMENT EXECUTE FUNCTION utskick_withdrawal()`,
		)
	} else {
		const bump = `BEGIN UPDATE withdrawal_shards SET n = n + 1 WHERE shard = 0; END`
		stmts = append(stmts,
			`INSERT INTO withdrawal_shards (shard, n) VALUES (0, 0)`,
			`CREATE TRIGGER trg_withdrawal_subscriptions_upd AFTER UPDATE ON subscriptions
				WHEN OLD.status = 'confirmed' `+bump,
			`CREATE TRIGGER trg_withdrawal_subscriptions_del AFTER DELETE ON subscriptions
				WHEN OLD.status = 'confirmed' `+bump,
			`CREATE TRIGGER trg_withdrawal_subscribers_upd AFTER UPDATE OF email_hash ON subscribers `+bump,
			`CREATE TRIGGER trg_withdrawal_subscribers_del AFTER DELETE ON subscribers `+bump,
			`CREATE TRIGGER trg_withdrawal_suppressions_ins AFTER INSERT ON suppressions `+bump,
			`CREATE TRIGGER trg_withdrawal_suppressions_upd AFTER UPDATE OF email_hash ON suppressions `+bump,
			`CREATE TRIGGER trg_withdrawal_campaign_lists_upd AFTER UPDATE ON campaign_lists `+bump,
			`CREATE TRIGGER trg_withdrawal_campaign_lists_del AFTER DELETE ON campaign_lists `+bump,
		)
	}
	for _, stmt := range stmts {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil
}
