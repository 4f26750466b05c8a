package web_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/auth"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/events"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/core/telemetry"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/plugins"
	"github.com/tasker-systems/tasker/web"
)

// conformance sends real requests to a real server over a real database and
// checks each answer against the document.
type conformance struct {
	doc      *apiDoc
	api      *web.Server
	srv      *httptest.Server
	base     string
	store    *store.Store
	registry *registry.Registry
	metrics  http.Handler
	ctx      context.Context
	mu       sync.Mutex
	tested   map[string]map[int]int // operation -> status -> answers checked
}

const (
	oasStrongKey = "tsk_openapi-test-strong-key"
	oasWeakKey   = "tsk_openapi-test-weak-key"
)

// authServer serves the same node with authorization on (health/status
// included), and returns its URL with the prefix.
func (cf *conformance) authServer(t *testing.T) string {
	t.Helper()
	sum := func(key string) string { h := sha256.Sum256([]byte(key)); return hex.EncodeToString(h[:]) }
	a, err := auth.New(auth.Config{APIKeys: []auth.APIKey{
		{Name: "ops", SHA256: sum(oasStrongKey), Permissions: []string{"*"}},
		{Name: "metrics", SHA256: sum(oasWeakKey), Permissions: []string{"tasker.metrics:index"}},
	}})
	require.NoError(t, err)
	api := web.New(web.Config{Prefix: oasPrefix, Store: cf.store, Registry: cf.registry, Logger: slog.New(slog.DiscardHandler),
		Auth: a, StatusRequiresAuth: true, Metrics: cf.metrics})
	api.MarkReady()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL + oasPrefix
}

type oasHandler struct{}

func (oasHandler) Execute(context.Context, core.StepRequest) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}

const conformanceTemplate = `
name: checkout
namespace_name: shop
version: 1.0.0
description: Take an order and charge it
schema:
  type: object
  required: [order_id]
  properties:
    order_id: {type: integer}
    currency: {type: string, default: EUR}
events:
  - name: order.charged
    description: The card was charged.
    schema: {type: object, properties: {amount_cents: {type: integer}}}
step_templates:
  - name: fetch
    description: Load the order
    handler: fetch
    handler_config: {source: db}
  - name: charge
    handler: charge
    handler_version: ">=0.0.0"
    depends_on_step: fetch
    default_retry_limit: 2
    retry_backoff_ms: 10
    retry_backoff_max_ms: 100
  - name: notify
    handler: notify
    depends_on_steps: [charge]
    default_retryable: false
    skippable: true
    timeout_ms: 1000
`

const oasPrefix = "/tasker"

func setup(t *testing.T) *conformance {
	t.Helper()
	st := store.New(pgtest.New(t))
	reg := registry.New()
	require.NoError(t, reg.AddUnversioned(map[string]core.Handler{"fetch": oasHandler{}, "charge": oasHandler{}, "notify": oasHandler{}}))
	logger := slog.New(slog.DiscardHandler)
	prom, err := telemetry.NewPrometheus()
	require.NoError(t, err)
	metrics, err := telemetry.NewMetrics(prom.Provider)
	require.NoError(t, err)
	eng := engine.New(st, reg, logger, engine.Config{Metrics: metrics}) // never run: the test moves steps itself
	ctx := context.Background()
	require.NoError(t, eng.LoadTemplates(ctx, []core.TemplateSource{
		{Origin: "test", YAML: []byte(conformanceTemplate)},
		{Origin: "test", YAML: []byte(strings.Replace(conformanceTemplate, "version: 1.0.0", "version: 1.1.0", 1))},
	}))
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(receiver.Close)
	hooks, err := events.NewWebhooks([]events.WebhookConfig{{Name: "orders", URL: receiver.URL, Events: []string{"task.*"},
		Secret: "0123456789abcdef"}}, st, logger)
	require.NoError(t, err)
	require.NoError(t, st.EnsureCursor(ctx, hooks.Subscribers()[0].Name(), false))
	api := web.New(web.Config{Prefix: oasPrefix, Store: st, Tasks: eng, Registry: reg, Logger: logger, MaxBody: 64 << 10,
		Webhooks: hooks, Metrics: prom.Handler, Plugins: func() any {
			return []plugins.Info{{Name: "shop", Version: "1.0.0", Path: "/plugins/shop-1.0.0", Handlers: []string{"charge", "fetch", "notify"},
				Limits: map[string]int{"charge": 2}, Healthy: true}}
		}})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := &conformance{doc: loadDoc(t), api: api, srv: srv, base: srv.URL + oasPrefix, store: st, registry: reg, ctx: ctx,
		metrics: prom.Handler, tested: map[string]map[int]int{}}
	return c
}

