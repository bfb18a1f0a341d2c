package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// Attributes are free-form subscriber attributes (municipality, role, ...),
// kept as a JSON object in a text column so that SQLite and Postgres store
// them the same way.
type Attributes map[string]any

// Value implements driver.Valuer.
func (a Attributes) Value() (driver.Value, error) {
	if a == nil {
		return "{}", nil
	}
	return jsonValue(map[string]any(a), "attributes")
}

// Scan implements sql.Scanner.
func (a *Attributes) Scan(v any) error {
	m := Attributes{}
	if err := scanJSON(v, &m, "attributes"); err != nil {
		return err
	}
	*a = m
	return nil
}

// jsonValue encodes v for a text column holding JSON.
func jsonValue(v any, what string) (driver.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return string(b), nil
}

// scanJSON decodes a text column holding JSON into dst; NULL and the empty
// string leave dst as it is.
func scanJSON(src, dst any, what string) error {
	var b []byte
	switch x := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("scan %s: unexpected %T", what, src)
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("scan %s: %w", what, err)
	}
	return nil
}

// JSONMap is event data: a small JSON object in a text column.
type JSONMap = Attributes
