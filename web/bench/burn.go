package bench

import (
	"context"
	"sync"
	"time"
)

// createMany creates n tasks of template with `clients` concurrent clients as
// fast as they can, returning the client-side latencies of the requests (ms).
func createMany(ctx context.Context, cfg Config, template, tag string, n, clients int) ([]float64, error) {
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
				if next >= int64(n) || firstErr != nil {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				t0 := time.Now()
				_, err := cfg.API.CreateTask(ctx, request(template, tag))
				d := ms(time.Since(t0))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				lat = append(lat, d)
				done++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat, firstErr
}

func burn(ctx context.Context, cfg Config, r *Result, tag string) error {
	n := cfg.Sizes.BurnTasks
	start := time.Now()
	if _, err := createMany(ctx, cfg, "diamond", tag, n, cfg.Sizes.BurnClients); err != nil {
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
	r.Note("%d tasks (%d steps) per run, created by %d clients while the engine runs; the drain rate counts 4 steps for each task that completed after the last creation", n, 4*n, cfg.Sizes.BurnClients)
	return nil
}
