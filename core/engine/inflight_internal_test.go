package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// TestHeldStepCancelledBeforeItStartsNeverStarts: a step claimed with a
// batch waits for a worker; an operator's cancel of its task (or a lost
// lease) arriving meanwhile is counted, keeps its lease renewals going
// until the loop drops it, and makes start refuse it with the cause.
func TestHeldStepCancelledBeforeItStartsNeverStarts(t *testing.T) {
	t.Parallel()
	f := inflight{steps: map[int64]*running{}}
	f.hold([]core.StepRequest{{StepID: 1, TaskID: 10}, {StepID: 2, TaskID: 20}, {StepID: 3, TaskID: 10}})
	require.ElementsMatch(t, []int64{1, 2, 3}, f.ids(), "held steps' leases are renewed")

	require.Equal(t, 2, f.cancelTask(10, errCancelled))
	require.True(t, f.cancelStep(2, errLeaseLost))
	require.False(t, f.cancelStep(4, errCancelled), "not claimed here")

	for id, want := range map[int64]error{1: errCancelled, 2: errLeaseLost, 3: errCancelled} {
		require.ErrorIs(t, f.start(id, 0, func(error) { t.Fatalf("step %d: a refused start is not given a context", id) }), want)
	}
	require.Empty(t, f.ids(), "refused steps are forgotten")

	// A step that started is cancelled through its context, once running.
	f.hold([]core.StepRequest{{StepID: 5, TaskID: 30}})
	ctx, cancel := context.WithCancelCause(context.Background())
	require.NoError(t, f.start(5, 30, cancel))
	require.Equal(t, 1, f.cancelTask(30, errCancelled))
	require.ErrorIs(t, context.Cause(ctx), errCancelled)
	f.remove(5)
	require.Empty(t, f.ids())
}
