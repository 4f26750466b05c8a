package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tasker-systems/tasker/web"
)

// The OpenAPI document (openapi.yaml) is checked three ways: it covers
// exactly the routes of the route table with their permissions, it is what
// GET {prefix}/openapi.json serves, and real answers of every route — their
// statuses, content types and bodies — conform to it.

const oasDocURL = "https://tasker.test/openapi.json"

var oasMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// apiDoc is openapi.yaml decoded, with its schemas compiled on demand.
type apiDoc struct {
	raw      map[string]any // as encoding/json decodes it
	ops      []*operation
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	schemas  map[string]*jsonschema.Schema
}

// operation is one method of one path of the document.
type operation struct {
	method  string // upper case, as in the route table
	path    string // as in the document, relative to the prefix
	pointer string // JSON pointer of the operation object
	obj     map[string]any
	params  []map[string]any // path-level and operation-level parameters
	re      *regexp.Regexp
	literal int // literal segments, to prefer /a/b over /a/{x}
}

func (o *operation) key() string { return o.method + " " + o.path }

func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// yamlToJSON converts openapi.yaml to JSON as encoding/json would write it.
func yamlToJSON(t *testing.T, src []byte) []byte {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal(src, &v))
	b, err := json.Marshal(v)
	require.NoError(t, err, "openapi.yaml must use string keys only (quote status codes)")
	return b
}

func loadDoc(t *testing.T) *apiDoc {
	t.Helper()
	src, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	js := yamlToJSON(t, src)
	d := &apiDoc{schemas: map[string]*jsonschema.Schema{}}
	require.NoError(t, json.Unmarshal(js, &d.raw))

	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	require.NoError(t, err)
	d.compiler = jsonschema.NewCompiler()
	d.compiler.DefaultDraft(jsonschema.Draft2020)
	d.compiler.AssertFormat()
	require.NoError(t, d.compiler.AddResource(oasDocURL, inst))

	paths, _ := d.raw["paths"].(map[string]any)
	for path, item := range paths {
		itemObj := item.(map[string]any)
		var pathParams []map[string]any
		if ps, ok := itemObj["parameters"].([]any); ok {
			for _, p := range ps {
				pathParams = append(pathParams, d.deref(t, p.(map[string]any)))
			}
		}
		segs := strings.Split(strings.Trim(path, "/"), "/")
		var re strings.Builder
		lit := 0
		for _, s := range segs {
			re.WriteString("/")
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				re.WriteString("[^/]+")
			} else {
				re.WriteString(regexp.QuoteMeta(s))
				lit++
			}
		}
		for _, m := range oasMethods {
			opObj, ok := itemObj[m].(map[string]any)
			if !ok {
				continue
			}
			op := &operation{method: strings.ToUpper(m), path: path, obj: opObj,
				pointer: "/paths/" + escapeToken(path) + "/" + m,
				re:      regexp.MustCompile("^" + re.String() + "$"), literal: lit}
			op.params = append(op.params, pathParams...)
			if ps, ok := opObj["parameters"].([]any); ok {
				for _, p := range ps {
					op.params = append(op.params, d.deref(t, p.(map[string]any)))
				}
			}
			d.ops = append(d.ops, op)
		}
	}
	sort.Slice(d.ops, func(i, j int) bool { return d.ops[i].key() < d.ops[j].key() })
	return d
}

// lookup follows a local JSON pointer ("#/components/...") in the document.
func (d *apiDoc) lookup(t *testing.T, ref string) (any, bool) {
	t.Helper()
	require.True(t, strings.HasPrefix(ref, "#/"), "only local references are used: %s", ref)
	var v any = d.raw
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

// deref returns obj, or what its $ref names.
func (d *apiDoc) deref(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	ref, ok := obj["$ref"].(string)
	if !ok {
		return obj
	}
	v, ok := d.lookup(t, ref)
	require.True(t, ok, "$ref %s does not resolve", ref)
	return v.(map[string]any)
}

// response returns the documented response of op for status and its JSON
// pointer (following a $ref to components/responses).
func (d *apiDoc) response(t *testing.T, op *operation, status int) (map[string]any, string, bool) {
	t.Helper()
	responses := op.obj["responses"].(map[string]any)
	r, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		return nil, "", false
	}
	ptr := op.pointer + "/responses/" + strconv.Itoa(status)
	if ref, ok := r["$ref"].(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
		r = d.deref(t, r)
	}
	return r, ptr, true
}

