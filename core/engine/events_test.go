package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/store"
)

type firedEvent struct {
	Name    string
	StepID  int64
	Payload map[string]any
}

// taskEvents returns the events of a task in delivery order.
func taskEvents(t *testing.T, b bundle, taskID int64) []firedEvent {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `select name, coalesce(step_id, 0), payload from tasker.events
		where task_id = $1 order by txid, event_id`, taskID)
	require.NoError(t, err)
	defer rows.Close()
	var out []firedEvent
	for rows.Next() {
		var e firedEvent
		var raw []byte
		require.NoError(t, rows.Scan(&e.Name, &e.StepID, &raw))
		require.NoError(t, json.Unmarshal(raw, &e.Payload))
		out = append(out, e)
	}
	require.NoError(t, rows.Err())
	return out
}

func names(evs []firedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
		if s, ok := e.Payload["step_name"].(string); ok {
			out[i] += ":" + s
		}
	}
	return out
}

func TestEventsOfATaskRunInOrder(t *testing.T) {
	t.Parallel()
	var charges atomic.Int32
	b := setup(t, engine.Config{}, map[string]core.Handler{
		"fetch": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) {
			return json.RawMessage(`{"big":1}`), nil
		}),
		"charge": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) {
			if charges.Add(1) == 1 {
				return nil, errors.New("gateway busy")
			}
			return json.RawMessage(`{}`), nil
		}),
		"notify": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return nil, nil }),
	})
	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline", CorrelationID: "corr-1"})
	require.NoError(t, err)
	b.waitFor(t, id, core.TaskStatusComplete)

	evs := taskEvents(t, b, id)
	require.Equal(t, []string{
		"task.created", "task.started", "step.started:fetch", "step.completed:fetch",
		"step.started:charge", "step.retry_scheduled:charge", "step.started:charge", "step.completed:charge",
		"step.started:notify", "step.completed:notify", "task.completed",
	}, names(evs))
	require.EqualValues(t, 3, evs[0].Payload["step_count"])
	require.Equal(t, "pipeline", evs[0].Payload["task_name"])
	retry := evs[5].Payload
	require.EqualValues(t, 1, retry["attempt"])
	require.Equal(t, "gateway busy", retry["error"])
	require.NotEmpty(t, retry["next_attempt_at"])
	require.EqualValues(t, 2, evs[6].Payload["attempt"])
	require.Equal(t, true, evs[3].Payload["has_results"])
	require.NotContains(t, evs[3].Payload, "results", "results travel by reference")

	var corr []string
	rows, err := b.pool.Query(b.ctx, `select distinct coalesce(correlation_id, '') from tasker.events where task_id = $1`, id)
	require.NoError(t, err)
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c))
		corr = append(corr, c)
	}
	require.Equal(t, []string{"corr-1"}, corr, "every event carries the task's correlation id")

	// Step creation writes no event; the engine's own events have no task.
	var started int
	require.NoError(t, b.pool.QueryRow(b.ctx, `select count(*) from tasker.events where name = 'engine.started'`).Scan(&started))
	require.Equal(t, 1, started)
	var registered int
	require.NoError(t, b.pool.QueryRow(b.ctx, `select count(*) from tasker.events where name = 'template.registered'`).Scan(&registered))
	require.Equal(t, 1, registered)
}

