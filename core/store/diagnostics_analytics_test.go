package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// diagRunToEnd completes every step that becomes ready until none is left.
func (b bundle) diagRunToEnd(t *testing.T) {
	t.Helper()
	for {
		steps := b.claim(t, 10)
		if len(steps) == 0 {
			return
		}
		for _, s := range steps {
			b.complete(t, s, `1`)
		}
	}
}

// diagFailStart claims the only ready step, start, and fails it.
func (b bundle) diagFailStart(t *testing.T, kind core.ErrorKind) store.Failure {
	t.Helper()
	s, ok := b.claim(t, 1)["start"]
	require.True(t, ok)
	f, err := b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Kind: kind, Message: "boom"})
	require.NoError(t, err)
	return f
}

// diagSetTaskSpan makes a task look created ago seconds back and finished
// lasted seconds later.
func (b bundle) diagSetTaskSpan(t *testing.T, id int64, ago, lasted float64) {
	t.Helper()
	b.diagExec(t, `update tasker.tasks set created_at = now() - make_interval(secs => $2),
		completed_at = now() - make_interval(secs => $2) + make_interval(secs => $3) where task_id = $1`, id, ago, lasted)
}

// diagSetLastRun makes the last attempt of a step start secs before it completed.
func (b bundle) diagSetLastRun(t *testing.T, taskID int64, name string, secs float64) {
	t.Helper()
	b.diagExec(t, `update tasker.step_transitions x set created_at = s.completed_at - make_interval(secs => $3)
		from tasker.workflow_steps s
		where s.task_id = $1 and s.name = $2 and x.transition_id =
			(select max(transition_id) from tasker.step_transitions where step_id = s.step_id and to_status = 'in_progress')`,
		taskID, name, secs)
}

func TestSystemHealthCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	named := func(name string, mod func(*core.Template)) *core.Template {
		return diamond(func(tp *core.Template) {
			tp.Name = name
			if mod != nil {
				mod(tp)
			}
		})
	}
	b.newTask(t, named("done", nil))
	b.diagRunToEnd(t) // complete: 4 complete steps
	b.newTask(t, named("failed", nil))
	b.diagFailStart(t, core.Permanent) // error: 1 error step (attempts left), 3 pending
	b.newTask(t, named("exhausted", func(tp *core.Template) { tp.Steps[0].RetryLimit = intp(1) }))
	require.Equal(t, core.StepStatusError, b.diagFailStart(t, core.Retryable).StepStatus) // error: 1 exhausted, 3 pending
	b.newTask(t, named("backoff", func(tp *core.Template) { tp.Steps[0].RetryBackoffMS = intp(60_000) }))
	b.diagFailStart(t, core.Retryable) // in_progress: 1 waiting_for_retry, 3 pending
	b.newTask(t, named("running", nil))
	b.claim(t, 1)                     // in_progress: 1 in_progress, 3 pending
	b.newTask(t, named("fresh", nil)) // pending: 4 pending
	cancelled := b.newTask(t, named("cancelled", nil))
	b.diagExec(t, "update tasker.workflow_steps set status = 'cancelled' where task_id = $1 and name = 'join'", cancelled)
	b.diagExec(t, "update tasker.tasks set status = 'cancelled' where task_id = $1", cancelled)
	resolved := b.newTask(t, named("resolved", nil))
	b.diagExec(t, "update tasker.workflow_steps set status = 'resolved_manually' where task_id = $1 and name = 'start'", resolved)
	b.diagExec(t, "update tasker.tasks set status = 'resolved_manually' where task_id = $1", resolved)

	c, err := b.store.SystemHealthCounts(b.ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, c.ActiveConnections, int64(1), "this query's own connection")
	require.Greater(t, c.MaxConnections, int64(0))
	c.ActiveConnections, c.MaxConnections = 0, 0
	require.Equal(t, store.SystemHealthCounts{
		TotalTasks: 8, PendingTasks: 1, InProgressTasks: 2, CompleteTasks: 1, ErrorTasks: 2, CancelledTasks: 1, ResolvedTasks: 1,
		TotalSteps: 32, PendingSteps: 22, InProgressSteps: 1, WaitingForRetrySteps: 1, CompleteSteps: 4, ErrorSteps: 2,
		CancelledSteps: 1, ResolvedSteps: 1, RetryableErrorSteps: 1, ExhaustedRetrySteps: 1, InBackoffSteps: 1,
	}, *c)
}