func (d *apiDoc) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.schemas[ptr]; ok {
		return s
	}
	s, err := d.compiler.Compile(oasDocURL + "#" + ptr)
	require.NoError(t, err, "compile the schema at %s", ptr)
	d.schemas[ptr] = s
	return s
}

func (d *apiDoc) find(method, path string) *operation {
	var best *operation
	for _, op := range d.ops {
		if op.method == method && op.re.MatchString(path) && (best == nil || op.literal > best.literal) {
			best = op
		}
	}
	return best
}

func TestOpenAPIDocumentCoversEveryRouteWithItsPermission(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	require.Equal(t, "3.1.0", d.raw["openapi"])
	schemes := d.raw["components"].(map[string]any)["securitySchemes"].(map[string]any)
	require.Equal(t, map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
		"description": schemes["bearerAuth"].(map[string]any)["description"]}, schemes["bearerAuth"])
	require.Equal(t, "apiKey", schemes["apiKey"].(map[string]any)["type"])
	require.Equal(t, "header", schemes["apiKey"].(map[string]any)["in"])
	require.Equal(t, "X-API-Key", schemes["apiKey"].(map[string]any)["name"])

	s := web.New(web.Config{Logger: slog.New(slog.DiscardHandler)})
	byKey := map[string]*operation{}
	for _, op := range d.ops {
		byKey[op.key()] = op
	}
	routes := map[string]bool{}
	for _, rt := range s.Routes() {
		key := rt.Method + " " + rt.Path
		require.False(t, routes[key], "route %s listed twice", key)
		routes[key] = true
		op, ok := byKey[key]
		require.True(t, ok, "route %s has no operation in openapi.yaml", key)
		security, ok := op.obj["security"].([]any)
		require.True(t, ok, "%s: security must be listed", key)
		if rt.Permission == "" {
			require.NotContains(t, op.obj, "x-permission", "%s is open", key)
			require.Empty(t, security, "%s is open: security must be []", key)
			continue
		}
		require.Equal(t, rt.Permission, op.obj["x-permission"], "%s: x-permission", key)
		require.NotEmpty(t, security, "%s is protected", key)
		for _, req := range security {
			for name := range req.(map[string]any) {
				require.Contains(t, schemes, name, "%s: unknown security scheme", key)
			}
		}
		for _, status := range []int{401, 403} {
			_, _, ok := d.response(t, op, status)
			require.True(t, ok, "%s is protected: it must document %d", key, status)
		}
	}
	for key := range byKey {
		require.True(t, routes[key], "openapi.yaml documents %s, which is no route", key)
	}

	// Every operation is complete and every schema compiles.
	ids := map[string]bool{}
	paramRe := regexp.MustCompile(`\{([^}]+)\}`)
	for _, op := range d.ops {
		key := op.key()
		opID, _ := op.obj["operationId"].(string)
		require.NotEmpty(t, opID, "%s: operationId", key)
		require.False(t, ids[opID], "operationId %s used twice", opID)
		ids[opID] = true
		require.NotEmpty(t, op.obj["summary"], "%s: summary", key)

		var inPath []string
		for _, p := range op.params {
			require.NotNil(t, p["schema"], "%s: parameter %v has no schema", key, p["name"])
			d.schema(t, schemaPointerOf(t, d, op, p))
			if p["in"] == "path" {
				require.Equal(t, true, p["required"], "%s: path parameter %v must be required", key, p["name"])
				inPath = append(inPath, p["name"].(string))
			}
		}
		var want []string
		for _, m := range paramRe.FindAllStringSubmatch(op.path, -1) {
			want = append(want, m[1])
		}
		slices.Sort(inPath)
		slices.Sort(want)
		require.Equal(t, want, inPath, "%s: path parameters", key)

		if rb, ok := op.obj["requestBody"].(map[string]any); ok {
			content := rb["content"].(map[string]any)
			require.Contains(t, content, "application/json", "%s: request body", key)
			d.schema(t, op.pointer+"/requestBody/content/application~1json/schema")
		}

		responses := op.obj["responses"].(map[string]any)
		success := false
		for code := range responses {
			status, err := strconv.Atoi(code)
			require.NoError(t, err, "%s: response %q must be a status code", key, code)
			success = success || status/100 == 2
			r, ptr, _ := d.response(t, op, status)
			require.NotEmpty(t, r["description"], "%s %d: description", key, status)
			content, ok := r["content"].(map[string]any)
			require.True(t, ok && len(content) == 1, "%s %d: exactly one content type", key, status)
			for mt := range content {
				if status >= 400 && op.path != "/health/ready" {
					require.Equal(t, "application/problem+json", mt, "%s %d", key, status)
					require.Equal(t, "#/components/schemas/Problem",
						content[mt].(map[string]any)["schema"].(map[string]any)["$ref"], "%s %d", key, status)
				} else if op.path == "/metrics" {
					require.Equal(t, "text/plain", mt, "%s %d: the Prometheus text format", key, status)
				} else if op.path == "/events/stream" {
					require.Equal(t, "text/event-stream", mt, "%s %d: server-sent events", key, status)
				} else {
					require.Equal(t, "application/json", mt, "%s %d", key, status)
				}
				d.schema(t, ptr+"/content/"+escapeToken(mt)+"/schema")
			}
		}
		require.True(t, success, "%s documents no success status", key)
	}
	for name := range d.raw["components"].(map[string]any)["schemas"].(map[string]any) {
		d.schema(t, "/components/schemas/"+escapeToken(name))
	}
	checkRefs(t, d, d.raw, "")
}