// apiCall is one request and the status it must get.
type apiCall struct {
	method, path string
	body         string // raw, so that malformed bodies can be sent; "" for none
	want         int
	// badBody says the 400 is about the body's content, which the
	// document's request schema must refuse as well.
	badBody bool
	// badParam says the 400 is about a path or query parameter, which the
	// document's parameter schemas must refuse as well (implied for a 400
	// to a request without a body).
	badParam bool
	headers  map[string]string
	base     string // the server's URL with the prefix; the main server's when empty
	// until, for an event stream, is the event after which it is read no
	// further (a stream does not end by itself).
	until string
}

// do sends c, checks the answer against the document and returns its body
// decoded (nil when it is not an object).
func (cf *conformance) do(t *testing.T, c apiCall) map[string]any {
	t.Helper()
	op := cf.doc.find(c.method, strings.SplitN(c.path, "?", 2)[0])
	require.NotNil(t, op, "no operation in openapi.yaml for %s %s", c.method, c.path)
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	base := c.base
	if base == "" {
		base = cf.base
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	require.NoError(t, err)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := cf.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		cf.checkStream(t, op, c, resp)
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	what := fmt.Sprintf("%s %s (operation %s) answered %d: %s", c.method, c.path, op.key(), resp.StatusCode, data)
	require.Equal(t, c.want, resp.StatusCode, what)

	if c.body != "" && json.Valid([]byte(c.body)) && len(c.body) < 4096 {
		if rb, ok := op.obj["requestBody"].(map[string]any); ok && rb["content"] != nil {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(c.body))
			require.NoError(t, err)
			verr := cf.doc.schema(t, op.pointer+"/requestBody/content/application~1json/schema").Validate(inst)
			switch {
			case resp.StatusCode/100 == 2:
				require.NoError(t, verr, "the document refuses a request body the server accepted: %s", c.body)
			case c.badBody:
				require.Error(t, verr, "the document accepts a request body the server refused: %s", c.body)
			}
		}
	}

	cf.checkParams(t, op, c, resp.StatusCode)

	r, ptr, ok := cf.doc.response(t, op, resp.StatusCode)
	require.True(t, ok, "%s: status %d is not documented", op.key(), resp.StatusCode)
	content := r["content"].(map[string]any)
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	require.NoError(t, err, what)
	require.Contains(t, content, mt, "%s %d: content type %q is not documented", op.key(), resp.StatusCode, mt)
	var inst any = string(data) // text/plain (metrics) is validated as a string
	if strings.HasSuffix(mt, "json") {
		inst, err = jsonschema.UnmarshalJSON(bytes.NewReader(data))
		require.NoError(t, err, what)
	}
	err = cf.doc.schema(t, ptr+"/content/"+escapeToken(mt)+"/schema").Validate(inst)
	require.NoError(t, err, "%s\nthe body does not conform to the document", what)
	if headers, ok := r["headers"].(map[string]any); ok {
		for name, h := range headers {
			if cf.doc.deref(t, h.(map[string]any))["required"] == true {
				require.NotEmpty(t, resp.Header.Get(name), "%s %d: header %s", op.key(), resp.StatusCode, name)
			}
		}
	}

	cf.mu.Lock()
	if cf.tested[op.key()] == nil {
		cf.tested[op.key()] = map[int]int{}
	}
	cf.tested[op.key()][resp.StatusCode]++
	cf.mu.Unlock()

	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return out
}