func TestEventsOfOperatorActionsAndPatches(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, map[string]core.Handler{
		"fetch": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) {
			return nil, &core.StepError{Kind: core.Permanent, Message: "no such order"}
		}),
		"charge": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return nil, nil }),
		"notify": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return nil, nil }),
	})
	stop := b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	task := b.waitFor(t, id, core.TaskStatusError)
	stop()
	fetch := task.Steps[0].StepID

	reason := "new reason"
	require.NoError(t, b.store.UpdateTask(b.ctx, id, store.TaskUpdate{Reason: &reason}, "api:ops"))
	require.NoError(t, b.store.UpdateStep(b.ctx, id, fetch, store.StepUpdate{Inputs: json.RawMessage(`{"order":2}`)}, "api:ops"))
	require.NoError(t, b.store.RetryStep(b.ctx, fetch, "fixed", "api:ops"))
	_, err = b.store.CancelTask(b.ctx, id, "give up", "api:ops")
	require.NoError(t, err)

	evs := taskEvents(t, b, id)
	require.Equal(t, []string{
		"task.created", "task.started", "step.started:fetch", "step.failed:fetch", "task.failed",
		"task.updated", "step.updated:fetch", "step.retried:fetch", "task.retried",
	}, names(evs)[:9])
	// One statement cancels the steps (in no particular order), then the task.
	require.ElementsMatch(t, []string{"step.cancelled:fetch", "step.cancelled:charge", "step.cancelled:notify"}, names(evs)[9:12])
	require.Equal(t, "task.cancelled", evs[12].Name)
	require.Equal(t, "no such order", evs[3].Payload["error"])
	require.Equal(t, "api:ops", evs[5].Payload["actor"])
	require.Contains(t, evs[5].Payload["details"], "updated")
	require.Equal(t, "api:ops", evs[12].Payload["actor"])
}

const shipTemplate = `
name: ship
version: 1.0.0
events:
  - name: order.shipped
    description: the parcel left
    schema: {type: object, required: [carrier], properties: {carrier: {type: string}}}
step_templates:
  - {name: pack, handler: pack, default_retry_limit: 2, retry_backoff_ms: 1}
`

func TestCustomEventsAreWrittenWithTheCompletion(t *testing.T) {
	t.Parallel()
	noop := handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return nil, nil })
	b := setup(t, engine.Config{}, map[string]core.Handler{
		"fetch": noop, "charge": noop, "notify": noop,
		"pack": handlerFunc(func(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
			var c struct{ M string }
			_ = json.Unmarshal(req.Context, &c)
			switch c.M {
			case "ok":
				if err := core.PublishEvent(ctx, "order.shipped", json.RawMessage(`{"carrier":"ups"}`)); err != nil {
					return nil, err
				}
				if req.Attempt == 1 {
					return nil, errors.New("flaky after publishing") // its events must not be written
				}
			case "undeclared":
				_ = core.PublishEvent(ctx, "order.lost", json.RawMessage(`{}`))
			case "bad":
				_ = core.PublishEvent(ctx, "order.shipped", json.RawMessage(`{"carrier":7}`))
			}
			return json.RawMessage(`{}`), nil
		}),
	})
	require.NoError(t, b.engine.LoadTemplates(b.ctx, []core.TemplateSource{{Origin: "ship", YAML: []byte(shipTemplate)}}))
	b.run(t)

	create := func(m string) int64 {
		id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "ship", Context: json.RawMessage(fmt.Sprintf(`{"m":%q}`, m))})
		require.NoError(t, err)
		return id
	}

	id := create("ok")
	b.waitFor(t, id, core.TaskStatusComplete)
	evs := taskEvents(t, b, id)
	require.Equal(t, []string{"task.created", "task.started", "step.started:pack", "step.retry_scheduled:pack",
		"step.started:pack", "order.shipped:pack", "step.completed:pack", "task.completed"}, names(evs))
	require.Equal(t, map[string]any{"carrier": "ups"}, evs[5].Payload["data"])
	require.EqualValues(t, 2, evs[5].Payload["attempt"])

	id = create("undeclared")
	task := b.waitFor(t, id, core.TaskStatusError)
	require.Contains(t, *task.Steps[0].LastError, `"order.lost"`)
	require.Equal(t, 1, task.Steps[0].Attempts, "an undeclared event fails the attempt for good")
	require.NotContains(t, names(taskEvents(t, b, id)), "order.lost:pack")

	id = create("bad")
	task = b.waitFor(t, id, core.TaskStatusError)
	require.Contains(t, *task.Steps[0].LastError, `event "order.shipped": payload does not match its declared schema`)
}
