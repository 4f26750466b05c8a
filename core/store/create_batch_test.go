package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// TestCreateTasksCreatesEachAsCreateTaskWould: a batch of creations, two of
// one identity, in one call: each task gets its own steps, context,
// correlation id and tags; the second of the identity gets the first's
// task, as it would one request after the other.
func TestCreateTasksCreatesEachAsCreateTaskWould(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tplID, err := b.store.RegisterTemplate(b.ctx, diamond(nil))
	require.NoError(t, err)
	same := store.NewTask{TemplateID: tplID, IdentityHash: "order-7", IdentityWindow: time.Hour}
	got, err := b.store.CreateTasks(b.ctx, []store.Creation{
		{NewTask: store.NewTask{TemplateID: tplID},
			Request: core.TaskRequest{Context: json.RawMessage(`{"n": 1}`), CorrelationID: "c-1", Tags: []string{"a"}}},
		{NewTask: same, Request: core.TaskRequest{Context: json.RawMessage(`{"n": 2}`), CorrelationID: "c-2"}},
		{NewTask: same, Request: core.TaskRequest{Context: json.RawMessage(`{"n": 3}`), CorrelationID: "c-3"}},
	})
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.True(t, got[0].Created)
	require.True(t, got[1].Created)
	require.Equal(t, store.Created{ID: got[1].ID, Created: false}, got[2], "the same identity: the task the batch just created")
	require.NotEqual(t, got[0].ID, got[1].ID)

	for i, want := range []struct {
		context, correlation string
		tags                 []string
	}{{`{"n": 1}`, "c-1", []string{"a"}}, {`{"n": 2}`, "c-2", []string{}}} {
		task, err := b.store.GetTask(b.ctx, got[i].ID)
		require.NoError(t, err)
		require.JSONEq(t, want.context, string(task.Context))
		require.NotNil(t, task.CorrelationID)
		require.Equal(t, want.correlation, *task.CorrelationID)
		require.Equal(t, want.tags, task.Tags)
		require.Len(t, task.Steps, 4)
		require.Equal(t, core.TaskStatusPending, task.Status)
	}
	var created int
	require.NoError(t, b.pool.QueryRow(b.ctx, `select count(*) from tasker.events where name = 'task.created'`).Scan(&created))
	require.Equal(t, 2, created)
}

// TestCreateTasksCreatesNoneWhenOneIsRefused: the batch is one transaction.
func TestCreateTasksCreatesNoneWhenOneIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tplID, err := b.store.RegisterTemplate(b.ctx, diamond(nil))
	require.NoError(t, err)
	_, err = b.store.CreateTasks(b.ctx, []store.Creation{
		{NewTask: store.NewTask{TemplateID: tplID}},
		{NewTask: store.NewTask{TemplateID: tplID + 1000}},
	})
	require.ErrorContains(t, err, "does not exist")
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `select count(*) from tasker.tasks`).Scan(&n))
	require.Zero(t, n)

	_, err = b.store.CreateTasks(b.ctx, []store.Creation{{NewTask: store.NewTask{TemplateID: tplID},
		Request: core.TaskRequest{BypassSteps: []string{"left"}}}})
	require.ErrorContains(t, err, "bypass_steps")
}
