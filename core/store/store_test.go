package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const owner = "node-a"

type bundle struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *store.Store
}

func setup(t *testing.T) bundle {
	t.Helper()
	pool := pgtest.New(t)
	return bundle{ctx: context.Background(), pool: pool, store: store.New(pool)}
}

func intp(i int) *int    { return &i }
func boolp(b bool) *bool { return &b }

// diamond: start -> (left, right) -> join.
func diamond(mod func(*core.Template)) *core.Template {
	t := &core.Template{Namespace: "default", Name: "diamond", Version: "1.0.0", Steps: []core.StepTemplate{
		{Name: "start", Handler: "h", RetryBackoffMS: intp(0)},
		{Name: "left", Handler: "h", DependsOnStep: "start", RetryBackoffMS: intp(0)},
		{Name: "right", Handler: "h", DependsOnSteps: []string{"start"}, RetryBackoffMS: intp(0)},
		{Name: "join", Handler: "h", DependsOnStep: "left", DependsOnSteps: []string{"right"}, RetryBackoffMS: intp(0)},
	}}
	if mod != nil {
		mod(t)
	}
	return t
}

func (b bundle) newTask(t *testing.T, tpl *core.Template) int64 {
	t.Helper()
	tplID, err := b.store.RegisterTemplate(b.ctx, tpl)
	require.NoError(t, err)
	id, created, err := b.store.CreateTask(b.ctx, store.NewTask{TemplateID: tplID},
		core.TaskRequest{Context: json.RawMessage(`{"order_id": 7}`), Initiator: "test", Tags: []string{"x"}})
	require.NoError(t, err)
	require.True(t, created)
	return id
}

func (b bundle) claim(t *testing.T, limit int) map[string]core.StepRequest {
	t.Helper()
	steps, err := b.store.ClaimSteps(b.ctx, owner, limit, time.Minute)
	require.NoError(t, err)
	out := map[string]core.StepRequest{}
	for _, s := range steps {
		out[s.StepName] = s
	}
	return out
}

func (b bundle) complete(t *testing.T, s core.StepRequest, results string) string {
	t.Helper()
	status, err := b.store.CompleteStep(b.ctx, s.StepID, owner, json.RawMessage(results))
	require.NoError(t, err)
	return status
}

func (b bundle) stepStatus(t *testing.T, taskID int64) map[string]core.Step {
	t.Helper()
	task, err := b.store.GetTask(b.ctx, taskID)
	require.NoError(t, err)
	out := map[string]core.Step{}
	for _, s := range task.Steps {
		out[s.Name] = s
	}
	return out
}

func keys(m map[string]core.StepRequest) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDiamondRunsInDependencyOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))

	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusPending, task.Status)
	require.Equal(t, "diamond", task.Name)
	require.JSONEq(t, `{"order_id": 7}`, string(task.Context))
	require.Len(t, task.Steps, 4)
	require.Equal(t, []string{"left", "right"}, task.Steps[3].DependsOn)

	first := b.claim(t, 10)
	require.ElementsMatch(t, []string{"start"}, keys(first), "only the root is ready")
	require.Equal(t, 1, first["start"].Attempt)
	require.Equal(t, "default", first["start"].Namespace)
	require.JSONEq(t, `{"order_id": 7}`, string(first["start"].Context))
	require.Empty(t, b.claim(t, 10), "a leased step is not claimed twice")

	task, err = b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusInProgress, task.Status)

	require.Equal(t, core.TaskStatusInProgress, b.complete(t, first["start"], `{"n": 1}`))
	second := b.claim(t, 10)
	require.ElementsMatch(t, []string{"left", "right"}, keys(second), "both branches run in parallel")
	require.JSONEq(t, `{"n": 1}`, string(second["left"].DependencyResults["start"]))

	b.complete(t, second["left"], `"l"`)
	require.Empty(t, b.claim(t, 10), "join waits for both parents")
	b.complete(t, second["right"], `"r"`)
	third := b.claim(t, 10)
	require.ElementsMatch(t, []string{"join"}, keys(third))
	require.Equal(t, map[string]json.RawMessage{"left": json.RawMessage(`"l"`), "right": json.RawMessage(`"r"`)}, third["join"].DependencyResults)

	require.Equal(t, core.TaskStatusComplete, b.complete(t, third["join"], `{}`))
	task, err = b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, task.Status)
	require.NotNil(t, task.CompletedAt)

	var transitions int
	require.NoError(t, b.pool.QueryRow(b.ctx, "select count(*) from tasker.step_transitions where task_id = $1", id).Scan(&transitions))
	require.Equal(t, 12, transitions, "each step: created, claimed, completed")
	var taskTransitions []string
	rows, err := b.pool.Query(b.ctx, "select to_status from tasker.task_transitions where task_id = $1 order by transition_id", id)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		taskTransitions = append(taskTransitions, s)
	}
	require.Equal(t, []string{"pending", "in_progress", "complete"}, taskTransitions)
}