// schemaPointerOf returns the JSON pointer of a parameter's schema.
func schemaPointerOf(t *testing.T, d *apiDoc, op *operation, p map[string]any) string {
	t.Helper()
	for _, where := range []string{op.pointer, op.pointer[:strings.LastIndex(op.pointer, "/")]} {
		ps, _ := d.lookup(t, "#"+where+"/parameters")
		list, _ := ps.([]any)
		for i, raw := range list {
			if d.deref(t, raw.(map[string]any))["name"] == p["name"] {
				if ref, ok := raw.(map[string]any)["$ref"].(string); ok {
					return strings.TrimPrefix(ref, "#") + "/schema"
				}
				return fmt.Sprintf("%s/parameters/%d/schema", where, i)
			}
		}
	}
	t.Fatalf("%s: parameter %v not found", op.key(), p["name"])
	return ""
}

// checkRefs makes sure every $ref of the document resolves.
func checkRefs(t *testing.T, d *apiDoc, v any, at string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if ref, ok := e.(string); ok && k == "$ref" {
				_, found := d.lookup(t, ref)
				require.True(t, found, "%s: $ref %s does not resolve", at, ref)
				continue
			}
			checkRefs(t, d, e, at+"/"+k)
		}
	case []any:
		for i, e := range v {
			checkRefs(t, d, e, fmt.Sprintf("%s/%d", at, i))
		}
	}
}

// The served document is openapi.yaml as JSON, with servers naming the
// configured prefix.
func TestOpenAPIServedIsTheYAMLWithThePrefix(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.New(web.Config{Prefix: "/api/v2/", Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/v2/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var served map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&served))

	src, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var want map[string]any
	require.NoError(t, json.Unmarshal(yamlToJSON(t, src), &want))
	require.Equal(t, []any{map[string]any{"url": "/tasker"}}, want["servers"], "the YAML names the default prefix")
	want["servers"] = []any{map[string]any{"url": "/api/v2"}}
	require.Equal(t, want, served)
}
