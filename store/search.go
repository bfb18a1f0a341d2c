package store

import (
	"strings"

	"gorm.io/gorm"
)

// searchExpr is one kind of word a person is found by, and the index
// (migration 0012) that holds it.
type searchExpr struct {
	index, expr string
}

// searchExprs are what the staff search matches the start of: the
// address, its domain, the name, and the name after its first space
// (mostly the surname). Each has an expression index, so a search is a
// few range scans rather than a pass over every subscriber (0.5 s at a
// million on SQLite; see docs/benchmarks.md). The expressions must be
// written exactly as the indexes are for the planner to use them.
func searchExprs(dialect string) []searchExpr {
	pos := "instr"
	if dialect == DialectPostgres {
		pos = "strpos"
	}
	after := func(col, sep string) string {
		return "lower(substr(" + col + ", " + pos + "(" + col + ", '" + sep + "') + 1))"
	}
	return []searchExpr{
		{"idx_subscribers_search_email", "lower(email)"},
		{"idx_subscribers_search_domain", after("email", "@")},
		// name_fold is the name in lower case by Unicode's rules (Fold,
		// migration 0019); SQLite's lower() would leave "Å" as it is.
		{"idx_subscribers_search_name", "name_fold"},
		{"idx_subscribers_search_surname", "substr(name_fold, " + pos + "(name_fold, ' ') + 1)"},
	}
}

// searchDense is how many index matches make a search "common": past it
// the page is found by walking subscribers in id order and testing each,
// which stops after a page of matches, instead of sorting every match.
const searchDense = 5000

// searchVariants are the forms of the term to look up: the term folded
// as the names are (Fold). Addresses are stored in lower case, with only
// ASCII before the @, so lower(email) is their folded form on both
// databases.
func searchVariants(term string) []string {
	return []string{Fold(strings.TrimSpace(term))}
}

// searchCond is the SQL condition "some search word of subscribers
// starts with the term", with its arguments, on the given dialect.
func searchCond(dialect, table, term string) (string, []any) {
	var parts []string
	var args []any
	for _, e := range searchExprs(dialect) {
		expr := strings.NewReplacer("email", table+".email", "name", table+".name").Replace(e.expr)
		for _, v := range searchVariants(term) {
			if dialect == DialectPostgres {
				// text_pattern_ops's own byte-order operators: unlike
				// LIKE with a parameter, they keep to the index in a
				// generic plan too (pgx prepares statements, and after
				// five runs Postgres may plan for any parameter).
				parts = append(parts, "("+expr+" ~>=~ ? AND "+expr+" ~<~ ?)")
				args = append(args, v, v+"\U0010FFFF")
			} else {
				// SQLite uses an index for LIKE only with case-sensitive
				// LIKE; a range on the byte order does the same.
				parts = append(parts, "("+expr+" >= ? AND "+expr+" < ?)")
				args = append(args, v, v+"\U0010FFFF")
			}
		}
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

// searchIDs is the set of subscriber ids the term matches, as a
// subquery for IN, one index range per expression; and whether the
// matches are past searchDense, in which case the caller should rather
// walk in id order.
func (s *Store) searchIDs(db *gorm.DB, term string) (*gorm.DB, bool, error) {
	var subs []string
	var args []any
	for _, e := range searchExprs(s.dialect) {
		for _, v := range searchVariants(term) {
			if s.dialect == DialectPostgres {
				subs = append(subs, "SELECT id FROM subscribers WHERE "+e.expr+" ~>=~ ? AND "+e.expr+" ~<~ ?")
				args = append(args, v, v+"\U0010FFFF")
			} else {
				subs = append(subs, "SELECT id FROM subscribers WHERE "+e.expr+" >= ? AND "+e.expr+" < ?")
				args = append(args, v, v+"\U0010FFFF")
			}
		}
	}
	union := strings.Join(subs, " UNION ALL ")
	var n int64
	if err := db.Raw("SELECT COUNT(*) FROM ("+union+" LIMIT ?) AS m", append(append([]any{}, args...), searchDense+1)...).Scan(&n).Error; err != nil {
		return nil, false, err
	}
	return db.Raw(union, args...), n > searchDense, nil
}
