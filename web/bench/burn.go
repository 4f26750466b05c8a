package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tasker-systems/tasker/core"
)

// createMany creates n tasks of template with `clients` concurrent clients as
// fast as they can, batch tasks per POST /tasks/batch (one POST /tasks per
// task when batch is 0), returning the client-side latencies of the
// requests (ms).
func createMany(ctx context.Context, cfg Config, template, tag string, n, clients, batch int) ([]float64, error) {
	var next, done int64
	var mu sync.Mutex
	var lat []float64
	var firstErr error
	var wg sync.WaitGroup
	stopSaying := make(chan struct{})
	go func() {
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSaying:
				return
			case <-tick.C:
				mu.Lock()
				cfg.progress("  created %d/%d tasks", done, n)
				mu.Unlock()
			}
		}
	}()
	defer close(stopSaying)
	for range clients {
		wg.Go(func() {
			for {
				mu.Lock()
				k := min(int64(max(batch, 1)), int64(n)-next)
				if k <= 0 || firstErr != nil {
					mu.Unlock()
					return
				}
				next += k
				mu.Unlock()
				t0 := time.Now()
				err := create(ctx, cfg, template, tag, int(k), batch > 0)
				d := ms(time.Since(t0))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				lat = append(lat, d)
				done += k
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat, firstErr
}

// create creates k tasks of template, in one POST /tasks/batch or (k = 1,
// !batched) one POST /tasks.
func create(ctx context.Context, cfg Config, template, tag string, k int, batched bool) error {
	if !batched {
		_, err := cfg.API.CreateTask(ctx, request(template, tag))
		return err
	}
	reqs := make([]core.TaskRequest, k)
	for i := range reqs {
		reqs[i] = request(template, tag)
	}
	out, err := cfg.API.CreateTasks(ctx, reqs)
	if err != nil {
		return err
	}
	for i, o := range out {
		if o.Err != nil {
			return fmt.Errorf("tasks[%d] of a batch: %w", i, o.Err)
		}
	}
	return nil
}

func burn(ctx context.Context, cfg Config, r *Result, tag string) error {
	n := cfg.Sizes.BurnTasks
	start := time.Now()
	if _, err := createMany(ctx, cfg, "diamond", tag, n, cfg.Sizes.BurnClients, cfg.Sizes.BurnBatch); err != nil {
		return err
	}
	created := time.Since(start)
	if err := waitAll(ctx, cfg, tag, n, 30*time.Minute); err != nil {
		return err
	}
	tasks, err := finishedTasks(ctx, cfg.API, tag)
	if err != nil {
		return err
	}
	first, lastCreated, lastDone := tasks[0].CreatedAt, tasks[0].CreatedAt, *tasks[0].CompletedAt
	for _, t := range tasks {
		if t.CreatedAt.Before(first) {
			first = t.CreatedAt
		}
		if t.CreatedAt.After(lastCreated) {
			lastCreated = t.CreatedAt
		}
		if t.CompletedAt.After(lastDone) {
			lastDone = *t.CompletedAt
		}
	}
	after := 0
	for _, t := range tasks {
		if t.CompletedAt.After(lastCreated) {
			after++
		}
	}
	steps := float64(4 * len(tasks))
	r.Add("steps per second, first creation to last completion", "steps/s", ge(20_000), steps/lastDone.Sub(first).Seconds())
	if d := lastDone.Sub(lastCreated).Seconds(); d > 0 && after > 0 {
		r.Add("steps per second after the last creation (drain)", "steps/s", nil, float64(4*after)/d)
	}
	r.Add("task creations per second", "tasks/s", nil, float64(n)/created.Seconds())
	r.Add("first creation to last completion", "s", nil, lastDone.Sub(first).Seconds())
	how := "one POST /tasks each"
	if cfg.Sizes.BurnBatch > 0 {
		how = fmt.Sprintf("in POST /tasks/batch requests of %d", cfg.Sizes.BurnBatch)
	}
	r.Note("%d tasks (%d steps) per run, created by %d clients (%s) while the engine runs; the drain rate counts 4 steps for each task that completed after the last creation",
		n, 4*n, cfg.Sizes.BurnClients, how)
	return nil
}
