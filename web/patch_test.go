package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/web"
)

// The per-test bundle of the PATCH, dependency and input sweep tests: a
// fresh database, an engine that is never started (the tests move steps
// through the store themselves) and the API over them.
type patchEnv struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *store.Store
	api   *web.Server
}

type workHandler struct{}

func (workHandler) Execute(context.Context, core.StepRequest) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}

const patchTemplate = `
name: pipeline
namespace_name: shop
version: 1.0.0
step_templates:
  - {name: fetch, handler: work}
  - {name: charge, handler: work, depends_on_step: fetch, default_retry_limit: 2, retry_backoff_ms: 0}
  - {name: notify, handler: work, depends_on_step: charge}
`

// patchOwner leases the steps the tests claim.
const patchOwner = "patch-test"

func newPatchEnv(t *testing.T) *patchEnv {
	t.Helper()
	pool := pgtest.New(t)
	st := store.New(pool)
	reg := registry.New()
	require.NoError(t, reg.AddUnversioned(map[string]core.Handler{"work": workHandler{}}))
	logger := slog.New(slog.DiscardHandler)
	eng := engine.New(st, reg, logger, engine.Config{})
	ctx := context.Background()
	require.NoError(t, eng.LoadTemplates(ctx, []core.TemplateSource{{Origin: "test", YAML: []byte(patchTemplate)}}))
	api := web.New(web.Config{Store: st, Tasks: eng, Registry: reg, Logger: logger})
	api.MarkReady()
	return &patchEnv{ctx: ctx, pool: pool, store: st, api: api}
}

// do sends a request to the API and returns the status and the body
// decoded into a map (nil when it is not a JSON object).
func (e *patchEnv) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, httptest.NewRequest(method, "/tasker"+path, rd))
	var doc map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &doc)
	if rec.Code >= 400 {
		require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), "%s %s", method, path)
	}
	return rec.Code, doc
}

// problem sends a request that must fail with status and returns its detail.
func (e *patchEnv) problem(t *testing.T, status int, method, path, body string) string {
	t.Helper()
	code, doc := e.do(t, method, path, body)
	require.Equal(t, status, code, "%s %s %s: %v", method, path, body, doc)
	detail, _ := doc["detail"].(string)
	return detail
}

// newTask creates a task through the API and returns its id and its step ids by name.
func (e *patchEnv) newTask(t *testing.T, body string) (int64, map[string]int64) {
	t.Helper()
	code, doc := e.do(t, "POST", "/tasks", body)
	require.Equal(t, http.StatusCreated, code, "%v", doc)
	id := int64(doc["task_id"].(float64))
	steps := map[string]int64{}
	for _, s := range doc["workflow_steps"].([]any) {
		m := s.(map[string]any)
		steps[m["name"].(string)] = int64(m["workflow_step_id"].(float64))
	}
	return id, steps
}

// claim leases the ready step named name (failing when it is not among the claimed).
func (e *patchEnv) claim(t *testing.T, name string) core.StepRequest {
	t.Helper()
	steps, err := e.store.ClaimSteps(e.ctx, patchOwner, 10, time.Minute)
	require.NoError(t, err)
	for _, s := range steps {
		if s.StepName == name {
			return s
		}
	}
	require.Failf(t, "step not claimed", "%s not among %d claimed steps", name, len(steps))
	return core.StepRequest{}
}

func (e *patchEnv) fail(t *testing.T, stepID int64, kind core.ErrorKind) string {
	t.Helper()
	f, err := e.store.FailStep(e.ctx, stepID, patchOwner, &core.StepError{Kind: kind, Message: "boom"})
	require.NoError(t, err)
	return f.StepStatus
}

func (e *patchEnv) taskDoc(t *testing.T, id int64) map[string]any {
	t.Helper()
	code, doc := e.do(t, "GET", fmt.Sprintf("/tasks/%d", id), "")
	require.Equal(t, http.StatusOK, code)
	return doc
}