// checkStream reads an event stream up to the event c.until and checks
// each event's data against the document's Event schema.
func (cf *conformance) checkStream(t *testing.T, op *operation, c apiCall, resp *http.Response) {
	t.Helper()
	require.Equal(t, c.want, resp.StatusCode, "%s %s", c.method, c.path)
	require.NotEmpty(t, c.until, "%s %s: a stream is read up to apiCall.until", c.method, c.path)
	cf.checkParams(t, op, c, resp.StatusCode)
	_, ptr, ok := cf.doc.response(t, op, resp.StatusCode)
	require.True(t, ok, "%s: status %d is not documented", op.key(), resp.StatusCode)
	require.NoError(t, cf.doc.schema(t, ptr+"/content/text~1event-stream/schema").Validate("event stream"))
	timer := time.AfterFunc(20*time.Second, func() { resp.Body.Close() })
	defer timer.Stop()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var names []string
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(data))
		require.NoError(t, err, data)
		require.NoError(t, cf.doc.schema(t, "/components/schemas/Event").Validate(inst), "an event does not conform: %s", data)
		var e struct{ Name string }
		require.NoError(t, json.Unmarshal([]byte(data), &e))
		names = append(names, e.Name)
		if e.Name == c.until {
			break
		}
	}
	require.Contains(t, names, c.until, "%s %s: the stream ended before %s (got %v)", c.method, c.path, c.until, names)
	cf.mu.Lock()
	if cf.tested[op.key()] == nil {
		cf.tested[op.key()] = map[int]int{}
	}
	cf.tested[op.key()][resp.StatusCode]++
	cf.mu.Unlock()
}

// checkParams checks the request's path and query parameters against the
// operation's: each one sent is documented; each value is valid when the
// server accepted the request, and one at least is invalid when the server
// refused it for its parameters.
func (cf *conformance) checkParams(t *testing.T, op *operation, c apiCall, status int) {
	t.Helper()
	u, err := url.Parse(c.path)
	require.NoError(t, err)
	values := map[string][]string{}
	tmpl := strings.Split(strings.Trim(op.path, "/"), "/")
	for i, seg := range strings.Split(strings.Trim(u.Path, "/"), "/") {
		if strings.HasPrefix(tmpl[i], "{") {
			values[strings.Trim(tmpl[i], "{}")] = []string{seg}
		}
	}
	for name, v := range u.Query() {
		values[name] = v
	}
	var invalid []string
	for name, vs := range values {
		var param map[string]any
		for _, p := range op.params {
			if p["name"] == name {
				param = p
			}
		}
		require.NotNil(t, param, "%s: parameter %s is not documented", op.key(), name)
		sch := cf.doc.deref(t, param["schema"].(map[string]any))
		var inst any = vs[0]
		switch sch["type"] {
		case "integer":
			if _, err := strconv.ParseInt(vs[0], 10, 64); err == nil {
				inst = json.Number(vs[0])
			}
		case "array":
			var items []any
			for _, v := range vs {
				for _, item := range strings.Split(v, ",") {
					items = append(items, item)
				}
			}
			inst = items
		}
		if err := cf.doc.schema(t, schemaPointerOf(t, cf.doc, op, param)).Validate(inst); err != nil {
			invalid = append(invalid, fmt.Sprintf("%s=%v: %v", name, vs, err))
		}
	}
	switch {
	case status/100 == 2:
		require.Empty(t, invalid, "%s: the document refuses parameters the server accepted", op.key())
	case status == 400 && (c.badParam || c.body == ""):
		require.NotEmpty(t, invalid, "%s: the server refused %s for its parameters, which the document accepts", op.key(), c.path)
	}
}

