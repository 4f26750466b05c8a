package web_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/web/client"
)

// createBatches checks POST /tasks/batch against the document and says
// what each outcome must be: tasks created, matched by identity, and
// refused one by one, in the request's order; a malformed task refuses the
// whole request.
func (cf *conformance) createBatches(t *testing.T) {
	t.Helper()
	answer := cf.do(t, apiCall{method: "POST", path: "/tasks/batch", want: 200, body: `{"tasks": [
		{"name": "checkout", "namespace": "shop", "context": {"order_id": 101}},
		{"name": "checkout", "namespace": "shop", "context": {"order_id": 102}, "idempotency_key": "batch-twice"},
		{"name": "checkout", "namespace": "shop", "context": {"order_id": "one"}},
		{"name": "nothing"},
		{"name": "checkout", "namespace": "shop", "context": {"order_id": 102}, "idempotency_key": "batch-twice"}
	]}`})
	out, ok := answer["tasks"].([]any)
	require.True(t, ok, "no tasks in %v", answer)
	require.Len(t, out, 5, "one outcome per task, in order")
	outcome := func(i int) map[string]any { return out[i].(map[string]any) }
	problem := func(i int) map[string]any {
		p, ok := outcome(i)["error"].(map[string]any)
		require.True(t, ok, "tasks[%d] should have failed: %v", i, outcome(i))
		require.True(t, strings.HasPrefix(p["detail"].(string), fmt.Sprintf("tasks[%d]: ", i)), "the detail names the task: %v", p)
		return p
	}

	first := jsonID(t, outcome(0), "task_id")
	require.Equal(t, true, outcome(0)["created"])
	task := cf.do(t, apiCall{method: "GET", path: fmt.Sprintf("/tasks/%d", first), want: 200})
	require.Equal(t, "checkout", task["name"])

	// The same identity twice in one batch: one task, created once.
	require.Equal(t, jsonID(t, outcome(1), "task_id"), jsonID(t, outcome(4), "task_id"))
	require.NotEqual(t, outcome(1)["created"], outcome(4)["created"], "exactly one of the two created the task")

	bad := problem(2)
	require.EqualValues(t, 400, bad["status"])
	violations := bad["errors"].([]any)
	require.Equal(t, "/tasks/2/context/order_id", violations[0].(map[string]any)["path"], "a violation's path points into the batch")
	require.EqualValues(t, 404, problem(3)["status"])

	// A malformed task anywhere refuses the whole request, naming each.
	before := cf.count(t)
	malformed := cf.do(t, apiCall{method: "POST", path: "/tasks/batch", want: 400, badBody: true,
		body: `{"tasks": [{"name": "checkout", "namespace": "shop"}, {"name": "Checkout"}, {"name": "checkout", "version": "1"}]}`})
	require.Len(t, malformed["errors"], 2)
	require.Equal(t, "/tasks/1", malformed["errors"].([]any)[0].(map[string]any)["path"])
	require.Equal(t, before, cf.count(t), "a refused batch creates nothing")

	// The client reads the same answers.
	api := client.New(cf.base)
	outcomes, err := api.CreateTasks(cf.ctx, []core.TaskRequest{
		{Namespace: "shop", Name: "checkout", Context: json.RawMessage(`{"order_id": 201}`)}, {Name: "nothing"}})
	require.NoError(t, err)
	require.Len(t, outcomes, 2)
	require.True(t, outcomes[0].Created)
	require.NotZero(t, outcomes[0].TaskID)
	require.Nil(t, outcomes[0].Err)
	require.NotNil(t, outcomes[1].Err)
	require.Equal(t, 404, outcomes[1].Err.Status)
	_, err = api.CreateTasks(cf.ctx, []core.TaskRequest{{Name: "Checkout"}})
	var refused *client.Error
	require.ErrorAs(t, err, &refused)
	require.Equal(t, 400, refused.Status)
	require.Len(t, refused.Errors, 1)

	cf.do(t, apiCall{method: "POST", path: "/tasks/batch", body: `{"tasks": [`, want: 400})
	cf.do(t, apiCall{method: "POST", path: "/tasks/batch", body: `{"tasks": []}`, want: 400, badBody: true})
	cf.do(t, apiCall{method: "POST", path: "/tasks/batch", body: `{"name": "checkout"}`, want: 400, badBody: true})
	tooMany := `{"tasks": [` + strings.TrimSuffix(strings.Repeat(`{"name": "checkout"},`, 1001), ",") + `]}`
	tooManyAnswer := cf.do(t, apiCall{method: "POST", path: "/tasks/batch", body: tooMany, want: 400, badBody: true})
	require.Contains(t, tooManyAnswer["detail"], "at most 1000")
	cf.do(t, apiCall{method: "POST", path: "/tasks/batch", want: 413,
		body: `{"tasks": [{"name": "checkout", "reason": "` + strings.Repeat("x", 100<<10) + `"}]}`})
}

// count is the number of tasks the store holds.
func (cf *conformance) count(t *testing.T) int64 {
	t.Helper()
	_, total, err := cf.store.ListTasks(cf.ctx, store.TaskFilter{Limit: 1})
	require.NoError(t, err)
	return total
}
