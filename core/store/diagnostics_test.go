package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

func (b bundle) diagReadiness(t *testing.T, taskID int64) map[string]store.StepReadiness {
	t.Helper()
	rows, err := b.store.StepReadiness(b.ctx, taskID)
	require.NoError(t, err)
	out := map[string]store.StepReadiness{}
	for _, r := range rows {
		require.Equal(t, taskID, r.TaskID)
		out[r.Name] = r
	}
	return out
}

func (b bundle) diagContext(t *testing.T, taskID int64) *store.TaskExecutionContext {
	t.Helper()
	c, err := b.store.TaskExecutionContext(b.ctx, taskID)
	require.NoError(t, err)
	return c
}

func (b bundle) diagExec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, sql, args...)
	require.NoError(t, err)
}

func TestStepReadinessFollowsTheDAG(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))

	rows, err := b.store.StepReadiness(b.ctx, id)
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, []string{"start", "left", "right", "join"}, []string{rows[0].Name, rows[1].Name, rows[2].Name, rows[3].Name})

	r := b.diagReadiness(t, id)
	start := r["start"]
	require.Equal(t, core.StepStatusPending, start.CurrentState)
	require.True(t, start.DependenciesSatisfied)
	require.True(t, start.ReadyForExecution)
	require.True(t, start.RetryEligible, "never attempted")
	require.Equal(t, 0, start.TotalParents)
	require.Equal(t, 0, start.Attempts)
	require.Equal(t, core.DefaultRetryLimit, start.RetryLimit)
	require.Nil(t, start.LastAttemptedAt)
	require.Nil(t, start.LastFailureAt)
	require.Nil(t, start.NextRetryAt)
	require.Nil(t, start.BackoffRequestSeconds)
	for _, name := range []string{"left", "right"} {
		require.False(t, r[name].DependenciesSatisfied, name)
		require.False(t, r[name].ReadyForExecution, name)
		require.Equal(t, 1, r[name].TotalParents, name)
		require.Equal(t, 0, r[name].CompletedParents, name)
	}
	require.Equal(t, 2, r["join"].TotalParents)

	s := b.claim(t, 1)["start"]
	start = b.diagReadiness(t, id)["start"]
	require.Equal(t, core.StepStatusInProgress, start.CurrentState)
	require.False(t, start.ReadyForExecution, "leased")
	require.Equal(t, 1, start.Attempts)
	require.NotNil(t, start.LastAttemptedAt)
	require.True(t, start.RetryEligible, "a failure could still be retried")

	b.complete(t, s, `1`)
	r = b.diagReadiness(t, id)
	require.Equal(t, core.StepStatusComplete, r["start"].CurrentState)
	require.False(t, r["start"].ReadyForExecution)
	require.False(t, r["start"].RetryEligible, "finished")
	for _, name := range []string{"left", "right"} {
		require.True(t, r[name].DependenciesSatisfied, name)
		require.True(t, r[name].ReadyForExecution, name)
		require.Equal(t, 1, r[name].CompletedParents, name)
	}
	require.Equal(t, 2, r["join"].TotalParents)
	require.Equal(t, 0, r["join"].CompletedParents)
	require.False(t, r["join"].ReadyForExecution)

	branches := b.claim(t, 10)
	b.complete(t, branches["left"], `1`)
	r = b.diagReadiness(t, id)
	require.Equal(t, 1, r["join"].CompletedParents)
	require.False(t, r["join"].DependenciesSatisfied)

	empty, err := b.store.StepReadiness(b.ctx, 424242)
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestStepReadinessAcrossFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(func(tp *core.Template) {
		tp.Steps[0].RetryLimit = intp(2)
		tp.Steps[0].RetryBackoffMS = intp(60_000)
	}))

	s := b.claim(t, 1)["start"]
	f, err := b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Kind: core.Retryable, Message: "timeout"})
	require.NoError(t, err)
	start := b.diagReadiness(t, id)["start"]
	require.Equal(t, core.StepStatusWaitingForRetry, start.CurrentState)
	require.True(t, start.RetryEligible)
	require.False(t, start.ReadyForExecution, "in backoff")
	require.True(t, start.DependenciesSatisfied)
	require.NotNil(t, start.NextRetryAt)
	require.WithinDuration(t, *f.RetryAt, *start.NextRetryAt, time.Millisecond)
	require.NotNil(t, start.LastFailureAt)
	require.NotNil(t, start.BackoffRequestSeconds)
	require.True(t, *start.BackoffRequestSeconds >= 29 && *start.BackoffRequestSeconds <= 60, "got %v", *start.BackoffRequestSeconds)
	firstFailure := *start.LastFailureAt

	b.diagExec(t, "update tasker.workflow_steps set next_attempt_at = now() where task_id = $1", id)
	require.True(t, b.diagReadiness(t, id)["start"].ReadyForExecution, "backoff over")

	s = b.claim(t, 1)["start"]
	_, err = b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Kind: core.Retryable, Message: "timeout again"})
	require.NoError(t, err)
	start = b.diagReadiness(t, id)["start"]
	require.Equal(t, core.StepStatusError, start.CurrentState)
	require.Equal(t, 2, start.Attempts)
	require.False(t, start.RetryEligible, "attempts exhausted")
	require.False(t, start.ReadyForExecution)
	require.Nil(t, start.NextRetryAt)
	require.True(t, start.LastFailureAt.After(firstFailure))
	require.True(t, start.LastAttemptedAt.Before(*start.LastFailureAt))

	// A hand-back at shutdown is an attempt started but not a failure; a
	// step that is not retryable is eligible only before its first attempt.
	other := b.newTask(t, diamond(func(tp *core.Template) {
		tp.Name = "strict"
		tp.Steps[0].Retryable = boolp(false)
	}))
	require.True(t, b.diagReadiness(t, other)["start"].RetryEligible)
	s = b.claim(t, 1)["start"]
	require.False(t, b.diagReadiness(t, other)["start"].RetryEligible, "one attempt, not retryable")
	ok, err := b.store.ReleaseStep(b.ctx, s.StepID, owner, "node shutting down", 0)
	require.NoError(t, err)
	require.True(t, ok)
	start = b.diagReadiness(t, other)["start"]
	require.Equal(t, core.StepStatusPending, start.CurrentState)
	require.True(t, start.ReadyForExecution)
	require.True(t, start.RetryEligible)
	require.NotNil(t, start.LastAttemptedAt)
	require.Nil(t, start.LastFailureAt)
}

func TestTaskExecutionContextLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.TaskExecutionContext(b.ctx, 424242)
	require.ErrorIs(t, err, core.ErrNotFound)

	tplID, err := b.store.RegisterTemplate(b.ctx, diamond(nil))
	require.NoError(t, err)
	id := b.newTask(t, diamond(nil))
	c := b.diagContext(t, id)
	require.Equal(t, store.TaskExecutionContext{
		TaskID: id, TemplateID: tplID, Status: core.TaskStatusPending, TotalSteps: 4, PendingSteps: 4, ReadySteps: 1,
		ExecutionStatus: "has_ready_steps", RecommendedAction: "execute_ready_steps", HealthStatus: "healthy",
	}, *c)

	s := b.claim(t, 1)["start"]
	c = b.diagContext(t, id)
	require.Equal(t, core.TaskStatusInProgress, c.Status)
	require.Equal(t, int64(1), c.InProgressSteps)
	require.Equal(t, int64(0), c.ReadySteps)
	require.Equal(t, "processing", c.ExecutionStatus)
	require.Equal(t, "wait_for_completion", c.RecommendedAction)

	b.complete(t, s, `1`)
	c = b.diagContext(t, id)
	require.Equal(t, int64(1), c.CompletedSteps)
	require.Equal(t, int64(2), c.ReadySteps)
	require.Equal(t, 25.0, c.CompletionPercentage)
	require.Equal(t, "has_ready_steps", c.ExecutionStatus)

	for _, st := range b.claim(t, 10) {
		b.complete(t, st, `1`)
	}
	require.Equal(t, 75.0, b.diagContext(t, id).CompletionPercentage)
	require.Equal(t, core.TaskStatusComplete, b.complete(t, b.claim(t, 1)["join"], `1`))
	c = b.diagContext(t, id)
	require.Equal(t, int64(4), c.CompletedSteps)
	require.Equal(t, 100.0, c.CompletionPercentage)
	require.Equal(t, "all_complete", c.ExecutionStatus)
	require.Equal(t, "none", c.RecommendedAction, "the task is already complete")
	require.Equal(t, "healthy", c.HealthStatus)
}

