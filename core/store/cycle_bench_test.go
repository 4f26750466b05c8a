package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

// BenchmarkStepCycle measures the SQL side of the chain scenario: one
// worker records a step's success and claims the next in one
// CompleteAndClaim, as the engine does on a chain, with no plugin call in
// between. It reports the time of one such cycle (the chain target is
// 1.5 ms per step for the whole appliance).
func BenchmarkStepCycle(b *testing.B) {
	const length = 200
	ctx := context.Background()
	st := store.New(pgtest.New(b))
	steps := make([]core.StepTemplate, length)
	for i := range steps {
		steps[i] = core.StepTemplate{Name: fmt.Sprintf("s%03d", i), Handler: "h"}
		if i > 0 {
			steps[i].DependsOnStep = steps[i-1].Name
		}
	}
	tplID, err := st.RegisterTemplate(ctx, &core.Template{Namespace: "default", Name: "chain", Version: "1.0.0", Steps: steps})
	require.NoError(b, err)
	var next []core.StepRequest
	for b.Loop() {
		if len(next) == 0 {
			_, _, err := st.CreateTask(ctx, store.NewTask{TemplateID: tplID}, core.TaskRequest{Context: json.RawMessage(`{}`)})
			require.NoError(b, err)
			next, err = st.ClaimSteps(ctx, "w", 1, time.Minute)
			require.NoError(b, err)
			require.Len(b, next, 1)
		}
		_, next, err = st.CompleteAndClaim(ctx, "w", []store.Completion{{StepID: next[0].StepID, Results: json.RawMessage(`{"n": 1}`)}},
			1, time.Minute, nil)
		require.NoError(b, err)
	}
}

// BenchmarkBatchCycle measures the SQL side of a burn-down's drain on one
// session: diamond tasks created beforehand, then drained in batches of 64,
// each batch's successes recorded and the next steps claimed in one
// CompleteAndClaim. It reports steps/s.
func BenchmarkBatchCycle(b *testing.B) {
	const tasks, batch = 1000, 64
	ctx := context.Background()
	st := store.New(pgtest.New(b))
	tplID, err := st.RegisterTemplate(ctx, diamond(nil))
	require.NoError(b, err)
	var steps int
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		cs := make([]store.Creation, 100)
		for i := range cs {
			cs[i] = store.Creation{NewTask: store.NewTask{TemplateID: tplID}, Request: core.TaskRequest{Context: json.RawMessage(`{}`)}}
		}
		for range tasks / len(cs) {
			_, err := st.CreateTasks(ctx, cs)
			require.NoError(b, err)
		}
		b.StartTimer()
		start := time.Now()
		claimed, err := st.ClaimSteps(ctx, "w", batch, time.Minute)
		require.NoError(b, err)
		for len(claimed) > 0 {
			done := make([]store.Completion, len(claimed))
			for i, c := range claimed {
				done[i] = store.Completion{StepID: c.StepID, Results: json.RawMessage(`{"n": 1}`)}
			}
			steps += len(done)
			_, claimed, err = st.CompleteAndClaim(ctx, "w", done, batch, time.Minute, nil)
			require.NoError(b, err)
		}
		took += time.Since(start)
	}
	require.Equal(b, b.N*tasks*4, steps)
	b.ReportMetric(float64(steps)/took.Seconds(), "steps/s")
}
