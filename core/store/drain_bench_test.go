package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

// BenchmarkDrain measures the SQL side of the burn-down scenario: diamond
// tasks already created, drained by concurrent workers that claim a batch
// and complete each step, with no plugin and no HTTP in between. It reports
// steps/s; the engine's own figures (make bench) add the plugin call.
func BenchmarkDrain(b *testing.B) {
	b.Run("one-by-one", func(b *testing.B) { benchDrain(b, false) })
	b.Run("batched", func(b *testing.B) { benchDrain(b, true) })
}

func benchDrain(b *testing.B, batched bool) {
	const tasks, workers, batch = 500, 4, 4
	ctx := context.Background()
	pool := pgtest.New(b)
	st := store.New(pool)
	tplID, err := st.RegisterTemplate(ctx, diamond(nil))
	require.NoError(b, err)
	var steps int64
	var claimT, compT, claims atomic.Int64
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		for range tasks {
			_, _, err := st.CreateTask(ctx, store.NewTask{TemplateID: tplID}, core.TaskRequest{Context: json.RawMessage(`{"order_id": 7}`)})
			require.NoError(b, err)
		}
		b.StartTimer()
		start := time.Now()
		var finished atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				idle := 0
				for idle < 20 {
					t0 := time.Now()
					claimed, err := st.ClaimSteps(ctx, fmt.Sprintf("w%d", w), batch, time.Minute)
					if err != nil {
						b.Error(err)
						return
					}
					if len(claimed) == 0 {
						idle++
						time.Sleep(time.Millisecond)
						continue
					}
					idle = 0
					claimT.Add(int64(time.Since(t0)))
					claims.Add(1)
					t1 := time.Now()
					if batched {
						done := make([]store.Completion, len(claimed))
						for i, s := range claimed {
							done[i] = store.Completion{StepID: s.StepID, Results: json.RawMessage(`{}`)}
						}
						if _, err := st.CompleteSteps(ctx, fmt.Sprintf("w%d", w), done); err != nil {
							b.Error(err)
							return
						}
					} else {
						for _, s := range claimed {
							if _, err := st.CompleteStep(ctx, s.StepID, fmt.Sprintf("w%d", w), json.RawMessage(`{}`)); err != nil {
								b.Error(err)
								return
							}
						}
					}
					compT.Add(int64(time.Since(t1)))
					finished.Add(int64(len(claimed)))
				}
			})
		}
		wg.Wait()
		took += time.Since(start)
		steps += finished.Load()
		require.Equal(b, int64(tasks*4), finished.Load())
	}
	b.ReportMetric(float64(steps)/took.Seconds(), "steps/s")
	b.ReportMetric(float64(claimT.Load())/float64(claims.Load())/1e6, "ms/claim")
	b.ReportMetric(float64(compT.Load())/float64(claims.Load())/1e6, "ms/complete-per-claim")
	b.ReportMetric(float64(steps)/float64(claims.Load()), "steps/claim")
}