func TestTaskExecutionContextFailuresAndOddStates(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// One branch failed for good while the other still runs, then nothing can run.
	id := b.newTask(t, diamond(nil))
	b.complete(t, b.claim(t, 1)["start"], `1`)
	branches := b.claim(t, 10)
	_, err := b.store.FailStep(b.ctx, branches["left"].StepID, owner, &core.StepError{Kind: core.Permanent, Message: "boom"})
	require.NoError(t, err)
	c := b.diagContext(t, id)
	require.Equal(t, []any{"processing", "wait_for_completion", "blocked", int64(1), int64(1)},
		[]any{c.ExecutionStatus, c.RecommendedAction, c.HealthStatus, c.FailedSteps, c.InProgressSteps})
	b.complete(t, branches["right"], `1`)
	c = b.diagContext(t, id)
	require.Equal(t, core.TaskStatusError, c.Status)
	require.Equal(t, []any{"blocked_by_failures", "handle_failures", "blocked", 50.0},
		[]any{c.ExecutionStatus, c.RecommendedAction, c.HealthStatus, c.CompletionPercentage})

	// A retryable failure in backoff: nothing to do but wait.
	id = b.newTask(t, diamond(func(tp *core.Template) { tp.Name = "slow"; tp.Steps[0].RetryBackoffMS = intp(60_000) }))
	_, err = b.store.FailStep(b.ctx, b.claim(t, 1)["start"].StepID, owner, &core.StepError{Kind: core.Retryable, Message: "503"})
	require.NoError(t, err)
	c = b.diagContext(t, id)
	require.Equal(t, []any{"waiting_for_dependencies", "wait_for_dependencies", "recovering", int64(1), int64(0)},
		[]any{c.ExecutionStatus, c.RecommendedAction, c.HealthStatus, c.WaitingSteps, c.ReadySteps})

	// Every step resolved behind the engine's back: the task needs settling.
	id = b.newTask(t, diamond(func(tp *core.Template) { tp.Name = "manual" }))
	b.diagExec(t, "update tasker.workflow_steps set status = 'resolved_manually' where task_id = $1", id)
	c = b.diagContext(t, id)
	require.Equal(t, []any{core.TaskStatusPending, "all_complete", "finalize_task", 100.0, int64(4)},
		[]any{c.Status, c.ExecutionStatus, c.RecommendedAction, c.CompletionPercentage, c.CompletedSteps})

	// A cancelled task.
	id = b.newTask(t, diamond(func(tp *core.Template) { tp.Name = "dropped" }))
	b.diagExec(t, "update tasker.workflow_steps set status = 'cancelled' where task_id = $1 and name = 'join'", id)
	b.diagExec(t, "update tasker.tasks set status = 'cancelled' where task_id = $1", id)
	c = b.diagContext(t, id)
	require.Equal(t, []any{"cancelled", "none", int64(1), int64(1)},
		[]any{c.ExecutionStatus, c.RecommendedAction, c.CancelledSteps, c.ReadySteps})
}

func TestDependencyLevels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	levels := func(id int64) map[string]int {
		rows, err := b.store.DependencyLevels(b.ctx, id)
		require.NoError(t, err)
		out := map[string]int{}
		for i, r := range rows {
			out[r.Name] = r.DependencyLevel
			if i > 0 {
				require.LessOrEqual(t, rows[i-1].DependencyLevel, r.DependencyLevel, "shallowest first")
			}
		}
		return out
	}
	require.Equal(t, map[string]int{"start": 0, "left": 1, "right": 1, "join": 2}, levels(b.newTask(t, diamond(nil))))

	// Two roots, a fan-out, and a merge of branches of different depths: the
	// merge sits one below its deepest parent.
	tree := &core.Template{Namespace: "default", Name: "tree", Version: "1.0.0", Steps: []core.StepTemplate{
		{Name: "a", Handler: "h"},
		{Name: "b", Handler: "h", DependsOnStep: "a"},
		{Name: "c", Handler: "h", DependsOnStep: "a"},
		{Name: "d", Handler: "h", DependsOnStep: "b"},
		{Name: "e", Handler: "h", DependsOnSteps: []string{"c", "d"}},
		{Name: "f", Handler: "h"},
		{Name: "g", Handler: "h", DependsOnSteps: []string{"f", "a"}},
	}}
	require.Equal(t, map[string]int{"a": 0, "f": 0, "b": 1, "c": 1, "g": 1, "d": 2, "e": 3}, levels(b.newTask(t, tree)))

	rows, err := b.store.DependencyLevels(b.ctx, 424242)
	require.NoError(t, err)
	require.Empty(t, rows)
}