func TestRetryThenExhaust(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(func(tp *core.Template) { tp.Steps[0].RetryLimit = intp(2) }))

	s := b.claim(t, 1)["start"]
	f, err := b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Kind: core.Retryable, Message: "gateway timeout"})
	require.NoError(t, err)
	require.Equal(t, core.StepStatusWaitingForRetry, f.StepStatus)
	require.Equal(t, core.TaskStatusInProgress, f.TaskStatus)
	require.NotNil(t, f.RetryAt)
	require.Equal(t, "gateway timeout", *b.stepStatus(t, id)["start"].LastError)

	s = b.claim(t, 1)["start"]
	require.Equal(t, 2, s.Attempt, "the retry is the second attempt")
	f, err = b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Kind: core.Retryable, Message: "gateway timeout again"})
	require.NoError(t, err)
	require.Equal(t, core.StepStatusError, f.StepStatus, "retry limit counts every attempt")
	require.Equal(t, core.TaskStatusError, f.TaskStatus, "nothing else can run")
	require.Nil(t, f.RetryAt)
	require.Empty(t, b.claim(t, 10))

	var reason string
	require.NoError(t, b.pool.QueryRow(b.ctx,
		"select reason from tasker.task_transitions where task_id = $1 and to_status = 'error'", id).Scan(&reason))
	require.Equal(t, "steps failed: start", reason)
}

func TestPermanentErrorAndNonRetryableStopAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name string
		tpl  *core.Template
		kind core.ErrorKind
	}{
		{"permanent error with attempts left", diamond(nil), core.Permanent},
		{"retryable error on a non-retryable step", diamond(func(tp *core.Template) { tp.Steps[0].Retryable = boolp(false) }), core.Retryable},
	} {
		id := b.newTask(t, tc.tpl)
		s := b.claim(t, 1)["start"]
		f, err := b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Kind: tc.kind, Message: "card declined"})
		require.NoError(t, err, tc.name)
		require.Equal(t, core.StepStatusError, f.StepStatus, tc.name)
		require.Equal(t, core.TaskStatusError, f.TaskStatus, tc.name)
		require.Equal(t, 1, b.stepStatus(t, id)["start"].Attempts, tc.name)
	}
}

func TestFailedBranchLetsIndependentBranchFinish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	b.complete(t, b.claim(t, 1)["start"], `1`)
	branches := b.claim(t, 10)

	f, err := b.store.FailStep(b.ctx, branches["left"].StepID, owner, &core.StepError{Kind: core.Permanent, Message: "boom"})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusInProgress, f.TaskStatus, "right is still running")

	require.Equal(t, core.TaskStatusError, b.complete(t, branches["right"], `2`), "join can never run")
	steps := b.stepStatus(t, id)
	require.Equal(t, core.StepStatusComplete, steps["right"].Status)
	require.Equal(t, core.StepStatusPending, steps["join"].Status)
}

func TestBackoffAndRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(func(tp *core.Template) {
		tp.Steps[0].RetryBackoffMS = intp(60_000)
		tp.Steps[0].RetryLimit = intp(5)
		tp.Steps[0].RetryMaxMS = intp(90_000)
	}))
	nextIn := func() time.Duration {
		var d time.Duration
		require.NoError(t, b.pool.QueryRow(b.ctx,
			"select next_attempt_at - now() from tasker.workflow_steps where task_id = $1 and name = 'start'", id).Scan(&d))
		return d
	}
	release := func() {
		_, err := b.pool.Exec(b.ctx, "update tasker.workflow_steps set next_attempt_at = now() where task_id = $1", id)
		require.NoError(t, err)
	}

	s := b.claim(t, 1)["start"]
	_, err := b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Message: "x"})
	require.NoError(t, err)
	d := nextIn()
	require.True(t, d >= 29*time.Second && d <= 61*time.Second, "first retry: base with jitter in [base/2, base], got %s", d)
	require.Empty(t, b.claim(t, 1), "not ready before its backoff")

	release()
	s = b.claim(t, 1)["start"]
	_, err = b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Message: "x"})
	require.NoError(t, err)
	d = nextIn()
	require.True(t, d >= 44*time.Second && d <= 91*time.Second, "second retry: 2*base capped at 90s, got %s", d)

	release()
	s = b.claim(t, 1)["start"]
	_, err = b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Message: "429", RetryAfter: 3 * time.Second})
	require.NoError(t, err)
	d = nextIn()
	require.True(t, d > 2*time.Second && d <= 3*time.Second, "a requested delay wins over backoff, got %s", d)

	release()
	s = b.claim(t, 1)["start"]
	_, err = b.store.FailStep(b.ctx, s.StepID, owner, &core.StepError{Message: "429", RetryAfter: time.Hour})
	require.NoError(t, err)
	d = nextIn()
	require.True(t, d > 89*time.Second && d <= 90*time.Second, "a requested delay is capped too, got %s", d)
}

func TestLostLeaseChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	s := b.claim(t, 1)["start"]

	status, err := b.store.CompleteStep(b.ctx, s.StepID, "someone-else", json.RawMessage(`1`))
	require.NoError(t, err)
	require.Empty(t, status)
	f, err := b.store.FailStep(b.ctx, s.StepID, "someone-else", &core.StepError{Message: "x"})
	require.NoError(t, err)
	require.Equal(t, store.Failure{}, f)
	require.Equal(t, core.StepStatusInProgress, b.stepStatus(t, id)["start"].Status)
}

func TestReaperAndRelease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))

	steps, err := b.store.ClaimSteps(b.ctx, owner, 1, time.Millisecond)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	time.Sleep(20 * time.Millisecond)
	n, err := b.store.ReapExpiredLeases(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	st := b.stepStatus(t, id)["start"]
	require.Equal(t, core.StepStatusWaitingForRetry, st.Status)
	require.Equal(t, 1, st.Attempts, "the lost attempt counts")
	require.Contains(t, *st.LastError, "lease of node-a expired")

	s := b.claim(t, 1)["start"]
	require.Equal(t, 2, s.Attempt)
	ok, err := b.store.ReleaseStep(b.ctx, s.StepID, owner, "node shutting down", 0)
	require.NoError(t, err)
	require.True(t, ok)
	st = b.stepStatus(t, id)["start"]
	require.Equal(t, core.StepStatusWaitingForRetry, st.Status)
	require.Equal(t, 1, st.Attempts, "a released attempt is not charged")
	require.Equal(t, 2, b.claim(t, 1)["start"].Attempt)
}

func TestConcurrentClaimsNeverShareAStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tpl := &core.Template{Namespace: "default", Name: "wide", Version: "1.0.0"}
	for i := range 50 {
		tpl.Steps = append(tpl.Steps, core.StepTemplate{Name: fmt.Sprintf("s%d", i), Handler: "h"})
	}
	for range 4 {
		b.newTask(t, tpl)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				steps, err := b.store.ClaimSteps(b.ctx, fmt.Sprintf("w%d", w), 7, time.Minute)
				if err != nil || len(steps) == 0 {
					return
				}
				mu.Lock()
				for _, s := range steps {
					seen[s.StepID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, seen, 200, "every step claimed")
	for id, n := range seen {
		require.Equal(t, 1, n, "step %d claimed %d times", id, n)
	}
}

func TestGetTaskNotFoundAndList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.GetTask(b.ctx, 424242)
	require.ErrorIs(t, err, core.ErrNotFound)

	first := b.newTask(t, diamond(nil))
	second := b.newTask(t, diamond(nil))
	b.claim(t, 1)
	tasks, total, err := b.store.ListTasks(b.ctx, store.TaskFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, tasks, 2)
	require.EqualValues(t, 2, total)
	require.Equal(t, []int64{second, first}, []int64{tasks[0].TaskID, tasks[1].TaskID}, "newest first")
	pending, _, err := b.store.ListTasks(b.ctx, store.TaskFilter{Status: "pending", Limit: 10})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, second, pending[0].TaskID, "the older task's step was claimed first")
}
