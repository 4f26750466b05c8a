package bench

import (
	"context"
	"time"
)

func chain(ctx context.Context, cfg Config, r *Result, tag string) error {
	for i := 0; i < cfg.Sizes.ChainTasks; i++ {
		created, err := cfg.API.CreateTask(ctx, request(cfg.Sizes.ChainName, tag))
		if err != nil {
			return err
		}
		t, err := waitTask(ctx, cfg.API, created.TaskID, 100*time.Millisecond, 10*time.Minute, tag)
		if err != nil {
			return err
		}
		total := t.CompletedAt.Sub(t.CreatedAt)
		r.Add("time per step", "ms", le(1.5), ms(total)/float64(len(t.Steps)))
		r.Add("whole chain", "ms", nil, ms(total))
		r.Note("template bench/%s (%d steps)", cfg.Sizes.ChainName, len(t.Steps))
	}
	return nil
}
