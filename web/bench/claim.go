package bench

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// claim times tasker.claim_steps for one ready step: with the history the
// database holds now, then after topping it up to Sizes.ClaimHistory
// finished steps. Each sample inserts a ready step and claims it in one
// transaction that is rolled back, so the running engine never sees the
// step and the tables keep no trace. Rounds repeat Config.Runs times at each
// level (the top-up happens once, so an outer repeat would not measure the
// small history again).
func claim(ctx context.Context, cfg Config, r *Result) error {
	if cfg.DatabaseURL == "" {
		r.Note("skipped: needs the database (--database-url, or --data-dir of a local tasker, or --launch)")
		return nil
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	var taskID int64
	err = pool.QueryRow(ctx, query("probe_task")).Scan(&taskID)
	if err != nil {
		return fmt.Errorf("probe task (is a template registered?): %w", err)
	}
	finished := func() (int64, error) {
		var n int64
		err := pool.QueryRow(ctx, query("finished_steps")).Scan(&n)
		return n, err
	}
	round := func() (float64, error) {
		var samples []float64
		for i := range cfg.Sizes.ClaimSamples {
			d, err := claimOnce(ctx, pool, taskID, i)
			if err != nil {
				return 0, err
			}
			samples = append(samples, ms(d))
		}
		sort.Float64s(samples)
		return median(samples), nil
	}
	before, err := finished()
	if err != nil {
		return err
	}
	for i := 1; i <= cfg.Runs; i++ {
		cfg.progress("claim: %d claims with %d finished steps in the tables, round %d/%d", cfg.Sizes.ClaimSamples, before, i, cfg.Runs)
		m, err := round()
		if err != nil {
			return err
		}
		r.Add("claim, few finished steps", "ms", nil, m)
	}
	if missing := int64(cfg.Sizes.ClaimHistory) - before; missing > 0 {
		cfg.progress("claim: inserting %d finished steps (in batches of 100,000)", missing)
		t0 := time.Now()
		for done := int64(0); done < missing; done += 100_000 {
			n := min(100_000, missing-done)
			if _, err := pool.Exec(ctx, query("insert_history"), taskID, n); err != nil {
				return fmt.Errorf("insert history: %w", err)
			}
			cfg.progress("  %d/%d inserted", done+n, missing)
		}
		for _, stmt := range []string{"vacuum analyze tasker.workflow_steps", "vacuum analyze tasker.tasks"} {
			if _, err := pool.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		r.Note("history inserted in %s (directly in SQL, then vacuum analyze as autovacuum would)", time.Since(t0).Round(time.Second))
	}
	after, err := finished()
	if err != nil {
		return err
	}
	for i := 1; i <= cfg.Runs; i++ {
		cfg.progress("claim: %d claims with %d finished steps in the tables, round %d/%d", cfg.Sizes.ClaimSamples, after, i, cfg.Runs)
		m, err := round()
		if err != nil {
			return err
		}
		r.Add(fmt.Sprintf("claim, %d finished steps", after), "ms", nil, m)
	}
	r.finish()
	if len(r.Figures) == 2 && r.Figures[0].Median > 0 {
		small, big := r.Figures[0], r.Figures[1]
		for i := range min(len(small.Runs), len(big.Runs)) {
			r.Add("ratio, many / few finished steps", "x", le(2), big.Runs[i]/small.Runs[i])
		}
	}
	r.Note("few = %d finished steps, many = %d; each round's figure is the median of %d claims timed by the client over loopback (round trip included), each in its own rolled-back transaction", before, after, cfg.Sizes.ClaimSamples)
	_, err = pool.Exec(ctx, query("delete_task"), taskID)
	return err
}

// claimOnce inserts a ready step and claims it, timing the claim only, and rolls back.
func claimOnce(ctx context.Context, pool *pgxpool.Pool, taskID int64, i int) (time.Duration, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, query("probe_step"),
		taskID, fmt.Sprintf("probe-%d", i)); err != nil {
		return 0, err
	}
	t0 := time.Now()
	var n int
	if err := tx.QueryRow(ctx, query("probe_claim")).Scan(&n); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if n != 1 {
		return 0, errors.New("the claim did not return the probe step")
	}
	return d, nil
}

//go:embed queries/*.sql
var queries embed.FS

// query is one of the claim scenario's statements, kept in queries/ like
// the store's.
func query(name string) string {
	b, err := queries.ReadFile("queries/" + name + ".sql")
	if err != nil {
		panic(fmt.Sprintf("bench: missing embedded query %s: %v", name, err)) // a build defect
	}
	return string(b)
}
