package bench

import (
	"context"
	"time"
)

func scale(ctx context.Context, cfg Config, r *Result, tag string) error {
	for _, s := range []struct {
		on       bool
		template string
		label    string
		target   *Target
	}{{cfg.Sizes.ScaleWide, "wide10k", "10,000-step task", le(1000)}, {cfg.Sizes.ScaleFanout, "fanout1000", "fan-out 1 -> 1,000 -> 1", nil}} {
		if !s.on {
			continue
		}
		stag := tag + "-" + s.template
		t0 := time.Now()
		created, err := cfg.API.CreateTask(ctx, request(s.template, stag))
		if err != nil {
			return err
		}
		createdIn := time.Since(t0)
		t, err := waitTask(ctx, cfg.API, created.TaskID, 100*time.Millisecond, 30*time.Minute, stag)
		if err != nil {
			return err
		}
		r.Add(s.label+": creation (API request)", "ms", s.target, ms(createdIn))
		r.Add(s.label+": creation to completion", "s", nil, t.CompletedAt.Sub(t.CreatedAt).Seconds())
		r.Add(s.label+": steps per second", "steps/s", nil, float64(len(t.Steps))/t.CompletedAt.Sub(t.CreatedAt).Seconds())
	}
	r.Note("creation is the client's time for POST /tasks (the answer lists every step); completion is the database's created_at to completed_at")
	return nil
}
