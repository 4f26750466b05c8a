package engine_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
)

func loadTemplate(t *testing.T, b bundle, doc string) {
	t.Helper()
	require.NoError(t, b.engine.LoadTemplates(b.ctx, []core.TemplateSource{{Origin: "test.yaml", YAML: []byte(doc)}}))
}

func handlersForPipeline() map[string]core.Handler {
	return map[string]core.Handler{"fetch": handlerFunc(ok), "charge": handlerFunc(ok), "notify": handlerFunc(ok)}
}

func TestCreateTaskStrictIdentity(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, handlersForPipeline())
	loadTemplate(t, b, `
name: strict
version: 1.0.0
identity: {strategy: strict, window_seconds: 1}
step_templates: [{name: a, handler: fetch}]`)
	req := core.TaskRequest{Name: "strict", Context: json.RawMessage(`{"order": 1, "lines": [1, 2]}`)}
	first, created, err := b.engine.CreateTask(b.ctx, req)
	require.NoError(t, err)
	require.True(t, created)

	req.Context = json.RawMessage(`{"lines": [1, 2], "order": 1}`)
	again, created, err := b.engine.CreateTask(b.ctx, req)
	require.NoError(t, err)
	require.False(t, created, "same template and context within the window")
	require.Equal(t, first, again)

	other, created, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "strict", Context: json.RawMessage(`{"order": 2}`)})
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, first, other)

	time.Sleep(1100 * time.Millisecond)
	later, created, err := b.engine.CreateTask(b.ctx, req)
	require.NoError(t, err)
	require.True(t, created, "the window has passed")
	require.NotEqual(t, first, later)
}

func TestCreateTaskCallerProvidedIdentityUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, handlersForPipeline())
	loadTemplate(t, b, `
name: keyed
version: 1.0.0
identity: {strategy: caller_provided}
step_templates: [{name: a, handler: fetch}]`)

	_, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "keyed"})
	var reqErr *core.RequestError
	require.True(t, errors.As(err, &reqErr), "got %v", err)
	require.Contains(t, reqErr.Message, "requires an idempotency_key")

	var wg sync.WaitGroup
	ids := make([]int64, 8)
	created := make([]bool, len(ids))
	errs := make([]error, len(ids))
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], created[i], errs[i] = b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "keyed", IdempotencyKey: "order-42"})
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	createdCount := 0
	for _, c := range created {
		if c {
			createdCount++
		}
	}
	require.Equal(t, 1, createdCount, "simultaneous requests with one key make one task")
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
}

func TestCreateTaskValidatesContextAndStoresDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, handlersForPipeline())
	loadTemplate(t, b, `
name: typed
version: 1.0.0
schema:
  type: object
  required: [order_id]
  properties:
    order_id: {type: integer}
    priority: {type: string, default: normal}
step_templates: [{name: a, handler: fetch}]`)

	_, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "typed", Context: json.RawMessage(`{"order_id": "seven"}`)})
	var ce *core.ContextError
	require.True(t, errors.As(err, &ce), "got %v", err)
	require.Equal(t, "/order_id", ce.Violations[0].Path)

	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "typed", Context: json.RawMessage(`{"order_id": 7}`)})
	require.NoError(t, err)
	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.JSONEq(t, `{"order_id": 7, "priority": "normal"}`, string(task.Context))
}