func jsonID(t *testing.T, doc map[string]any, field string) int64 {
	t.Helper()
	n, ok := doc[field].(float64)
	require.True(t, ok, "no %s in %v", field, doc)
	return int64(n)
}

func stepIDOf(t *testing.T, task map[string]any, name string) int64 {
	t.Helper()
	steps, _ := task["workflow_steps"].([]any)
	for _, s := range steps {
		if s := s.(map[string]any); s["name"] == name {
			return jsonID(t, s, "workflow_step_id")
		}
	}
	t.Fatalf("task has no step %s: %v", name, task)
	return 0
}

const oasOwner = "openapi-test"

// finish claims the ready steps, completes (results != nil) or fails for
// good the one of taskID named name, and hands the others back.
func (cf *conformance) finish(t *testing.T, taskID int64, name string, results json.RawMessage) {
	t.Helper()
	claimed, err := cf.store.ClaimSteps(cf.ctx, oasOwner, 100, time.Minute)
	require.NoError(t, err)
	found := false
	for _, s := range claimed {
		if s.TaskID != taskID || s.StepName != name {
			_, err := cf.store.ReleaseStep(cf.ctx, s.StepID, oasOwner, "not this one", 0)
			require.NoError(t, err)
			continue
		}
		found = true
		if results != nil {
			_, err = cf.store.CompleteStep(cf.ctx, s.StepID, oasOwner, results)
		} else {
			_, err = cf.store.FailStep(cf.ctx, s.StepID, oasOwner, &core.StepError{Kind: core.Permanent, Message: "card declined"})
		}
		require.NoError(t, err)
	}
	require.True(t, found, "step %s of task %d was not ready", name, taskID)
}

