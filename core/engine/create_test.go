package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
)

// TestConcurrentCreationsEachGetTheirTask: requests that arrive together
// are created in shared batches (the creator); each still gets its own
// task with its own correlation id, and one the database refuses (a tag
// PostgreSQL cannot store) fails alone.
func TestConcurrentCreationsEachGetTheirTask(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, noops())
	const n = 40
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := core.TaskRequest{Name: "pipeline", CorrelationID: fmt.Sprintf("corr-%d", i)}
			if i == 17 {
				req.Tags = []string{"bad\x00tag"}
			}
			ids[i], _, errs[i] = b.engine.CreateTask(b.ctx, req)
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		if i == 17 {
			require.Error(t, errs[i])
			continue
		}
		require.NoError(t, errs[i], "request %d", i)
		require.False(t, seen[ids[i]], "request %d got another request's task", i)
		seen[ids[i]] = true
		task, err := b.store.GetTask(b.ctx, ids[i])
		require.NoError(t, err)
		require.NotNil(t, task.CorrelationID)
		require.Equal(t, fmt.Sprintf("corr-%d", i), *task.CorrelationID)
		require.Len(t, task.Steps, 3)
	}
	var tasks int
	require.NoError(t, b.pool.QueryRow(b.ctx, `select count(*) from tasker.tasks`).Scan(&tasks))
	require.Equal(t, n-1, tasks)
}

// TestConcurrentCreationsShareCommits: forty requests at once are created
// in far fewer transactions than forty (their task.created events carry
// their transaction ids).
func TestConcurrentCreationsShareCommits(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, noops())
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
			require.NoError(t, err)
		})
	}
	wg.Wait()
	var tasks, txs int
	require.NoError(t, b.pool.QueryRow(b.ctx, `select count(*), count(distinct txid) from tasker.events
		where name = 'task.created'`).Scan(&tasks, &txs))
	require.Equal(t, n, tasks)
	require.LessOrEqual(t, txs, n/2, "creations that arrive together share transactions")
}

// noops are handlers for the template's steps, for tests that do not run them.
func noops() map[string]core.Handler {
	noop := handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return json.RawMessage(`{}`), nil })
	return map[string]core.Handler{"fetch": noop, "charge": noop, "notify": noop}
}

// TestATaskCreatedWhileWorkersAreIdleStartsInItsCreatingTransaction: with
// the loop running and idle, the creation's transaction also claims the
// task's first step (task.created and the step's step.started share a
// transaction id), and the task runs to completion from there.
func TestATaskCreatedWhileWorkersAreIdleStartsInItsCreatingTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, noops())
	b.run(t)
	require.Eventually(t, func() bool { // the loop has looked for work once: its workers are idle
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, `select count(*) from tasker.events where name = 'engine.started'`).Scan(&n))
		return n == 1
	}, 10*time.Second, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // and finished its first claim (it polls every 20 ms)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	b.waitFor(t, id, core.TaskStatusComplete)
	var created, started int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `select
		(select (txid::text)::bigint from tasker.events where task_id = $1 and name = 'task.created'),
		(select (txid::text)::bigint from tasker.events where task_id = $1 and name = 'step.started' and payload->>'step_name' = 'fetch')`,
		id).Scan(&created, &started))
	require.Equal(t, created, started, "the first step was claimed in the transaction that created its task")
}

// TestATaskCreatedWithBypassedStepsWakesTheLoop: such a request is created
// on its own (outside the creator's batches); its steps still start at
// once, not at the next poll, with no notification to wake the loop.
func TestATaskCreatedWithBypassedStepsWakesTheLoop(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{PollInterval: time.Hour, NoListen: true}, noops())
	require.NoError(t, b.engine.LoadTemplates(b.ctx, []core.TemplateSource{{Origin: "test", YAML: []byte(`
name: optional
version: 1.0.0
step_templates:
  - {name: fetch, handler: fetch}
  - {name: charge, handler: charge, skippable: true}
`)}}))
	b.run(t)
	time.Sleep(500 * time.Millisecond) // the loop's first look for work, which finds none
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "optional", BypassSteps: []string{"charge"}})
	require.NoError(t, err)
	b.waitFor(t, id, core.TaskStatusComplete)
}