func TestAnalyticsMetricsWindows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Two hours ago: a complete task that took 30 minutes.
	old := b.newTask(t, diamond(nil))
	b.diagRunToEnd(t)
	b.diagSetTaskSpan(t, old, 7200, 1800)
	// Within the last hour: a complete task of 300 s whose steps ran 6, 2, 2
	// and 2 s; a failed task of 120 s; a pending task of another namespace.
	done := b.newTask(t, diamond(nil))
	b.diagRunToEnd(t)
	b.diagSetTaskSpan(t, done, 600, 300)
	for name, secs := range map[string]float64{"start": 6, "left": 2, "right": 2, "join": 2} {
		b.diagSetLastRun(t, done, name, secs)
	}
	failed := b.newTask(t, diamond(nil))
	b.diagFailStart(t, core.Permanent)
	b.diagSetTaskSpan(t, failed, 600, 120)
	b.newTask(t, &core.Template{Namespace: "billing", Name: "invoice", Version: "1.0.0",
		Steps: []core.StepTemplate{{Name: "only", Handler: "h"}}})

	m, err := b.store.AnalyticsMetrics(b.ctx, time.Time{})
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(-time.Hour), m.AnalysisPeriodStart, 5*time.Second, "a zero since is the last hour")
	require.WithinDuration(t, time.Now(), m.CalculatedAt, 5*time.Second)
	require.Equal(t, int64(1), m.ActiveTasksCount)
	require.Equal(t, int64(2), m.TotalNamespacesCount)
	require.Equal(t, int64(2), m.UniqueTaskTypesCount)
	require.Equal(t, int64(3), m.TaskThroughput)
	require.Equal(t, int64(1), m.CompletionCount)
	require.Equal(t, int64(1), m.ErrorCount)
	require.Equal(t, 0.5, m.SystemHealthScore)
	require.Equal(t, 0.3333, m.CompletionRate)
	require.Equal(t, 0.3333, m.ErrorRate)
	require.NotNil(t, m.AvgTaskDurationSeconds)
	require.InDelta(t, 210, *m.AvgTaskDurationSeconds, 0.001)
	require.NotNil(t, m.AvgStepDurationSeconds)
	require.InDelta(t, 3, *m.AvgStepDurationSeconds, 0.001)
	require.Equal(t, int64(4), m.StepThroughput)

	since := time.Now().Add(-3 * time.Hour)
	m, err = b.store.AnalyticsMetrics(b.ctx, since)
	require.NoError(t, err)
	require.WithinDuration(t, since, m.AnalysisPeriodStart, time.Millisecond)
	require.Equal(t, []int64{4, 2, 1, 8, 2}, []int64{m.TaskThroughput, m.CompletionCount, m.ErrorCount, m.StepThroughput, m.UniqueTaskTypesCount})
	require.Equal(t, 0.6667, m.SystemHealthScore)
	require.Equal(t, 0.5, m.CompletionRate)
	require.InDelta(t, (1800+300+120)/3.0, *m.AvgTaskDurationSeconds, 0.001)
	require.InDelta(t, 12/8.0, *m.AvgStepDurationSeconds, 0.1, "the old task's steps ran for milliseconds")

	m, err = b.store.AnalyticsMetrics(b.ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, []int64{0, 0, 0, 0, 1}, []int64{m.TaskThroughput, m.CompletionCount, m.ErrorCount, m.StepThroughput, m.ActiveTasksCount})
	require.Equal(t, 1.0, m.SystemHealthScore, "nothing finished: healthy")
	require.Equal(t, []float64{0, 0}, []float64{m.CompletionRate, m.ErrorRate})
	require.Nil(t, m.AvgTaskDurationSeconds)
	require.Nil(t, m.AvgStepDurationSeconds)
}

func TestSlowestTasksAndSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// diamond 1.0.0, 100 s; start failed once, then its second attempt ran
	// 10 s (its first 100 s, which must not count); join ran 20 s.
	medium := b.newTask(t, diamond(nil))
	b.diagFailStart(t, core.Retryable)
	b.diagRunToEnd(t)
	b.diagSetTaskSpan(t, medium, 3600, 100)
	b.diagExec(t, `update tasker.step_transitions x set created_at = s.completed_at - interval '100 seconds'
		from tasker.workflow_steps s where s.task_id = $1 and s.name = 'start' and x.step_id = s.step_id and x.to_status = 'in_progress'`, medium)
	b.diagSetLastRun(t, medium, "start", 10)
	b.diagSetLastRun(t, medium, "join", 20)
	// billing/invoice 2.0.0, 300 s; left ran 40 s.
	slow := b.newTask(t, diamond(func(tp *core.Template) { tp.Namespace, tp.Name, tp.Version = "billing", "invoice", "2.0.0" }))
	b.diagRunToEnd(t)
	b.diagSetTaskSpan(t, slow, 3600, 300)
	b.diagSetLastRun(t, slow, "left", 40)
	// diamond 1.0.0 failed after 50 s; no step completed.
	failed := b.newTask(t, diamond(nil))
	b.diagFailStart(t, core.Permanent)
	b.diagSetTaskSpan(t, failed, 3600, 50)
	// Two days ago, a day long: outside the default window of 24 hours.
	ancient := b.newTask(t, diamond(nil))
	b.diagRunToEnd(t)
	b.diagSetTaskSpan(t, ancient, 2*86400, 86400)
	b.newTask(t, diamond(nil)) // unfinished: never listed

	ids := func(rows []store.SlowTask) []int64 {
		var out []int64
		for _, r := range rows {
			out = append(out, r.TaskID)
		}
		return out
	}
	slowest := func(f store.SlowestFilter) []store.SlowTask {
		rows, err := b.store.SlowestTasks(b.ctx, f)
		require.NoError(t, err)
		return rows
	}
	rows := slowest(store.SlowestFilter{})
	require.Equal(t, []int64{slow, medium, failed}, ids(rows))
	require.Equal(t, []float64{300, 100, 50}, []float64{rows[0].DurationSeconds, rows[1].DurationSeconds, rows[2].DurationSeconds})
	require.Equal(t, []any{"invoice", "billing", "2.0.0", int64(4), int64(4), int64(0), core.TaskStatusComplete},
		[]any{rows[0].TaskName, rows[0].NamespaceName, rows[0].Version, rows[0].StepCount, rows[0].CompletedSteps, rows[0].ErrorSteps, rows[0].Status})
	require.Equal(t, []any{int64(0), int64(1), core.TaskStatusError}, []any{rows[2].CompletedSteps, rows[2].ErrorSteps, rows[2].Status})
	require.Equal(t, "test", *rows[0].Initiator)
	require.Nil(t, rows[0].SourceSystem)
	require.InDelta(t, 300, rows[0].CompletedAt.Sub(rows[0].CreatedAt).Seconds(), 0.001)

	require.Equal(t, []int64{ancient, slow, medium, failed}, ids(slowest(store.SlowestFilter{Since: time.Now().Add(-72 * time.Hour)})))
	require.Equal(t, []int64{slow}, ids(slowest(store.SlowestFilter{Limit: 1})))
	require.Equal(t, []int64{slow}, ids(slowest(store.SlowestFilter{Namespace: "billing"})))
	require.Equal(t, []int64{medium, failed}, ids(slowest(store.SlowestFilter{Namespace: "default", TaskName: "diamond"})))
	require.Equal(t, []int64{medium, failed}, ids(slowest(store.SlowestFilter{Version: "1.0.0"})))
	require.Empty(t, slowest(store.SlowestFilter{TaskName: "invoice", Version: "1.0.0"}))

	steps, err := b.store.SlowestSteps(b.ctx, store.SlowestFilter{})
	require.NoError(t, err)
	require.Len(t, steps, 8, "the complete steps of the two complete tasks in the window")
	top := steps[:3]
	require.Equal(t, []any{slow, "left", "invoice", "billing", "2.0.0", 40.0, 1},
		[]any{top[0].TaskID, top[0].StepName, top[0].TaskName, top[0].NamespaceName, top[0].Version, top[0].DurationSeconds, top[0].Attempts})
	require.Equal(t, []any{medium, "join", 20.0}, []any{top[1].TaskID, top[1].StepName, top[1].DurationSeconds})
	require.Equal(t, []any{medium, "start", 10.0, 2, core.DefaultRetryLimit, core.StepStatusComplete},
		[]any{top[2].TaskID, top[2].StepName, top[2].DurationSeconds, top[2].Attempts, top[2].RetryLimit, top[2].StepStatus},
		"the last attempt counts")
	require.InDelta(t, 10, top[2].CompletedAt.Sub(top[2].StartedAt).Seconds(), 0.001)

	steps, err = b.store.SlowestSteps(b.ctx, store.SlowestFilter{Namespace: "billing", Limit: 2})
	require.NoError(t, err)
	require.Len(t, steps, 2)
	require.Equal(t, "left", steps[0].StepName)
	require.Equal(t, slow, steps[1].TaskID)
	steps, err = b.store.SlowestSteps(b.ctx, store.SlowestFilter{Since: time.Now().Add(-72 * time.Hour), TaskName: "diamond", Version: "1.0.0"})
	require.NoError(t, err)
	require.Len(t, steps, 8, "medium's and ancient's steps")
	require.Equal(t, []string{"join", "start"}, []string{steps[0].StepName, steps[1].StepName})
}
