package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// load offers each rate in turn.
func load(ctx context.Context, cfg Config, r *Result, tag string) error {
	highest := 0.0
	for _, rate := range cfg.Sizes.LoadRates {
		rtag := fmt.Sprintf("%s-r%g", tag, rate)
		cfg.progress("  offering %g tasks/s for %s", rate, cfg.Sizes.LoadDuration)
		kept, err := offer(ctx, cfg, r, rtag, rate)
		if err != nil {
			return err
		}
		if kept {
			highest = max(highest, rate)
		}
	}
	r.Add("highest offered rate kept up with", "tasks/s", nil, highest)
	r.Note("kept up with: tasks were created at >= 95%% of the offered rate, all completed within 5 s after the offer ended, and creation-to-completion p99 <= 1 s")
	r.Note("rates offered: %v tasks/s (4 steps each), %s each, by %d clients (open loop: a request is sent at its time whatever the answers before it)",
		cfg.Sizes.LoadRates, cfg.Sizes.LoadDuration, cfg.Sizes.LoadClients)
	return nil
}

func offer(ctx context.Context, cfg Config, r *Result, tag string, rate float64) (bool, error) {
	n := int(rate * cfg.Sizes.LoadDuration.Seconds())
	if n < 1 {
		return false, errors.New("offered load: rate x duration is less than one task")
	}
	jobs := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range cfg.Sizes.LoadClients {
		wg.Go(func() {
			for range jobs {
				if _, err := cfg.API.CreateTask(ctx, request("diamond", tag)); err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	sent := time.Since(start)
	if firstErr != nil {
		return false, firstErr
	}
	allDone := waitAll(ctx, cfg, tag, n, 5*time.Second) == nil
	if !allDone {
		if err := waitAll(ctx, cfg, tag, n, 30*time.Minute); err != nil {
			return false, err
		}
	}
	tasks, err := finishedTasks(ctx, cfg.API, tag)
	if err != nil {
		return false, err
	}
	lat := latencies(tasks)
	first, last := tasks[0].CreatedAt, *tasks[0].CompletedAt
	for _, t := range tasks {
		if t.CreatedAt.Before(first) {
			first = t.CreatedAt
		}
		if t.CompletedAt.After(last) {
			last = *t.CompletedAt
		}
	}
	createdRate := float64(n) / sent.Seconds()
	p99 := percentile(lat, 99)
	kept := createdRate >= 0.95*rate && allDone && p99 <= 1000
	name := fmt.Sprintf("%g/s offered: ", rate)
	r.Add(name+"completion rate", "tasks/s", nil, float64(n)/last.Sub(first).Seconds())
	r.Add(name+"creation to completion p50", "ms", nil, percentile(lat, 50))
	r.Add(name+"creation to completion p99", "ms", nil, p99)
	r.Add(name+"kept up (1 yes, 0 no)", "", nil, map[bool]float64{true: 1}[kept])
	return kept, nil
}

func cmp(old, new error) error {
	if old != nil {
		return old
	}
	return new
}
