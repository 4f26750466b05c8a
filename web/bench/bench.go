// Package bench drives a tasker over its REST API to measure it: the
// scenarios of `tasker bench` and `make bench` (burn-down, offered load,
// latency at idle, per-step overhead, scale, API, resources). It needs a
// tasker serving the no-op plugin examples/bench (templates in namespace
// bench). Latencies come from the server's own timestamps (a task's
// created_at and completed_at, a step's transitions), so polling does not
// blur them. The claim scenario also needs the database (Config.DatabaseURL)
// and the resources scenario the host's process id (Config.HostPID).
package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tasker-systems/tasker/web/client"
)

// Namespace is the namespace of the bench plugin's templates.
const Namespace = "bench"

// Scenarios are the scenario names, in the order Run takes them by default.
var Scenarios = []string{"latency", "resources", "api", "burn", "load", "scale", "chain", "claim"}

// Sizes make every scenario as large or small as wanted.
type Sizes struct {
	BurnTasks    int           `json:"burn_tasks"`     // burn: diamond tasks created, then drained
	BurnClients  int           `json:"burn_clients"`   // burn: concurrent clients creating them
	BurnBatch    int           `json:"burn_batch"`     // burn: tasks per POST /tasks/batch; 0 for one POST /tasks each
	LoadRates    []float64     `json:"load_rates"`     // load: offered rates, tasks per second
	LoadDuration time.Duration `json:"load_duration"`  // load: how long each rate is offered
	LoadClients  int           `json:"load_clients"`   // load: concurrent clients
	LatencyTasks int           `json:"latency_tasks"`  // latency: linear3 tasks, one after the other
	ChainTasks   int           `json:"chain_tasks"`    // chain: tasks per run, one after the other
	ChainName    string        `json:"chain_template"` // chain: the template (chain400; linear3 for a quick check)
	ScaleWide    bool          `json:"scale_wide"`     // scale: run the 10,000-step task
	ScaleFanout  bool          `json:"scale_fanout"`   // scale: run the 1 -> 1,000 -> 1 task
	ScaleRuns    int           `json:"scale_runs"`     // scale: runs (0: Config.Runs), as its large task is slow on a small machine
	ClaimHistory int           `json:"claim_history"`  // claim: finished steps in the tables for the second measurement
	ClaimSamples int           `json:"claim_samples"`  // claim: claims timed per round
	APIClients   int           `json:"api_clients"`    // api: concurrent clients
	APIDuration  time.Duration `json:"api_duration"`   // api: how long they create tasks
	RSSLoad      time.Duration `json:"rss_load"`       // resources: how long the load lasts while RSS is sampled
}

// DefaultSizes are the sizes the issue asks for.
func DefaultSizes() Sizes {
	return Sizes{BurnTasks: 10_000, BurnClients: 32, BurnBatch: 100, LoadRates: []float64{25, 50, 100, 200, 400},
		LoadDuration: 10 * time.Second, LoadClients: 32, LatencyTasks: 200, ChainTasks: 1, ChainName: "chain400",
		ScaleWide: true, ScaleFanout: true, ClaimHistory: 1_000_000, ClaimSamples: 200,
		APIClients: 32, APIDuration: 10 * time.Second, RSSLoad: 5 * time.Second}
}

// Config says what to drive and how.
type Config struct {
	API *client.Client
	// DatabaseURL is tasker's database, for the claim scenario.
	DatabaseURL string
	// HostPID is the tasker process, for the resources scenario.
	HostPID int
	// Runs is how often each scenario repeats; figures are the median of the runs.
	Runs int
	// Progress receives progress lines (stderr).
	Progress io.Writer
	Sizes    Sizes
}

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench: "+format+"\n", args...)
	}
}

// Run runs one scenario Runs times.
func Run(ctx context.Context, cfg Config, scenario string) *Result {
	if cfg.Runs <= 0 {
		cfg.Runs = 1
	}
	r := &Result{Scenario: scenario}
	start := time.Now()
	var err error
	switch scenario {
	case "latency":
		r.Description = "Latency at idle: bench/linear3 tasks (3 steps) created one after the other, each once the previous finished."
		err = runEach(ctx, cfg, r, latency)
	case "chain":
		r.Description = "Per-step overhead: bench/chain400 (400 steps in a chain); meant for a tasker with --workers 1."
		err = runEach(ctx, cfg, r, chain)
	case "burn":
		r.Description = "Burn-down: bench/diamond tasks (4 steps) created as fast as the clients can, then drained."
		err = runEach(ctx, cfg, r, burn)
	case "load":
		r.Description = "Offered load: bench/diamond tasks created at fixed rates by concurrent clients."
		err = runEach(ctx, cfg, r, load)
	case "api":
		r.Description = "API: concurrent clients creating bench/diamond tasks back to back."
		err = runEach(ctx, cfg, r, api)
	case "scale":
		r.Description = "Scale: one task of 10,000 steps (bench/wide10k: root -> 9,999 leaves) and a fan-out 1 -> 1,000 -> 1 (bench/fanout1000)."
		if cfg.Sizes.ScaleRuns > 0 {
			cfg.Runs = cfg.Sizes.ScaleRuns
		}
		err = runEach(ctx, cfg, r, scale)
	case "resources":
		r.Description = "Resources: resident memory of the tasker process and its plugin, idle and under load."
		err = runEach(ctx, cfg, r, resources)
	case "claim":
		r.Description = "Claim cost: one tasker.claim_steps call for one ready step, with few finished steps in the tables, then with many."
		err = claim(ctx, cfg, r)
	default:
		err = fmt.Errorf("unknown scenario %q (known: %s)", scenario, strings.Join(Scenarios, ", "))
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.finish()
	r.Seconds = time.Since(start).Seconds()
	return r
}

// runEach runs a scenario's body once per run.
func runEach(ctx context.Context, cfg Config, r *Result, body func(context.Context, Config, *Result, string) error) error {
	for i := 1; i <= cfg.Runs; i++ {
		cfg.progress("%s: run %d/%d", r.Scenario, i, cfg.Runs)
		tag := fmt.Sprintf("bench-%s-%d-%d", r.Scenario, i, time.Now().UnixNano())
		if err := body(ctx, cfg, r, tag); err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
	}
	return nil
}
