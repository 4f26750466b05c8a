package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

// BenchmarkClaim measures one claim of one ready step while the tables hold
// many finished steps: the partial ready index should make the cost
// independent of history (the goal: 1,000,000 within 2x of 1,000).
func BenchmarkClaim(b *testing.B) {
	for _, finished := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("finished=%d", finished), func(b *testing.B) {
			ctx := context.Background()
			pool := pgtest.New(b)
			st := store.New(pool)
			tplID, err := st.RegisterTemplate(ctx, &core.Template{Namespace: "default", Name: "bench", Version: "1.0.0",
				Steps: []core.StepTemplate{{Name: "a", Handler: "h"}}})
			require.NoError(b, err)
			taskID, _, err := st.CreateTask(ctx, store.NewTask{TemplateID: tplID}, core.TaskRequest{})
			require.NoError(b, err)

			// History: finished tasks with finished steps, inserted directly (inserts are not
			// transitions, so the state rules allow it), then analysed as autovacuum would.
			start := time.Now()
			_, err = pool.Exec(ctx, `
				with t as (
					insert into tasker.tasks (template_id, status, completed_at)
					select $1, 'complete', now() from generate_series(1, $2 / 10)
					returning task_id
				)
				insert into tasker.workflow_steps (task_id, name, handler, status, attempts, results, completed_at)
				select t.task_id, 's' || i, 'h', 'complete', 1, '{}', now()
				from t cross join generate_series(1, 10) as i`, tplID, finished)
			require.NoError(b, err)
			for _, stmt := range []string{"vacuum analyze tasker.workflow_steps", "vacuum analyze tasker.tasks"} {
				_, err = pool.Exec(ctx, stmt)
				require.NoError(b, err)
			}
			b.Logf("inserted %d finished steps in %s", finished, time.Since(start).Round(time.Millisecond))

			i := 0
			for b.Loop() { // b.Loop runs the setup above once, not once per b.N guess
				i++
				b.StopTimer()
				_, err := pool.Exec(ctx, `insert into tasker.workflow_steps (task_id, name, handler) values ($1, $2, 'h')`,
					taskID, fmt.Sprintf("ready-%d", i))
				require.NoError(b, err)
				b.StartTimer()
				steps, err := st.ClaimSteps(ctx, "bench", 1, time.Minute)
				if err != nil || len(steps) == 0 {
					b.Fatalf("claim: %v (%d steps)", err, len(steps))
				}
			}
		})
	}
}