func TestOpenAPIConformanceOfEveryRoute(t *testing.T) {
	t.Parallel()
	cf := setup(t)

	// Health and the document itself.
	cf.do(t, apiCall{method: "GET", path: "/health/ready", want: 503})
	cf.api.MarkReady()
	cf.do(t, apiCall{method: "GET", path: "/health/ready", want: 200})
	cf.do(t, apiCall{method: "GET", path: "/health/live", want: 200})
	cf.do(t, apiCall{method: "GET", path: "/openapi.json", want: 200})

	// Handlers.
	cf.do(t, apiCall{method: "GET", path: "/handlers", want: 200})
	cf.do(t, apiCall{method: "GET", path: "/handlers/shop", want: 200})
	cf.do(t, apiCall{method: "GET", path: "/handlers/nowhere", want: 404})
	cf.do(t, apiCall{method: "GET", path: "/handlers/shop/checkout", want: 200})
	cf.do(t, apiCall{method: "GET", path: "/handlers/shop/checkout?version=1.0.0", want: 200})
	cf.do(t, apiCall{method: "GET", path: "/handlers/shop/checkout?version=9.9.9", want: 404})
	cf.do(t, apiCall{method: "GET", path: "/handlers/shop/nothing", want: 404})
	cf.do(t, apiCall{method: "GET", path: "/handlers/Shop", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/handlers/shop/Checkout", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/handlers/shop/checkout?version=latest", want: 400})

	// The event catalog.
	cf.do(t, apiCall{method: "GET", path: "/events/catalog", want: 200})

	// Creating tasks.
	full := `{"name": "checkout", "namespace": "shop", "version": "1.0.0", "context": {"order_id": 1},
		"initiator": "alice", "reason": "first order", "source_system": "web", "tags": ["web", "vip"],
		"idempotency_key": "order-1"}`
	a := cf.do(t, apiCall{method: "POST", path: "/tasks", body: full, want: 201})
	taskA := jsonID(t, a, "task_id")
	again := cf.do(t, apiCall{method: "POST", path: "/tasks", body: full, want: 200})
	require.Equal(t, taskA, jsonID(t, again, "task_id"))
	taskB := jsonID(t, cf.do(t, apiCall{method: "POST", path: "/tasks", want: 201,
		body: `{"name": "checkout", "namespace": "shop", "context": {"order_id": 2}, "bypass_steps": ["notify"]}`}), "task_id")
	c := cf.do(t, apiCall{method: "POST", path: "/tasks", want: 201, body: `{"name": "checkout", "namespace": "shop", "context": {"order_id": 3}, "tags": null}`})
	taskC := jsonID(t, c, "task_id")
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": `, want: 400})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "checkout", "colour": "red"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"reason": "no name"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "checkout", "namespace": "shop", "context": [1]}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "checkout", "tags": "vip"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "Checkout"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "checkout", "version": "1"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "checkout", "tags": ["a,b"]}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "checkout", "tags": [" a"]}`, want: 400, badBody: true})
	bad := cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "checkout", "namespace": "shop", "context": {"order_id": "one"}}`, want: 400})
	require.NotEmpty(t, bad["errors"], "a context that fails the schema lists its violations")
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "nothing"}`, want: 404})
	cf.do(t, apiCall{method: "POST", path: "/tasks", body: `{"name": "checkout", "reason": "` + strings.Repeat("x", 100<<10) + `"}`, want: 413})

	cf.createBatches(t)

	// Listing and reading tasks.
	cf.do(t, apiCall{method: "GET", path: "/tasks", want: 200})
	list := cf.do(t, apiCall{method: "GET", path: "/tasks?namespace=shop&name=checkout&version=1.0.0&status=pending&tags=web,vip&sort=-task_id&limit=10&offset=0", want: 200})
	require.Len(t, list["tasks"], 1)
	cf.do(t, apiCall{method: "GET", path: "/tasks?tags=web&tags=vip&offset=100", want: 200})
	cf.do(t, apiCall{method: "GET", path: "/tasks?sort=colour", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/tasks?limit=-1", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/tasks?status=sleeping", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/tasks?limit=0", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/tasks?namespace=Shop", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/tasks?version=one", want: 400})
	for _, p := range []string{"/tasks/%d", "/tasks/%d/workflow_steps"} {
		cf.do(t, apiCall{method: "GET", path: fmt.Sprintf(p, taskA), want: 200})
		cf.do(t, apiCall{method: "GET", path: strings.Replace(p, "%d", "abc", 1), want: 400})
		cf.do(t, apiCall{method: "GET", path: strings.Replace(p, "%d", "0", 1), want: 400})
		cf.do(t, apiCall{method: "GET", path: fmt.Sprintf(p, 999999), want: 404})
	}
	withDeps := cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d?include_dependencies=true", taskA), want: 200})
	require.Contains(t, withDeps, "dependencies")
	withoutDeps := cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d?include_dependencies=0", taskA), want: 200})
	require.NotContains(t, withoutDeps, "dependencies")
	cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d?include_dependencies=maybe", taskA), want: 400})

	// Steps that ran: fetch of A completes, charge of A fails for good (A is in error).
	cf.finish(t, taskA, "fetch", json.RawMessage(`{"order": {"id": 1}}`))
	cf.finish(t, taskA, "charge", nil)
	fetchA, chargeA, notifyA := stepIDOf(t, a, "fetch"), stepIDOf(t, a, "charge"), stepIDOf(t, a, "notify")
	stepA := func(step int64, suffix string) string {
		return fmt.Sprintf("/tasks/%d/workflow_steps/%d%s", taskA, step, suffix)
	}
	cf.do(t, apiCall{method: "GET", path: stepA(fetchA, ""), want: 200})
	failed := cf.do(t, apiCall{method: "GET", path: stepA(chargeA, ""), want: 200})
	require.Equal(t, "error", failed["status"])
	cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d?include_dependencies=1", taskA), want: 200})
	cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d/workflow_steps/abc", taskA), want: 400})
	cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d/workflow_steps/-3", taskA), want: 400})
	cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d/workflow_steps/%d", taskA, stepIDOf(t, c, "fetch")), want: 404})
	cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d/workflow_steps/999999", taskA), want: 404})

	// Step actions.
	cf.do(t, apiCall{method: "POST", path: stepA(chargeA, "/retry"), body: `{"reason": 5}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: stepA(chargeA, "/retry"), body: `{"reason": "card replaced"}`, want: 200})
	cf.do(t, apiCall{method: "POST", path: stepA(chargeA, "/retry"), want: 409})
	cf.do(t, apiCall{method: "POST", path: stepA(fetchA, "/retry"), want: 409})
	cf.do(t, apiCall{method: "POST", path: stepA(999999, "/retry"), want: 404})
	cf.do(t, apiCall{method: "POST", path: fmt.Sprintf("/tasks/%d/workflow_steps/x/retry", taskA), want: 400})
	cf.do(t, apiCall{method: "POST", path: stepA(chargeA, "/resolve"), body: `{"results": `, want: 400})
	cf.do(t, apiCall{method: "POST", path: stepA(chargeA, "/resolve"), body: `{"results": {"paid": true}, "note": "x"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: stepA(chargeA, "/resolve"), body: `{"reason": "paid by phone", "results": {"paid": true}}`, want: 200})
	cf.do(t, apiCall{method: "POST", path: stepA(chargeA, "/resolve"), want: 409})
	cf.do(t, apiCall{method: "POST", path: stepA(999999, "/resolve"), want: 404})
	cf.do(t, apiCall{method: "DELETE", path: stepA(notifyA, ""), body: `{"why": "x"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "DELETE", path: stepA(notifyA, ""), body: `{"reason": "no mail today"}`, want: 200})
	cf.do(t, apiCall{method: "DELETE", path: stepA(notifyA, ""), want: 409})
	cf.do(t, apiCall{method: "DELETE", path: stepA(999999, ""), want: 404})
	cf.do(t, apiCall{method: "DELETE", path: fmt.Sprintf("/tasks/%d/workflow_steps/0", taskA), want: 400})

	// Task actions: B fails and is retried, C is cancelled.
	cf.finish(t, taskB, "fetch", nil)
	taskPath := func(task int64, suffix string) string { return fmt.Sprintf("/tasks/%d%s", task, suffix) }
	cf.do(t, apiCall{method: "POST", path: taskPath(taskB, "/retry"), body: `{"reason": 1}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: taskPath(taskB, "/retry"), body: `{"reason": "gateway back"}`, want: 200})
	cf.do(t, apiCall{method: "POST", path: taskPath(taskB, "/retry"), want: 409})
	cf.do(t, apiCall{method: "POST", path: taskPath(999999, "/retry"), want: 404})
	cf.do(t, apiCall{method: "POST", path: "/tasks/abc/retry", want: 400})
	cf.do(t, apiCall{method: "DELETE", path: taskPath(taskC, ""), body: `{"colour": "red"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "DELETE", path: taskPath(taskC, ""), body: `{"reason": "customer changed their mind"}`, want: 200})
	cf.do(t, apiCall{method: "DELETE", path: taskPath(taskC, ""), want: 409})
	cf.do(t, apiCall{method: "DELETE", path: taskPath(999999, ""), want: 404})
	cf.do(t, apiCall{method: "DELETE", path: "/tasks/abc", want: 400})
	cf.do(t, apiCall{method: "DELETE", path: taskPath(taskC, ""), body: `{"reason": "` + strings.Repeat("x", 100<<10) + `"}`, want: 413})

	// PATCH of tasks and steps.
	patched := cf.do(t, apiCall{method: "PATCH", path: taskPath(taskB, ""), body: `{"reason": "checked", "tags": ["audited"]}`, want: 200})
	require.Equal(t, []any{"audited"}, patched["tags"])
	cf.do(t, apiCall{method: "PATCH", path: taskPath(taskB, ""), body: `{"tags": []}`, want: 200})
	cf.do(t, apiCall{method: "PATCH", path: taskPath(taskB, ""), body: `{}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: taskPath(taskB, ""), body: `{"colour": "red"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: taskPath(taskB, ""), body: `{"tags": [""]}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: taskPath(taskB, ""), body: `{"reason": "` + strings.Repeat("x", 1001) + `"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: taskPath(taskB, ""), body: `{"reason": `, want: 400})
	cf.do(t, apiCall{method: "PATCH", path: "/tasks/abc", body: `{"reason": "x"}`, want: 400, badParam: true})
	cf.do(t, apiCall{method: "PATCH", path: taskPath(999999, ""), body: `{"reason": "x"}`, want: 404})
	chargeB := stepIDOf(t, cf.do(t, apiCall{method: "GET", path: taskPath(taskB, ""), want: 200}), "charge")
	stepB := func(step int64) string { return fmt.Sprintf("/tasks/%d/workflow_steps/%d", taskB, step) }
	updated := cf.do(t, apiCall{method: "PATCH", path: stepB(chargeB), body: `{"retry_limit": 5, "inputs": {"card": "visa"}}`, want: 200})
	require.Equal(t, map[string]any{"card": "visa"}, updated["inputs"])
	cf.do(t, apiCall{method: "PATCH", path: stepB(chargeB), body: `{"retry_limit": 4}`, want: 200})
	cf.do(t, apiCall{method: "PATCH", path: stepB(chargeB), body: `{}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: stepB(chargeB), body: `{"retry_limit": 0}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: stepB(chargeB), body: `{"retry_limit": 1001}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: stepB(chargeB), body: `{"inputs": [1]}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: stepB(chargeB), body: `{"handler": "x"}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "PATCH", path: stepB(999999), body: `{"retry_limit": 2}`, want: 404})
	cf.do(t, apiCall{method: "PATCH", path: fmt.Sprintf("/tasks/%d/workflow_steps/y", taskB), body: `{"retry_limit": 2}`, want: 400, badParam: true})
	cf.do(t, apiCall{method: "PATCH", path: stepA(fetchA, ""), body: `{"retry_limit": 2}`, want: 200})
	cf.do(t, apiCall{method: "PATCH", path: stepA(fetchA, ""), body: `{"inputs": {"card": "amex"}}`, want: 409})

	// Event streams: the history of task A (in error), its parts, and refusals.
	cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/events/stream?task_id=%d", taskA), want: 200, until: "task.failed"})
	cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/events/stream?task_id=%d&events=task.*,step.failed&after=0-0", taskA), want: 200,
		until: "task.failed"})
	cf.do(t, apiCall{method: "GET", path: "/events/stream?task_id=999999", want: 404})
	cf.do(t, apiCall{method: "GET", path: "/events/stream?task_id=abc", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/events/stream?task_id=0", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/events/stream?events=task.[", want: 400})
	cf.do(t, apiCall{method: "GET", path: "/events/stream?after=yesterday", want: 400})

	// Correlation ids: a valid one is kept and echoed, a bad one is a 400.
	created := cf.do(t, apiCall{method: "POST", path: "/tasks", want: 201, headers: map[string]string{"X-Correlation-ID": "order-7:try.1"},
		body: `{"name": "checkout", "namespace": "shop", "context": {"order_id": 7}}`})
	require.Equal(t, "order-7:try.1", created["correlation_id"])
	cf.do(t, apiCall{method: "POST", path: "/tasks", want: 400, headers: map[string]string{"X-Correlation-ID": "not valid!"},
		body: `{"name": "checkout", "namespace": "shop", "context": {"order_id": 8}}`})

	// Webhooks: a dead letter (recorded by hand), listed, redelivered.
	evs, err := cf.store.EventsAfter(cf.ctx, store.Cursor{}, 1)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	require.NoError(t, cf.store.RecordWebhookDelivery(cf.ctx, "orders", store.WebhookDelivery{EventID: evs[0].ID, Status: "dead",
		Attempts: 3, StatusCode: 500, Error: "the receiver answered 500"}))
	hooks := cf.do(t, apiCall{method: "GET", path: "/events/webhooks", want: 200})
	require.Len(t, hooks["webhooks"], 1)
	dead := cf.do(t, apiCall{method: "GET", path: "/events/webhooks/orders/dead_letters?limit=10&offset=0", want: 200})
	require.Len(t, dead["dead_letters"], 1)
	cf.do(t, apiCall{method: "GET", path: "/events/webhooks/nothing/dead_letters", want: 404})
	cf.do(t, apiCall{method: "GET", path: "/events/webhooks/orders/dead_letters?limit=0", want: 400})
	deadPath := "/events/webhooks/orders/dead_letters/" + strconv.FormatInt(evs[0].ID, 10) + "/retry"
	cf.do(t, apiCall{method: "POST", path: deadPath, body: `{"reason": 5}`, want: 400, badBody: true})
	retried := cf.do(t, apiCall{method: "POST", path: deadPath, body: `{"reason": "receiver fixed"}`, want: 200})
	require.Equal(t, true, retried["delivered"])
	cf.do(t, apiCall{method: "POST", path: deadPath, want: 404})
	cf.do(t, apiCall{method: "POST", path: "/events/webhooks/orders/dead_letters/zero/retry", want: 400})

	// Metrics, after the tasks above were created.
	cf.do(t, apiCall{method: "GET", path: "/metrics", want: 200})

	// Status last, so that its counts (cached for a while) see every state.
	status := cf.do(t, apiCall{method: "GET", path: "/health/status", want: 200})
	require.NotZero(t, status["counts"].(map[string]any)["total_tasks"])

	// With authorization on: 401 without or with bad credentials, 403
	// without the permission, the open routes open, and a key as X-API-Key
	// or as bearer token.
	authed := cf.authServer(t)
	ids := strings.NewReplacer("{id}", strconv.FormatInt(taskB, 10), "{step_id}", strconv.FormatInt(chargeB, 10),
		"{namespace}", "shop", "{name}", "checkout")
	for _, rt := range cf.api.Routes() {
		path := ids.Replace(rt.Path)
		if rt.Permission == "" {
			cf.do(t, apiCall{method: rt.Method, path: path, base: authed, want: 200})
			continue
		}
		cf.do(t, apiCall{method: rt.Method, path: path, base: authed, want: 401})
		cf.do(t, apiCall{method: rt.Method, path: path, base: authed, want: 401, headers: map[string]string{"X-API-Key": "tsk_unknown"}})
		weak := http.StatusForbidden
		if rt.Permission == "tasker.metrics:index" {
			weak = http.StatusOK // the weak key holds exactly that permission
		}
		cf.do(t, apiCall{method: rt.Method, path: path, base: authed, want: weak, headers: map[string]string{"X-API-Key": oasWeakKey}})
	}
	cf.do(t, apiCall{method: "GET", path: "/tasks", base: authed, want: 200, headers: map[string]string{"X-API-Key": oasStrongKey}})
	cf.do(t, apiCall{method: "GET", path: "/health/status", base: authed, want: 200, headers: map[string]string{"Authorization": "Bearer " + oasStrongKey}})

	// Every route had its success answer checked; report what was.
	var lines []string
	for _, rt := range cf.api.Routes() {
		key := rt.Method + " " + rt.Path
		var statuses []int
		success := false
		for st := range cf.tested[key] {
			statuses = append(statuses, st)
			success = success || st/100 == 2
		}
		require.True(t, success, "%s: no success answer was checked against the document", key)
		slices.Sort(statuses)
		lines = append(lines, fmt.Sprintf("%-48s %v", key, statuses))
	}
	t.Logf("answers checked against openapi.yaml:\n%s", strings.Join(lines, "\n"))
}