func TestPatchTask(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	id, _ := e.newTask(t, `{"name": "pipeline", "namespace": "shop", "tags": ["a", "b", "a"], "reason": "first"}`)
	require.Equal(t, []any{"a", "b"}, e.taskDoc(t, id)["tags"], "POST removes duplicate tags")
	path := fmt.Sprintf("/tasks/%d", id)

	code, doc := e.do(t, "PATCH", path, `{"reason": "re-run for the audit", "tags": ["audit", "q3", "audit"]}`)
	require.Equal(t, http.StatusOK, code, "%v", doc)
	require.Equal(t, "re-run for the audit", doc["reason"])
	require.Equal(t, []any{"audit", "q3"}, doc["tags"], "duplicates removed")
	require.Equal(t, e.taskDoc(t, id), doc, "the same document as GET")
	require.NotContains(t, doc, "dependencies")

	// One field alone leaves the other.
	code, doc = e.do(t, "PATCH", path, `{"tags": []}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{}, doc["tags"])
	require.Equal(t, "re-run for the audit", doc["reason"])

	// The audit trail: a same-state task transition with old and new values.
	var from, to, reason string
	var meta map[string]any
	require.NoError(t, e.pool.QueryRow(e.ctx, `select from_status, to_status, reason, metadata from tasker.task_transitions
		where task_id = $1 order by transition_id desc limit 1`, id).Scan(&from, &to, &reason, &meta))
	require.Equal(t, []string{"pending", "pending", "updated by api"}, []string{from, to, reason})
	require.Equal(t, map[string]any{"actor": "api", "updated": map[string]any{
		"tags": map[string]any{"old": []any{"audit", "q3"}, "new": []any{}}}}, meta)

	// Any state: metadata of a cancelled task can still change.
	code, _ = e.do(t, "DELETE", path, "")
	require.Equal(t, http.StatusOK, code)
	code, doc = e.do(t, "PATCH", path, `{"reason": "cancelled: duplicate order"}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "cancelled", doc["status"])

	before := e.taskDoc(t, id)
	long := strings.Repeat("x", 65)
	many := `["` + strings.TrimSuffix(strings.Repeat(`t", "`, 51), `, "`) + `]`
	for _, tc := range []struct{ body, detail string }{
		{`{}`, `nothing to change: give "reason", "tags" or both`},
		{`{"status": "complete"}`, `unknown field "status"`},
		{`{"reason": 5}`, `field "reason" must be string`},
		{`{"tags": "a"}`, `field "tags" must be []string`},
		{`{"reason": "` + strings.Repeat("r", 1001) + `"}`, `field "reason" is 1001 characters long; the limit is 1000`},
		{`{"reason": "a\u0000b"}`, `field "reason" must not contain control characters`},
		{`{"tags": ["ok", ""]}`, `field "tags"[1] is empty`},
		{`{"tags": ["` + long + `"]}`, `field "tags"[0] "` + long + `" is 65 characters long; the limit is 64`},
		{`{"tags": ["a\nb"]}`, `must not contain control characters`},
		{`{"tags": ["a,b"]}`, `must not contain a comma`},
		{`{"tags": [" a"]}`, `must not begin or end with spaces`},
		{`{"tags": ` + many + `}`, `field "tags" has 51 tags; the limit is 50`},
		{`[1]`, `the body must be a JSON object`},
		{``, `the request body is empty`},
	} {
		require.Contains(t, e.problem(t, http.StatusBadRequest, "PATCH", path, tc.body), tc.detail, tc.body)
	}
	require.Equal(t, before, e.taskDoc(t, id), "refused updates change nothing")

	require.Equal(t, "task 999999 does not exist", e.problem(t, http.StatusNotFound, "PATCH", "/tasks/999999", `{"reason": "x"}`))
	require.Contains(t, e.problem(t, http.StatusBadRequest, "PATCH", "/tasks/x1", `{"reason": "x"}`), `path parameter id: task id "x1" is not a positive integer`)
}

