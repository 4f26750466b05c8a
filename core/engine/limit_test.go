package engine_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
)

// limited is a handler that declares a concurrency limit and records the
// most calls it saw at once.
type limited struct {
	limit   int
	now     atomic.Int32
	highest atomic.Int32
}

func (l *limited) MaxConcurrency() int { return l.limit }

func (l *limited) Execute(context.Context, core.StepRequest) (json.RawMessage, error) {
	n := l.now.Add(1)
	defer l.now.Add(-1)
	for {
		h := l.highest.Load()
		if n <= h || l.highest.CompareAndSwap(h, n) {
			break
		}
	}
	time.Sleep(30 * time.Millisecond)
	return json.RawMessage(`1`), nil
}

func TestHandlerConcurrencyLimit(t *testing.T) {
	t.Parallel()
	api := &limited{limit: 2}
	handlers := handlersForPipeline()
	handlers["api"] = api
	b := setup(t, engine.Config{Workers: 8}, handlers)
	loadTemplate(t, b, `
name: fan
version: 1.0.0
step_templates:
  - {name: a, handler: api}
  - {name: b, handler: api}
  - {name: c, handler: api}
  - {name: d, handler: api}
  - {name: e, handler: api}
  - {name: f, handler: fetch}`)
	b.run(t)
	var ids []int64
	for range 3 {
		id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "fan"})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	for _, id := range ids {
		task := b.waitFor(t, id, core.TaskStatusComplete)
		for _, s := range task.Steps {
			require.Equal(t, 1, s.Attempts, "a step handed back for the limit is not charged an attempt")
		}
	}
	require.Equal(t, int32(2), api.highest.Load(), "15 steps of a handler limited to 2, on 8 workers")
}

func TestUnavailableHandlerDoesNotUseAttempts(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	handlers := handlersForPipeline()
	handlers["restarting"] = handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) {
		if calls.Add(1) <= 3 {
			return nil, &core.StepError{Kind: core.Retryable, NotRun: true, RetryAfter: 50 * time.Millisecond,
				Message: "plugin x crashed 3 times in a row; restarting in 50ms"}
		}
		return json.RawMessage(`"done"`), nil
	})
	b := setup(t, engine.Config{}, handlers)
	loadTemplate(t, b, `
name: once
version: 1.0.0
step_templates: [{name: a, handler: restarting, default_retry_limit: 1}]`)
	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "once"})
	require.NoError(t, err)
	task := b.waitFor(t, id, core.TaskStatusComplete)
	require.Equal(t, 1, task.Steps[0].Attempts, "three deferrals while the plugin was down cost no attempt of a 1-attempt step")
	require.Equal(t, int32(4), calls.Load())
	require.Contains(t, b.logs.String(), "handler unavailable; step deferred without using an attempt")
}
