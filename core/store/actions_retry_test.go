package store_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

func TestRetryStepAfterPermanentFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	start := b.claim(t, 1)["start"]
	f, err := b.store.FailStep(b.ctx, start.StepID, owner, &core.StepError{Kind: core.Permanent, Message: "card declined"})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusError, f.TaskStatus)

	err = b.store.RetryStep(b.ctx, b.stepStatus(t, id)["left"].StepID, "", actor)
	require.ErrorIs(t, err, store.ErrConflict, "left is pending")
	require.ErrorContains(t, err, "(left) of task "+fmt.Sprint(id)+" is pending")

	work := b.listen(t, store.ChannelWork)
	require.NoError(t, b.store.RetryStep(b.ctx, start.StepID, "card updated", actor))
	require.Contains(t, notes(t, work), "")
	st := b.stepStatus(t, id)["start"]
	require.Equal(t, core.StepStatusPending, st.Status)
	require.Equal(t, 0, st.Attempts)
	require.Nil(t, st.LastError)
	require.Equal(t, transition{From: "error", To: "pending", Reason: "card updated",
		Meta: map[string]any{"actor": actor, "last_error": "card declined", "attempts": float64(1), "retried_step": "start"}},
		last(b.transitions(t, "steps", start.StepID)))
	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusPending, task.Status)
	require.Nil(t, task.CompletedAt)
	tr := last(b.transitions(t, "tasks", id))
	require.Equal(t, []string{"error", "pending", "card updated", actor}, []string{tr.From, tr.To, tr.Reason, tr.Meta["actor"].(string)})

	again := b.claim(t, 1)["start"]
	require.Equal(t, 1, again.Attempt, "runs again from its first attempt")
	require.Equal(t, core.TaskStatusInProgress, b.taskStatus(t, id))
	b.complete(t, again, `1`)
	require.Equal(t, core.TaskStatusComplete, b.runAll(t))
}

func TestRetryTaskAfterExhaustion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(func(tp *core.Template) { tp.Steps[1].RetryLimit = intp(1) }))
	b.complete(t, b.claim(t, 1)["start"], `1`)
	branches := b.claim(t, 10)
	_, err := b.store.FailStep(b.ctx, branches["left"].StepID, owner, &core.StepError{Message: "timeout"})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusError, b.complete(t, branches["right"], `2`))

	n, err := b.store.RetryTask(b.ctx, id, "upstream fixed", actor)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, map[string]string{"start": "complete", "left": "pending", "right": "complete", "join": "pending"}, b.statuses(t, id))
	require.Equal(t, map[string]int{"start": 0, "left": 0, "right": 0, "join": 1}, b.deps(t, id))
	require.Equal(t, core.TaskStatusPending, b.taskStatus(t, id))
	left := b.claim(t, 10)["left"]
	require.Equal(t, 1, left.Attempt)
	b.complete(t, left, `"l"`)
	require.Equal(t, core.TaskStatusComplete, b.runAll(t))

	_, err = b.store.RetryTask(b.ctx, id, "", actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "task "+fmt.Sprint(id)+" is complete")
	_, err = b.store.RetryTask(b.ctx, 424242, "", actor)
	require.ErrorIs(t, err, core.ErrNotFound)
}

func TestRetryTaskAfterCancellationRecomputesDeps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	b.complete(t, b.claim(t, 1)["start"], `1`)
	branches := b.claim(t, 10)
	b.complete(t, branches["right"], `2`) // join's count drops to 1 ...
	_, err := b.store.CancelTask(b.ctx, id, "pause", actor)
	require.NoError(t, err)

	n, err := b.store.RetryTask(b.ctx, id, "resume", actor)
	require.NoError(t, err)
	require.Equal(t, 2, n, "left and join")
	require.Equal(t, map[string]int{"start": 0, "left": 0, "right": 0, "join": 1}, b.deps(t, id), "... and stays right")
	require.Equal(t, core.TaskStatusComplete, b.runAll(t))

	// A cancelled dependent cannot be retried before its cancelled parent.
	other := b.newTask(t, diamond(nil))
	_, err = b.store.CancelTask(b.ctx, other, "", actor)
	require.NoError(t, err)
	err = b.store.RetryStep(b.ctx, b.stepStatus(t, other)["join"].StepID, "", actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "left (cancelled), right (cancelled)")
}

func TestResolveFailedStepLetsDependentsRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	b.complete(t, b.claim(t, 1)["start"], `1`)
	branches := b.claim(t, 10)

	err := b.store.ResolveStep(b.ctx, branches["left"].StepID, json.RawMessage(`{}`), "", actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "is in_progress")
	require.ErrorContains(t, err, "cancel")

	_, err = b.store.FailStep(b.ctx, branches["left"].StepID, owner, &core.StepError{Kind: core.Permanent, Message: "bad data"})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusError, b.complete(t, branches["right"], `"r"`))

	work := b.listen(t, store.ChannelWork)
	require.NoError(t, b.store.ResolveStep(b.ctx, branches["left"].StepID, json.RawMessage(`{"manual": true}`), "fixed by hand", actor))
	require.Contains(t, notes(t, work), "")
	left := b.stepStatus(t, id)["left"]
	require.Equal(t, core.StepStatusResolvedManually, left.Status)
	require.JSONEq(t, `{"manual": true}`, string(left.Results))
	require.NotNil(t, left.CompletedAt)
	require.Equal(t, transition{From: "error", To: "resolved_manually", Reason: "fixed by hand",
		Meta: map[string]any{"actor": actor, "last_error": "bad data"}}, last(b.transitions(t, "steps", left.StepID)))
	require.Equal(t, 0, b.deps(t, id)["join"])
	require.Equal(t, core.TaskStatusPending, b.taskStatus(t, id), "reopened: join can run")

	join := b.claim(t, 10)["join"]
	require.JSONEq(t, `{"manual": true}`, string(join.DependencyResults["left"]))
	require.Equal(t, core.TaskStatusComplete, b.complete(t, join, `{}`))

	err = b.store.ResolveStep(b.ctx, join.StepID, nil, "", actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "task "+fmt.Sprint(id)+" is complete")
	err = b.store.ResolveStep(b.ctx, 424242, nil, "", actor)
	require.ErrorIs(t, err, core.ErrNotFound)
}

func TestResolveLastFailedStepCompletesTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	ready := b.claim(t, 10)
	b.complete(t, ready["start"], `1`)
	ready = b.claim(t, 10)
	b.complete(t, ready["left"], `1`)
	b.complete(t, ready["right"], `1`)
	join := b.claim(t, 10)["join"]
	_, err := b.store.FailStep(b.ctx, join.StepID, owner, &core.StepError{Kind: core.Permanent, Message: "x"})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusError, b.taskStatus(t, id))

	require.NoError(t, b.store.ResolveStep(b.ctx, join.StepID, json.RawMessage(`1`), "accepted", actor))
	require.Equal(t, core.TaskStatusComplete, b.taskStatus(t, id))
	trs := b.transitions(t, "tasks", id)
	require.Equal(t, []string{"error", "pending"}, []string{trs[len(trs)-2].From, trs[len(trs)-2].To}, "error -> complete goes through pending")
	require.Equal(t, "complete", last(trs).To)
}
