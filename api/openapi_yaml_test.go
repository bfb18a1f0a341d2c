package api

import (
	"strings"
	"testing"
)

// TestYAMLToJSONKeepsScalarsAsWritten checks the conversion the served
// document goes through: strings stay strings (a quoted status code, an
// unquoted date), numbers and booleans keep their type, and what JSON
// cannot say is an error naming the line.
func TestYAMLToJSONKeepsScalarsAsWritten(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, json, err string
	}{
		{"quoted key", "'200': {description: ok}", `{"200":{"description":"ok"}}`, ""},
		{"date stays text", "example: 2026-12-01", `{"example":"2026-12-01"}`, ""},
		{"time stays text", "example: 2026-12-01T08:00:00+01:00", `{"example":"2026-12-01T08:00:00+01:00"}`, ""},
		{"version stays text", "openapi: 3.1.0", `{"openapi":"3.1.0"}`, ""},
		{"numbers", "a: 200\nb: -1.5\nc: 500000", `{"a":200,"b":-1.5,"c":500000}`, ""},
		{"booleans and null", "a: true\nb: false\nc: null\nd: ~", `{"a":true,"b":false,"c":null,"d":null}`, ""},
		{"no HTML escaping", "d: 'Bearer <token> & more'", `{"d":"Bearer <token> & more"}`, ""},
		{"block text", "d: |\n  one\n  two\n", `{"d":"one\ntwo\n"}`, ""},
		{"alias", "a: &x {b: 1}\nc: *x", `{"a":{"b":1},"c":{"b":1}}`, ""},
		{"hex number", "a: 0x1F", "", "line 1"},
		{"infinity", "a: .inf", "", "line 1"},
		{"map key", "? {a: 1}\n: b", "", "keys must be plain scalars"},
		{"broken", "a: [1", "", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := yamlToJSON([]byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q (got %s)", err, tc.err, got)
				}
				return
			}
			if err != nil || string(got) != tc.json {
				t.Fatalf("got %s, %v; want %s", got, err, tc.json)
			}
		})
	}
}
