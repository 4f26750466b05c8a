package bench

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

func request(name, tag string) core.TaskRequest {
	return core.TaskRequest{Namespace: Namespace, Name: name, Version: "1.0.0", Context: []byte("{}"),
		Initiator: "tasker bench", SourceSystem: "bench", Reason: "benchmark", Tags: []string{tag}}
}

// waitTask polls one task every `every` until it finished, and requires it
// complete. With a tag, it is polled through the list (no steps), then fetched once.
func waitTask(ctx context.Context, c *client.Client, id int64, every, limit time.Duration, tag string) (*core.Task, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		var t *core.Task
		var err error
		if tag != "" {
			t, err = taskStatus(ctx, c, id, tag)
		} else {
			t, err = c.Task(ctx, id)
		}
		if err != nil {
			return nil, err
		}
		if client.Finished(t.Status) {
			if tag != "" {
				if t, err = c.Task(ctx, id); err != nil {
					return nil, err
				}
			}
			if t.Status != core.TaskStatusComplete || t.CompletedAt == nil {
				return t, fmt.Errorf("task %d ended %s", id, t.Status)
			}
			return t, nil
		}
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("task %d still %s after %s", id, t.Status, limit)
		case <-time.After(every):
		}
	}
}

// taskStatus is a task without its steps: the newest task carrying tag,
// which must be id (the waits below create one task of a tag at a time).
func taskStatus(ctx context.Context, c *client.Client, id int64, tag string) (*core.Task, error) {
	l, err := c.ListTasks(ctx, client.TaskFilter{Tags: []string{tag}, Sort: "-task_id", Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(l.Tasks) == 0 || l.Tasks[0].TaskID != id {
		return nil, fmt.Errorf("task %d is not the newest task tagged %s", id, tag)
	}
	return &l.Tasks[0], nil
}

// finishedTasks lists every task carrying tag, without steps, through pages of 1,000.
func finishedTasks(ctx context.Context, c *client.Client, tag string) ([]core.Task, error) {
	var out []core.Task
	for offset := 0; ; offset += 1000 {
		page, err := c.ListTasks(ctx, client.TaskFilter{Tags: []string{tag}, Limit: 1000, Offset: offset, Sort: "task_id"})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Tasks...)
		if len(page.Tasks) < 1000 {
			return out, nil
		}
	}
}

// countStatus counts the tasks carrying tag in a status.
func countStatus(ctx context.Context, c *client.Client, tag, status string) (int64, error) {
	l, err := c.ListTasks(ctx, client.TaskFilter{Tags: []string{tag}, Status: status, Limit: 1})
	if err != nil {
		return 0, err
	}
	return l.Total, nil
}

// waitAll waits until n tasks carrying tag finished, saying how far it got
// every few seconds; a task that failed is an error. It gives up after limit.
// Its polls count every task of the run, which costs the tasker under
// measurement in proportion to the run's size, so they slow down from 100 ms
// to 1 s apart (figures come from the database's timestamps, not from when
// this notices the end).
func waitAll(ctx context.Context, cfg Config, tag string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	lastSaid := time.Now()
	every := 100 * time.Millisecond
	for {
		done, err := countStatus(ctx, cfg.API, tag, core.TaskStatusComplete)
		if err != nil {
			return err
		}
		if done >= int64(n) {
			return nil
		}
		if failed, err := countStatus(ctx, cfg.API, tag, core.TaskStatusError); err == nil && failed > 0 {
			return fmt.Errorf("%d tasks ended in error", failed)
		}
		if time.Since(lastSaid) > 3*time.Second {
			cfg.progress("  %d/%d tasks complete", done, n)
			lastSaid = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d tasks complete after %s", done, n, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
		every = min(2*every, time.Second)
	}
}

// latencies are the creation-to-completion times of tasks, server clock, sorted, in ms.
func latencies(tasks []core.Task) []float64 {
	var out []float64
	for _, t := range tasks {
		if t.CompletedAt != nil {
			out = append(out, ms(t.CompletedAt.Sub(t.CreatedAt)))
		}
	}
	sort.Float64s(out)
	return out
}
