package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"
)

// openAPIYAML is the OpenAPI 3.1 description of /api/v1. It is written as
// YAML, which takes long descriptions and comments well, and served as
// JSON, which every tool reads.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// apiDoc is the description as served: JSON converted once at start, and
// the ETag of that JSON.
type apiDoc struct {
	json []byte
	etag string
}

// loadAPIDoc converts the description once per process (it takes tens of
// milliseconds) and hands every Server the same bytes.
var loadAPIDoc = sync.OnceValues(func() (apiDoc, error) {
	b, err := yamlToJSON(openAPIYAML)
	if err != nil {
		return apiDoc{}, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	sum := sha256.Sum256(b)
	return apiDoc{json: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}, nil
})

// openAPI serves the description. It needs no token, so that tools can
// fetch it; it changes only with the binary, so clients may keep it a
// while and revalidate by ETag.
func (s *Server) openAPI(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", s.doc.etag)
	if etagMatches(c.Request().Header.Get("If-None-Match"), s.doc.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSONBlob(http.StatusOK, s.doc.json)
}

// etagMatches applies If-None-Match (RFC 9110, section 13.1.2): a list of
// tags, weak or strong, or "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// yamlToJSON converts a YAML document to JSON, keeping every scalar as
// YAML typed it: a quoted "200" stays a string, an unquoted date stays the
// text it was rather than becoming a time.
func yamlToJSON(src []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	v, err := jsonValue(&root)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // descriptions hold <token> and the like
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func jsonValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one document", n.Line)
		}
		return jsonValue(n.Content[0])
	case yaml.AliasNode:
		return jsonValue(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: keys must be plain scalars", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", k.Line, k.Value)
			}
			v, err := jsonValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := jsonValue(c)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, err
			}
			return b, nil
		case "!!int", "!!float":
			if !json.Valid([]byte(n.Value)) { // 0x1f, 1_000, .inf
				return nil, fmt.Errorf("line %d: %q is not a JSON number", n.Line, n.Value)
			}
			return json.Number(n.Value), nil
		}
		return n.Value, nil // !!str, !!timestamp, !!binary: the text as written
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}
