package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/tasker-systems/tasker/core/store"
)

// RetentionConfig says what Retention keeps. A zero age keeps that kind
// forever; Interval and Batch default to 10m and 1000.
type RetentionConfig struct {
	// Tasks: finished tasks (complete, error, cancelled, resolved_manually)
	// that finished longer ago are deleted with their steps and transitions.
	Tasks time.Duration
	// Events: events older than this that every durable subscriber has
	// been delivered are deleted.
	Events   time.Duration
	Interval time.Duration
	// Batch is the most rows one statement deletes; a pass repeats until
	// less than a batch is left.
	Batch int
}

// Retention prunes old tasks and events. It runs on every node; the
// statements skip rows another node is deleting, so nodes share the work.
type Retention struct {
	st  *store.Store
	log *slog.Logger
	cfg RetentionConfig
}

// NewRetention returns a Retention over st.
func NewRetention(st *store.Store, logger *slog.Logger, cfg RetentionConfig) *Retention {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	return &Retention{st: st, log: logger, cfg: cfg}
}

// Run prunes once at start, then every Interval, until ctx ends.
func (r *Retention) Run(ctx context.Context) error {
	if r.cfg.Tasks <= 0 && r.cfg.Events <= 0 {
		return nil
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if _, _, err := r.Prune(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("pruning old tasks and events failed; will try again", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Prune makes one pass: tasks first (their events stay until events
// retention takes them), then events. It returns how many of each it deleted.
func (r *Retention) Prune(ctx context.Context) (tasks, events int, err error) {
	now := time.Now()
	if r.cfg.Tasks > 0 {
		start := time.Now()
		if tasks, err = r.loop(ctx, now.Add(-r.cfg.Tasks), r.st.PruneTasks); err != nil {
			return tasks, 0, err
		}
		if tasks > 0 {
			r.log.Info("pruned finished tasks", "tasks", tasks, "older_than", r.cfg.Tasks.String(),
				"duration", time.Since(start).Round(time.Millisecond).String())
		}
	}
	if r.cfg.Events > 0 {
		start := time.Now()
		if events, err = r.loop(ctx, now.Add(-r.cfg.Events), r.st.PruneEvents); err != nil {
			return tasks, events, err
		}
		if events > 0 {
			r.log.Info("pruned delivered events", "events", events, "older_than", r.cfg.Events.String(),
				"duration", time.Since(start).Round(time.Millisecond).String())
		}
	}
	return tasks, events, nil
}

func (r *Retention) loop(ctx context.Context, before time.Time, prune func(context.Context, time.Time, int) (int, error)) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n, err := prune(ctx, before, r.cfg.Batch)
		total += n
		if err != nil || n < r.cfg.Batch {
			return total, err
		}
	}
	return total, ctx.Err()
}