func TestPatchStep(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	id, steps := e.newTask(t, `{"name": "pipeline", "namespace": "shop"}`)
	other, otherSteps := e.newTask(t, `{"name": "pipeline", "namespace": "shop"}`)
	stepPath := func(name string) string { return fmt.Sprintf("/tasks/%d/workflow_steps/%d", id, steps[name]) }

	// A pending step: both fields, answered with the step detail as GET gives it.
	code, doc := e.do(t, "PATCH", stepPath("charge"), `{"retry_limit": 5, "inputs": {"amount_cents": 1999}}`)
	require.Equal(t, http.StatusOK, code, "%v", doc)
	require.Equal(t, 5.0, doc["retry_limit"])
	require.Equal(t, map[string]any{"amount_cents": 1999.0}, doc["inputs"])
	_, got := e.do(t, "GET", stepPath("charge"), "")
	require.Equal(t, got, doc)
	trs := doc["transitions"].([]any)
	require.Equal(t, map[string]any{"from_state": "pending", "to_state": "pending", "reason": "updated by api",
		"metadata": map[string]any{"actor": "api", "updated": map[string]any{
			"retry_limit": map[string]any{"old": 2.0, "new": 5.0},
			"inputs":      map[string]any{"old": nil, "new": map[string]any{"amount_cents": 1999.0}},
		}}}, without(trs[len(trs)-1].(map[string]any), "created_at"))
	_, fetch := e.do(t, "GET", stepPath("fetch"), "")
	require.Nil(t, fetch["inputs"], "null when absent")
	require.Contains(t, fetch, "inputs")

	// Refused before the database.
	for _, tc := range []struct{ body, detail string }{
		{`{}`, `nothing to change: give "retry_limit", "inputs" or both`},
		{`{"retry_limit": 0}`, `field "retry_limit" is 0: it counts every attempt, the first included, and must be from 1 to 1000`},
		{`{"retry_limit": 1001}`, `must be from 1 to 1000`},
		{`{"retry_limit": "3"}`, `field "retry_limit" must be int, not JSON string`},
		{`{"retry_limit": 2.5}`, `field "retry_limit" must be int`},
		{`{"retry_limit": 1e40}`, `field "retry_limit" must be int`},
		{`{"inputs": [1]}`, `field "inputs" must be a JSON object`},
		{`{"inputs": "x"}`, `field "inputs" must be a JSON object`},
		{`{"inputs": null}`, `field "inputs" must be a JSON object`},
		{`{"inputs": {}, "reason": "x"}`, `unknown field "reason"`},
		{`{"inputs": {"a": }`, `malformed JSON`},
	} {
		require.Contains(t, e.problem(t, http.StatusBadRequest, "PATCH", stepPath("fetch"), tc.body), tc.detail, tc.body)
	}

	// 404: unknown task, unknown step, a step of another task.
	require.Equal(t, "task 999999 does not exist", e.problem(t, http.StatusNotFound, "PATCH",
		fmt.Sprintf("/tasks/999999/workflow_steps/%d", steps["fetch"]), `{"retry_limit": 3}`))
	require.Equal(t, fmt.Sprintf("task %d has no step 999999", id), e.problem(t, http.StatusNotFound, "PATCH",
		fmt.Sprintf("/tasks/%d/workflow_steps/999999", id), `{"retry_limit": 3}`))
	require.Equal(t, fmt.Sprintf("task %d has no step %d", id, otherSteps["fetch"]), e.problem(t, http.StatusNotFound, "PATCH",
		fmt.Sprintf("/tasks/%d/workflow_steps/%d", id, otherSteps["fetch"]), `{"retry_limit": 3}`))
	require.Contains(t, e.problem(t, http.StatusBadRequest, "PATCH", fmt.Sprintf("/tasks/%d/workflow_steps/0", other), `{"retry_limit": 3}`),
		`path parameter step_id: step id "0" is not a positive integer`)

	// Running: inputs refused (409 naming the state), retry_limit allowed down to the attempt that runs.
	e.claim(t, "fetch")
	require.Equal(t, fmt.Sprintf("step %d (fetch) of task %d is in_progress: its inputs can only be changed while it is pending, waiting_for_retry, error or cancelled",
		steps["fetch"], id), e.problem(t, http.StatusConflict, "PATCH", stepPath("fetch"), `{"inputs": {"x": 1}}`))
	code, _ = e.do(t, "PATCH", stepPath("fetch"), `{"retry_limit": 1}`)
	require.Equal(t, http.StatusOK, code)
	code, _ = e.do(t, "PATCH", stepPath("fetch"), `{"retry_limit": 3}`)
	require.Equal(t, http.StatusOK, code)

	// Waiting for its 2nd attempt: the limit must allow it (409 naming both numbers); inputs may change.
	require.Equal(t, core.StepStatusWaitingForRetry, e.fail(t, steps["fetch"], core.Retryable))
	require.Equal(t, fmt.Sprintf("step %d (fetch) of task %d is waiting_for_retry with 1 attempt(s) made: retry_limit 1 would not allow the attempt it runs next; it must be at least 2",
		steps["fetch"], id), e.problem(t, http.StatusConflict, "PATCH", stepPath("fetch"), `{"retry_limit": 1, "inputs": {"x": 1}}`))
	_, doc = e.do(t, "GET", stepPath("fetch"), "")
	require.Equal(t, 3.0, doc["retry_limit"], "all or nothing")
	require.Nil(t, doc["inputs"], "all or nothing")
	code, _ = e.do(t, "PATCH", stepPath("fetch"), `{"inputs": {"x": 1}}`)
	require.Equal(t, http.StatusOK, code)

	// Failed for good: the operator fixes the inputs and retries; the handler gets them.
	_, err := e.pool.Exec(e.ctx, "update tasker.workflow_steps set next_attempt_at = now() where step_id = $1", steps["fetch"])
	require.NoError(t, err)
	require.Equal(t, 2, e.claim(t, "fetch").Attempt)
	require.Equal(t, core.StepStatusError, e.fail(t, steps["fetch"], core.Permanent))
	code, doc = e.do(t, "PATCH", stepPath("fetch"), `{"inputs": {"x": 2}, "retry_limit": 1}`)
	require.Equal(t, http.StatusOK, code, "%v", doc)
	require.Equal(t, "error", doc["status"])
	code, _ = e.do(t, "POST", stepPath("fetch")+"/retry", "")
	require.Equal(t, http.StatusOK, code)
	s := e.claim(t, "fetch")
	require.Equal(t, 1, s.Attempt)
	require.JSONEq(t, `{"x": 2}`, string(s.Inputs))

	// Finished: inputs refused.
	_, err = e.store.CompleteStep(e.ctx, s.StepID, patchOwner, json.RawMessage(`{}`))
	require.NoError(t, err)
	require.Contains(t, e.problem(t, http.StatusConflict, "PATCH", stepPath("fetch"), `{"inputs": {}}`), "is complete: its inputs can only be changed")
}

