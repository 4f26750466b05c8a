package bench

import (
	"context"
	"sort"
	"sync"
	"time"
)

func api(ctx context.Context, cfg Config, r *Result, tag string) error {
	var mu sync.Mutex
	var lat []float64
	var firstErr error
	var wg sync.WaitGroup
	deadline := time.Now().Add(cfg.Sizes.APIDuration)
	start := time.Now()
	for range cfg.Sizes.APIClients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				_, err := cfg.API.CreateTask(ctx, request("diamond", tag))
				d := ms(time.Since(t0))
				mu.Lock()
				lat = append(lat, d)
				firstErr = cmp(firstErr, err)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	sort.Float64s(lat)
	r.Add("task creations per second", "tasks/s", nil, float64(len(lat))/elapsed.Seconds())
	r.Add("creation request p50", "ms", nil, percentile(lat, 50))
	r.Add("creation request p99", "ms", nil, percentile(lat, 99))
	r.Note("%d clients for %s per run, bench/diamond tasks, latency measured by the client (request sent to answer read); the engine runs the tasks meanwhile", cfg.Sizes.APIClients, cfg.Sizes.APIDuration)
	cfg.progress("  waiting for the %d tasks to finish before the next run", len(lat))
	return waitAll(ctx, cfg, tag, len(lat), 30*time.Minute)
}
