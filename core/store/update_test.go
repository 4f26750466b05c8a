package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

func strp(s string) *string { return &s }

func TestUpdateTaskReasonAndTags(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))

	require.NoError(t, b.store.UpdateTask(b.ctx, id, store.TaskUpdate{Reason: strp("nightly run"), Tags: []string{"a", "b"}}, actor))
	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, "nightly run", task.Reason)
	require.Equal(t, []string{"a", "b"}, task.Tags)
	tr := last(b.transitions(t, "tasks", id))
	require.Equal(t, transition{From: "pending", To: "pending", Reason: "updated by " + actor, Meta: map[string]any{
		"actor": actor,
		"updated": map[string]any{
			"reason": map[string]any{"old": nil, "new": "nightly run"},
			"tags":   map[string]any{"old": []any{"x"}, "new": []any{"a", "b"}},
		}}}, tr)

	// Only tags: the reason stays; an empty list clears them.
	require.NoError(t, b.store.UpdateTask(b.ctx, id, store.TaskUpdate{Tags: []string{}}, actor))
	task, err = b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, "nightly run", task.Reason)
	require.Empty(t, task.Tags)
	// "" clears the reason.
	require.NoError(t, b.store.UpdateTask(b.ctx, id, store.TaskUpdate{Reason: strp("")}, actor))
	task, err = b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, "", task.Reason)

	// Any state: a cancelled task's metadata can change too.
	_, err = b.store.CancelTask(b.ctx, id, "", actor)
	require.NoError(t, err)
	require.NoError(t, b.store.UpdateTask(b.ctx, id, store.TaskUpdate{Tags: []string{"after"}}, actor))
	require.Equal(t, "cancelled", last(b.transitions(t, "tasks", id)).To)

	// Nothing to change: no audit row.
	n := len(b.transitions(t, "tasks", id))
	require.NoError(t, b.store.UpdateTask(b.ctx, id, store.TaskUpdate{}, actor))
	require.Len(t, b.transitions(t, "tasks", id), n)

	err = b.store.UpdateTask(b.ctx, 999999, store.TaskUpdate{Reason: strp("x")}, actor)
	require.ErrorIs(t, err, core.ErrNotFound)
	require.EqualError(t, err, "task 999999 does not exist")
}

func TestUpdateStepRetryLimitRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(func(tp *core.Template) { tp.Steps[0].RetryLimit = intp(2) }))
	steps := b.stepStatus(t, id)
	start := steps["start"].StepID

	// Unknown task, unknown step, a step of another task.
	err := b.store.UpdateStep(b.ctx, 999999, start, store.StepUpdate{RetryLimit: intp(5)}, actor)
	require.ErrorIs(t, err, core.ErrNotFound)
	require.EqualError(t, err, "task 999999 does not exist")

	// A value the database refuses whatever the state.
	err = b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{RetryLimit: intp(0)}, actor)
	require.ErrorIs(t, err, store.ErrInvalid)

	// Running its first attempt: 1 is allowed (the attempt that runs), with an audit row.
	s := b.claim(t, 1)["start"]
	require.Equal(t, start, s.StepID)
	require.NoError(t, b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{RetryLimit: intp(3)}, actor))
	tr := last(b.transitions(t, "steps", start))
	require.Equal(t, transition{From: "in_progress", To: "in_progress", Reason: "updated by " + actor, Meta: map[string]any{
		"actor": actor, "updated": map[string]any{"retry_limit": map[string]any{"old": 2.0, "new": 3.0}}}}, tr)

	// Waiting for its second attempt: the limit must allow it.
	f, err := b.store.FailStep(b.ctx, start, owner, &core.StepError{Kind: core.Retryable, Message: "boom"})
	require.NoError(t, err)
	require.Equal(t, core.StepStatusWaitingForRetry, f.StepStatus)
	err = b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{RetryLimit: intp(1)}, actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.Contains(t, err.Error(), "waiting_for_retry with 1 attempt(s) made: retry_limit 1 would not allow the attempt it runs next; it must be at least 2")
	require.Equal(t, 3, b.stepStatus(t, id)["start"].RetryLimit, "refused: nothing changed")
	require.NoError(t, b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{RetryLimit: intp(2)}, actor))

	// In error, a retry starts from attempt 1: any limit will do.
	_, err = b.pool.Exec(b.ctx, "update tasker.workflow_steps set next_attempt_at = now() where step_id = $1", start)
	require.NoError(t, err)
	s = b.claim(t, 1)["start"]
	require.Equal(t, 2, s.Attempt)
	err = b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{RetryLimit: intp(1)}, actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.Contains(t, err.Error(), "in_progress with 2 attempt(s) made: retry_limit 1 would not allow the attempt it is running; it must be at least 2")
	f, err = b.store.FailStep(b.ctx, start, owner, &core.StepError{Kind: core.Retryable, Message: "boom"})
	require.NoError(t, err)
	require.Equal(t, core.StepStatusError, f.StepStatus)
	require.NoError(t, b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{RetryLimit: intp(1)}, actor))
	require.Equal(t, 1, b.stepStatus(t, id)["start"].RetryLimit)

	other := b.newTask(t, diamond(nil))
	err = b.store.UpdateStep(b.ctx, other, start, store.StepUpdate{RetryLimit: intp(5)}, actor)
	require.ErrorIs(t, err, core.ErrNotFound)
	require.EqualError(t, err, fmt.Sprintf("task %d has no step %d", other, start))
}

func TestUpdateStepInputsRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(func(tp *core.Template) { tp.Steps[0].RetryLimit = intp(1) }))
	start := b.stepStatus(t, id)["start"].StepID
	join := b.stepStatus(t, id)["join"].StepID
	require.Equal(t, json.RawMessage(nil), b.stepStatus(t, id)["start"].Inputs, "no inputs until set")

	// Pending: allowed, and the claim hands them to the handler.
	require.NoError(t, b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{Inputs: json.RawMessage(`{"sku": "A-1"}`)}, actor))
	require.JSONEq(t, `{"sku": "A-1"}`, string(b.stepStatus(t, id)["start"].Inputs))
	s := b.claim(t, 1)["start"]
	require.JSONEq(t, `{"sku": "A-1"}`, string(s.Inputs))

	// Running: refused, naming the state; retry_limit in the same call is not applied either.
	err := b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{RetryLimit: intp(9), Inputs: json.RawMessage(`{}`)}, actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.Contains(t, err.Error(), "is in_progress: its inputs can only be changed while it is pending, waiting_for_retry, error or cancelled")
	require.Equal(t, 1, b.stepStatus(t, id)["start"].RetryLimit)

	// Failed for good: the operator corrects the inputs and retries; the next claim sees them.
	f, err := b.store.FailStep(b.ctx, start, owner, &core.StepError{Kind: core.Permanent, Message: "unknown sku"})
	require.NoError(t, err)
	require.Equal(t, core.StepStatusError, f.StepStatus)
	require.NoError(t, b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{Inputs: json.RawMessage(`{"sku": "A-2"}`)}, actor))
	tr := last(b.transitions(t, "steps", start))
	require.Equal(t, transition{From: "error", To: "error", Reason: "updated by " + actor, Meta: map[string]any{
		"actor": actor, "updated": map[string]any{"inputs": map[string]any{
			"old": map[string]any{"sku": "A-1"}, "new": map[string]any{"sku": "A-2"}}}}}, tr)
	require.NoError(t, b.store.RetryStep(b.ctx, start, "fixed the sku", actor))
	s = b.claim(t, 1)["start"]
	require.Equal(t, 1, s.Attempt)
	require.JSONEq(t, `{"sku": "A-2"}`, string(s.Inputs))
	require.Equal(t, core.TaskStatusInProgress, b.complete(t, s, `{}`))

	// Complete: refused.
	err = b.store.UpdateStep(b.ctx, id, start, store.StepUpdate{Inputs: json.RawMessage(`{}`)}, actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.Contains(t, err.Error(), "is complete: its inputs")

	// Not an object: refused by the database too.
	err = b.store.UpdateStep(b.ctx, id, join, store.StepUpdate{Inputs: json.RawMessage(`[1]`)}, actor)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.Contains(t, err.Error(), "must be a JSON object, not array")

	// Cancelled: allowed.
	_, err = b.store.CancelStep(b.ctx, join, "", actor)
	require.NoError(t, err)
	require.NoError(t, b.store.UpdateStep(b.ctx, id, join, store.StepUpdate{Inputs: json.RawMessage(`{"k": 1}`)}, actor))
}

// An update of a running step writes an in_progress -> in_progress row: the
// diagnostics must still take the step's start from its claim.
func TestUpdateOfRunningStepKeepsItsStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	s := b.claim(t, 1)["start"]
	var claimedAt time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, "select max(created_at) from tasker.step_transitions where step_id = $1 and to_status = 'in_progress'", s.StepID).Scan(&claimedAt))
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, b.store.UpdateStep(b.ctx, id, s.StepID, store.StepUpdate{RetryLimit: intp(7)}, actor))
	rd, err := b.store.StepReadiness(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, s.StepID, rd[0].WorkflowStepID)
	require.NotNil(t, rd[0].LastAttemptedAt)
	require.True(t, rd[0].LastAttemptedAt.Equal(claimedAt), "last attempt at the claim (%s), not the update (%s)", claimedAt, rd[0].LastAttemptedAt)
	require.Equal(t, 7, rd[0].RetryLimit)
}
