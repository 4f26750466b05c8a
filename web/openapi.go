package web

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"
)

// openAPIYAML is the API's OpenAPI 3.1 document, written by hand; its paths
// are relative to the prefix. openapi_test.go checks real answers of every
// route against it.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIDoc is the document decoded once, as JSON values.
var openAPIDoc = sync.OnceValues(func() (map[string]any, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	m, ok := jsonValue(doc).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi.yaml: the document is not a mapping")
	}
	return m, nil
})

// openAPIByPrefix caches the served JSON per prefix (one per server, in practice).
var openAPIByPrefix sync.Map

// openAPIJSON returns the OpenAPI document as JSON with servers set to prefix.
func openAPIJSON(prefix string) ([]byte, error) {
	if b, ok := openAPIByPrefix.Load(prefix); ok {
		return b.([]byte), nil
	}
	doc, err := openAPIDoc()
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		out[k] = v
	}
	out["servers"] = []any{map[string]any{"url": prefix}}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: encode as JSON: %w", err)
	}
	openAPIByPrefix.Store(prefix, b)
	return b, nil
}

// jsonValue turns what yaml.v3 decodes into values encoding/json can
// marshal: mappings with non-string keys (such as unquoted status codes)
// get their keys as strings.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonValue(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonValue(e)
		}
		return v
	default:
		return v
	}
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := openAPIJSON(s.cfg.Prefix)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
