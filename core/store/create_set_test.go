package store_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// TestSetCreationWritesWhatCreateTaskWrites: tasks created together by
// create_tasks (0019) get the rows and the task.created event that
// create_task and its trigger give a task created alone: the same task
// columns, steps in their template's order with the same settings, edges,
// transitions and event payload. Two templates are mixed in the batch, one
// of them serial, and the tasks' ids follow the order of the requests.
func TestSetCreationWritesWhatCreateTaskWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wide, err := b.store.RegisterTemplate(b.ctx, diamond(func(tpl *core.Template) {
		tpl.Steps[0].HandlerVersion = ">=1.0, <2"
		tpl.Steps[0].HandlerConfig = map[string]any{"url": "https://example.test", "n": 3}
		tpl.Steps[1].Skippable = true
		tpl.Steps[1].RetryLimit = intp(5)
		tpl.Steps[2].Retryable = boolp(false)
		tpl.Steps[3].TimeoutMS = intp(2500)
	}))
	require.NoError(t, err)
	serial, err := b.store.RegisterTemplate(b.ctx, diamond(func(tpl *core.Template) {
		tpl.Name = "serial"
		tpl.Concurrent = boolp(false)
	}))
	require.NoError(t, err)

	requests := []core.TaskRequest{
		{Context: json.RawMessage(`{"order_id": 7, "lines": [1, 2]}`), Initiator: "alice", Reason: "test",
			SourceSystem: "shop", Tags: []string{"x", "y"}, CorrelationID: "corr-1",
			TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{}, // no context, tags, correlation id nor trace context
	}
	templates := []int64{wide, serial}
	var alone []int64
	for i, req := range requests {
		id, created, err := b.store.CreateTask(b.ctx, store.NewTask{TemplateID: templates[i]}, req)
		require.NoError(t, err)
		require.True(t, created)
		alone = append(alone, id)
	}
	got, err := b.store.CreateTasks(b.ctx, []store.Creation{
		{NewTask: store.NewTask{TemplateID: wide}, Request: requests[0]},
		{NewTask: store.NewTask{TemplateID: serial}, Request: requests[1]},
		{NewTask: store.NewTask{TemplateID: wide}, Request: requests[0]},
	})
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i, c := range got {
		require.True(t, c.Created, "task %d of the batch", i)
		if i > 0 {
			require.Greater(t, c.ID, got[i-1].ID, "ids follow the order of the requests")
		}
	}

	require.Equal(t, b.taskRows(t, alone[0]), b.taskRows(t, got[0].ID))
	require.Equal(t, b.taskRows(t, alone[1]), b.taskRows(t, got[1].ID))
	require.Equal(t, b.taskRows(t, alone[0]), b.taskRows(t, got[2].ID))
}

// taskRows is everything a task's creation wrote, without ids and times:
// the task, its steps in id order, its edges by step name, its task and
// step transitions and its events.
func (b bundle) taskRows(t *testing.T, taskID int64) map[string]any {
	t.Helper()
	var raw []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		select jsonb_build_object(
		  'task', (select jsonb_build_object('template_id', template_id, 'status', status, 'context', context,
		                  'initiator', initiator, 'reason', reason, 'source_system', source_system, 'tags', tags,
		                  'identity_hash', identity_hash, 'correlation_id', correlation_id, 'trace_parent', trace_parent,
		                  'completed_at', completed_at, 'fresh', created_at = updated_at)
		           from tasker.tasks where task_id = $1),
		  'steps', (select jsonb_agg(to_jsonb(s) - 'step_id' - 'task_id' - 'created_at' - 'updated_at' - 'next_attempt_at'
		                   order by s.step_id)
		            from tasker.workflow_steps s where s.task_id = $1),
		  'edges', (select jsonb_agg(jsonb_build_array(p.name, c.name) order by p.name, c.name)
		            from tasker.workflow_step_edges e
		            join tasker.workflow_steps p on p.step_id = e.from_step_id
		            join tasker.workflow_steps c on c.step_id = e.to_step_id
		            where c.task_id = $1),
		  'task_transitions', (select jsonb_agg(jsonb_build_array(from_status, to_status, reason, metadata) order by transition_id)
		                       from tasker.task_transitions where task_id = $1),
		  'step_transitions', (select jsonb_agg(jsonb_build_array(s.name, tr.from_status, tr.to_status, tr.reason, tr.metadata)
		                                        order by tr.transition_id)
		                       from tasker.step_transitions tr join tasker.workflow_steps s on s.step_id = tr.step_id
		                       where tr.task_id = $1),
		  'events', (select jsonb_agg(jsonb_build_array(name, step_id is null, correlation_id,
		                                                payload - 'task_id' - 'transition_id') order by event_id)
		             from tasker.events where task_id = $1))`, taskID).Scan(&raw))
	var rows map[string]any
	require.NoError(t, json.Unmarshal(raw, &rows))
	return rows
}
