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
