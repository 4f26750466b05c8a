package bench

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tasker-systems/tasker/core"
)

func latency(ctx context.Context, cfg Config, r *Result, tag string) error {
	var total, cycle []float64
	for i := 0; i < cfg.Sizes.LatencyTasks; i++ {
		created, err := cfg.API.CreateTask(ctx, request("linear3", tag))
		if err != nil {
			return err
		}
		t, err := waitTask(ctx, cfg.API, created.TaskID, 10*time.Millisecond, time.Minute, "")
		if err != nil {
			return err
		}
		total = append(total, ms(t.CompletedAt.Sub(t.CreatedAt)))
		// Step cycle: from a parent's claim to its child's claim (their
		// in_progress transitions): the parent's run, its recording and the
		// child's claim, which the engine makes in the transaction that
		// records the parent.
		claimed := map[string]time.Time{}
		for _, s := range t.Steps {
			d, err := cfg.API.Step(ctx, t.TaskID, s.StepID)
			if err != nil {
				return err
			}
			for _, tr := range d.Transitions {
				if tr.To == core.StepStatusInProgress {
					claimed[s.Name] = tr.CreatedAt
					break
				}
			}
		}
		for _, pair := range [][2]string{{"s00001", "s00002"}, {"s00002", "s00003"}} {
			parent, okParent := claimed[pair[0]]
			child, okChild := claimed[pair[1]]
			if !okParent || !okChild {
				return fmt.Errorf("task %d: step %s or %s was never claimed", t.TaskID, pair[0], pair[1])
			}
			cycle = append(cycle, ms(child.Sub(parent)))
		}
	}
	sort.Float64s(total)
	sort.Float64s(cycle)
	r.Add("creation to completion p50", "ms", le(5), percentile(total, 50))
	r.Add("creation to completion p99", "ms", nil, percentile(total, 99))
	r.Add("step cycle, parent claimed to child claimed, p50", "ms", nil, percentile(cycle, 50))
	r.Add("step cycle p99", "ms", nil, percentile(cycle, 99))
	r.Note("%d tasks per run; times are the database's (created_at, completed_at, transitions), so polling does not add to them", cfg.Sizes.LatencyTasks)
	return nil
}