// without returns m without key.
func without(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func TestGetTaskIncludeDependencies(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	id, steps := e.newTask(t, `{"name": "pipeline", "namespace": "shop"}`)
	path := fmt.Sprintf("/tasks/%d", id)

	for _, v := range []string{"", "?include_dependencies=false", "?include_dependencies=0"} {
		code, doc := e.do(t, "GET", path+v, "")
		require.Equal(t, http.StatusOK, code, v)
		require.NotContains(t, doc, "dependencies", v)
	}
	for _, v := range []string{"?include_dependencies=true", "?include_dependencies=1"} {
		code, doc := e.do(t, "GET", path+v, "")
		require.Equal(t, http.StatusOK, code, v)
		deps := doc["dependencies"].(map[string]any)
		ec := deps["execution_context"].(map[string]any)
		require.Equal(t, float64(id), ec["task_id"])
		require.Equal(t, 3.0, ec["total_steps"])
		require.Equal(t, "has_ready_steps", ec["execution_status"])
		rd := deps["step_readiness"].([]any)
		require.Len(t, rd, 3)
		first := rd[0].(map[string]any)
		require.Equal(t, float64(steps["fetch"]), first["workflow_step_id"])
		require.Equal(t, true, first["ready_for_execution"])
		require.Equal(t, false, rd[1].(map[string]any)["dependencies_satisfied"])
		var levels []string
		for _, l := range deps["dependency_levels"].([]any) {
			m := l.(map[string]any)
			levels = append(levels, fmt.Sprintf("%s:%v", m["name"], m["dependency_level"]))
		}
		require.Equal(t, []string{"fetch:0", "charge:1", "notify:2"}, levels)
		require.Len(t, doc["workflow_steps"], 3, "the task document is unchanged besides")
	}
	for _, v := range []string{"yes", "TRUE", "2", "1%20OR%201=1"} {
		require.Contains(t, e.problem(t, http.StatusBadRequest, "GET", path+"?include_dependencies="+v, ""),
			"query parameter include_dependencies=", v)
	}
	require.Equal(t, "task 999999 does not exist", e.problem(t, http.StatusNotFound, "GET", "/tasks/999999?include_dependencies=true", ""))
}
