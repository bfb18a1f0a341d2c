package store

import (
	"fmt"

	"gorm.io/gorm"
)

// migrate0012 makes the staff's subscriber search an index lookup at
// any size (see searchExprs): one expression index per kind of word a
// person is looked up by. On Postgres the indexes use text_pattern_ops,
// so that LIKE 'prefix%' is a range scan whatever the database's
// collation. It also records the staff user who started an import from
// the web workspace, as token_id records the API token.
func migrate0012(tx *gorm.DB, dialect string) error {
	ops := ""
	if dialect == DialectPostgres {
		ops = " text_pattern_ops"
	}
	pos := "instr"
	if dialect == DialectPostgres {
		pos = "strpos"
	}
	after := func(col, sep string) string {
		return "lower(substr(" + col + ", " + pos + "(" + col + ", '" + sep + "') + 1))"
	}
	// The expressions as released; searchExprs has moved on (0019).
	stmts := []string{}
	for _, e := range []searchExpr{
		{"idx_subscribers_search_email", "lower(email)"},
		{"idx_subscribers_search_domain", after("email", "@")},
		{"idx_subscribers_search_name", "lower(name)"},
		{"idx_subscribers_search_surname", after("name", " ")},
	} {
		stmts = append(stmts, fmt.Sprintf("CREATE INDEX %s ON subscribers ((%s)%s)", e.index, e.expr, ops))
	}
	stmts = append(stmts, "ALTER TABLE imports ADD COLUMN user_id BIGINT")
	for _, q := range stmts {
		if err := tx.Exec(q).Error; err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
