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
	b, err := json.Marshal(map[string]any(a))
	if err != nil {
		return nil, fmt.Errorf("encode attributes: %w", err)
	}
	return string(b), nil
}

// Scan implements sql.Scanner.
func (a *Attributes) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		*a = Attributes{}
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("scan attributes: unexpected %T", v)
	}
	m := Attributes{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("scan attributes: %w", err)
		}
	}
	*a = m
	return nil
}

// JSONMap is event data: a small JSON object in a text column.
type JSONMap = Attributes
