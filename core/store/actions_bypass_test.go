package store_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// Resolving a running step takes two actions: cancel it, then resolve it;
// the dependents its cancellation took run again.
func TestCancelThenResolveARunningStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	start := b.claim(t, 1)["start"]
	n, err := b.store.CancelStep(b.ctx, start.StepID, "hung", actor)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Equal(t, core.TaskStatusCancelled, b.taskStatus(t, id))

	require.NoError(t, b.store.ResolveStep(b.ctx, start.StepID, json.RawMessage(`{"n": 1}`), "done by hand", actor))
	require.Equal(t, map[string]string{"start": "resolved_manually", "left": "pending", "right": "pending", "join": "pending"},
		b.statuses(t, id))
	require.Equal(t, map[string]int{"start": 0, "left": 0, "right": 0, "join": 2}, b.deps(t, id))
	require.Equal(t, core.TaskStatusPending, b.taskStatus(t, id))
	tr := last(b.transitions(t, "steps", b.stepStatus(t, id)["join"].StepID))
	require.Equal(t, transition{From: "cancelled", To: "pending", Reason: "dependency start resolved manually",
		Meta: map[string]any{"actor": actor, "resolved_step": "start", "last_error": nil, "attempts": float64(0)}}, tr)

	branches := b.claim(t, 10)
	require.Len(t, branches, 2)
	require.JSONEq(t, `{"n": 1}`, string(branches["left"].DependencyResults["start"]))
	require.Equal(t, core.TaskStatusInProgress, b.taskStatus(t, id))
	for _, s := range branches {
		b.complete(t, s, `1`)
	}
	require.Equal(t, core.TaskStatusComplete, b.runAll(t))
}

// skippy: a -> b -> c, with a and b skippable.
func skippy() *core.Template {
	return &core.Template{Namespace: "default", Name: "skippy", Version: "1.0.0", Steps: []core.StepTemplate{
		{Name: "a", Handler: "h", Skippable: true},
		{Name: "b", Handler: "h", DependsOnStep: "a", Skippable: true},
		{Name: "c", Handler: "h", DependsOnStep: "b"},
	}}
}

func TestBypassSkippableSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, skippy())
	work := b.listen(t, store.ChannelWork)
	require.NoError(t, b.store.BypassSteps(b.ctx, id, []string{"b", "a", "a"}, actor))
	require.Equal(t, []string{""}, notes(t, work))

	steps := b.stepStatus(t, id)
	require.Equal(t, core.StepStatusResolvedManually, steps["a"].Status)
	require.Equal(t, core.StepStatusResolvedManually, steps["b"].Status)
	require.Nil(t, steps["b"].Results)
	require.Equal(t, transition{From: "pending", To: "resolved_manually", Reason: "bypassed at creation",
		Meta: map[string]any{"actor": actor}}, last(b.transitions(t, "steps", steps["a"].StepID)))
	require.Equal(t, map[string]int{"a": 0, "b": 0, "c": 0}, b.deps(t, id))
	require.Equal(t, core.TaskStatusPending, b.taskStatus(t, id))

	c := b.claim(t, 10)["c"]
	require.Equal(t, map[string]json.RawMessage{"b": json.RawMessage(`null`)}, c.DependencyResults)
	require.Equal(t, core.TaskStatusComplete, b.complete(t, c, `1`))

	// Bypassing every step completes the task at once.
	all := b.newTask(t, &core.Template{Namespace: "default", Name: "all", Version: "1.0.0", Steps: []core.StepTemplate{
		{Name: "x", Handler: "h", Skippable: true}, {Name: "y", Handler: "h", Skippable: true, DependsOnStep: "x"},
	}})
	require.NoError(t, b.store.BypassSteps(b.ctx, all, []string{"x", "y"}, actor))
	require.Equal(t, core.TaskStatusComplete, b.taskStatus(t, all))
	tr := last(b.transitions(t, "tasks", all))
	require.Equal(t, transition{From: "pending", To: "complete", Reason: "all steps complete", Meta: map[string]any{"actor": actor}}, tr)

	fresh := b.newTask(t, skippy())
	require.NoError(t, b.store.BypassSteps(b.ctx, fresh, nil, actor), "nothing to bypass")
	require.Len(t, b.transitions(t, "tasks", fresh), 1)
}

func TestBypassRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, skippy())
	before := b.transitions(t, "tasks", id)

	err := b.store.BypassSteps(b.ctx, id, []string{"a", "c"}, actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "step c of task")
	require.ErrorContains(t, err, "not skippable")
	err = b.store.BypassSteps(b.ctx, id, []string{"a", "nope"}, actor)
	require.ErrorIs(t, err, core.ErrNotFound)
	require.ErrorContains(t, err, "has no step nope")
	require.Equal(t, map[string]string{"a": "pending", "b": "pending", "c": "pending"}, b.statuses(t, id))
	require.Equal(t, map[string]int{"a": 0, "b": 1, "c": 1}, b.deps(t, id))
	require.Equal(t, before, b.transitions(t, "tasks", id))

	// In the caller's transaction, as after create_task: a refusal rolls
	// everything back.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, "select tasker.bypass_steps($1, $2, $3)", id, []string{"c"}, actor)
	require.ErrorContains(t, err, "not skippable")
	require.NoError(t, tx.Rollback(b.ctx))

	b.complete(t, b.claim(t, 1)["a"], `1`)
	err = b.store.BypassSteps(b.ctx, id, []string{"b"}, actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "task")
	require.ErrorContains(t, err, "is in_progress")
	_, err = b.store.CancelTask(b.ctx, id, "", actor)
	require.NoError(t, err)
	err = b.store.BypassSteps(b.ctx, 424242, []string{"a"}, actor)
	require.ErrorIs(t, err, core.ErrNotFound)
}
