package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// TestCompleteStepsRecordsABatchAsOneByOne completes steps of two tasks in
// one call, one of them no longer leased to the caller: each step gets the
// answer complete_step would have given, dependents become ready, a task
// whose last step is in the batch completes, and the lost lease changes
// nothing.
func TestCompleteStepsRecordsABatchAsOneByOne(t *testing.T) {
	t.Parallel()
	b := setup(t)
	one := b.newTask(t, diamond(nil))
	two := b.newTask(t, diamond(nil))
	roots, err := b.store.ClaimSteps(b.ctx, owner, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, roots, 2)

	byTask := map[int64]core.StepRequest{}
	for _, s := range roots {
		byTask[s.TaskID] = s
	}
	statuses, err := b.store.CompleteSteps(b.ctx, owner, []store.Completion{
		{StepID: byTask[two].StepID, Results: json.RawMessage(`{"root": 2}`)},
		{StepID: byTask[one].StepID, Results: json.RawMessage(`{"root": 1}`)},
	})
	require.NoError(t, err)
	require.Equal(t, []string{core.TaskStatusInProgress, core.TaskStatusInProgress}, statuses, "in the order given")

	branches, err := b.store.ClaimSteps(b.ctx, owner, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, branches, 4, "both tasks' branches are ready")
	left, right := b.stepStatus(t, one)["left"].StepID, b.stepStatus(t, one)["right"].StepID
	otherLeft := b.stepStatus(t, two)["left"].StepID
	statuses, err = b.store.CompleteSteps(b.ctx, "someone-else", []store.Completion{{StepID: otherLeft, Results: json.RawMessage(`1`)}})
	require.NoError(t, err)
	require.Equal(t, []string{""}, statuses, "a lost lease: nothing recorded")
	require.Equal(t, core.StepStatusInProgress, b.stepStatus(t, two)["left"].Status)

	statuses, err = b.store.CompleteSteps(b.ctx, owner, []store.Completion{
		{StepID: left, Results: json.RawMessage(`"l"`)}, {StepID: right}, {StepID: otherLeft, Results: json.RawMessage(`"ol"`)},
	})
	require.NoError(t, err)
	require.Equal(t, []string{core.TaskStatusInProgress, core.TaskStatusInProgress, core.TaskStatusInProgress}, statuses)
	join := b.claim(t, 10)["join"]
	require.Equal(t, one, join.TaskID, "task one's join is ready once both its parents are recorded")
	require.Equal(t, map[string]json.RawMessage{"left": json.RawMessage(`"l"`), "right": json.RawMessage(`null`)}, join.DependencyResults)

	statuses, err = b.store.CompleteSteps(b.ctx, owner, []store.Completion{{StepID: join.StepID, Results: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	require.Equal(t, []string{core.TaskStatusComplete}, statuses)
	task, err := b.store.GetTask(b.ctx, one)
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, task.Status)

	_, err = b.store.CompleteSteps(b.ctx, owner, nil)
	require.NoError(t, err, "an empty batch is no error")
}
