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
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tasker-systems/tasker/core"
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
	return Sizes{BurnTasks: 10_000, BurnClients: 32, LoadRates: []float64{25, 50, 100, 200, 400},
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

// Target is a goal of the issue for a figure: Op is "<=" or ">=".
type Target struct {
	Op    string  `json:"op"`
	Value float64 `json:"value"`
}

func (t *Target) String() string {
	if t == nil {
		return ""
	}
	return fmt.Sprintf("%s %s", t.Op, formatNum(t.Value))
}

// Figure is one measured quantity over the runs.
type Figure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
	Target *Target   `json:"target,omitempty"`
	// Met says whether the median meets Target (absent without a target).
	Met *bool `json:"met,omitempty"`
}

// Result is one scenario's figures.
type Result struct {
	Scenario    string   `json:"scenario"`
	Description string   `json:"description"`
	Figures     []Figure `json:"figures"`
	Notes       []string `json:"notes,omitempty"`
	Error       string   `json:"error,omitempty"`
	Seconds     float64  `json:"seconds"`
}

// Add records one run's value of a figure, creating the figure on first use.
func (r *Result) Add(name, unit string, target *Target, v float64) {
	for i := range r.Figures {
		if r.Figures[i].Name == name {
			r.Figures[i].Runs = append(r.Figures[i].Runs, v)
			return
		}
	}
	r.Figures = append(r.Figures, Figure{Name: name, Unit: unit, Target: target, Runs: []float64{v}})
}

// Note adds a line of explanation, once.
func (r *Result) Note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !slices.Contains(r.Notes, n) {
		r.Notes = append(r.Notes, n)
	}
}

// finish computes medians, extremes and targets.
func (r *Result) finish() {
	for i := range r.Figures {
		f := &r.Figures[i]
		s := slices.Clone(f.Runs)
		sort.Float64s(s)
		if len(s) == 0 {
			continue
		}
		f.Min, f.Max, f.Median = s[0], s[len(s)-1], median(s)
		if f.Target != nil {
			met := (f.Target.Op == "<=" && f.Median <= f.Target.Value) || (f.Target.Op == ">=" && f.Median >= f.Target.Value)
			f.Met = &met
		}
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func le(v float64) *Target { return &Target{"<=", v} }
func ge(v float64) *Target { return &Target{">=", v} }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

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

func latency(ctx context.Context, cfg Config, r *Result, tag string) error {
	var total, cycle []float64
	for i := 0; i < cfg.Sizes.LatencyTasks; i++ {
		created, err := cfg.API.CreateTask(ctx, request("linear3", tag))
		if err != nil {
			return err
		}
		t, err := waitTask(ctx, cfg.API, created.TaskID, 10*time.Millisecond, time.Minute, "")
		if err != nil {
			return err
		}
		total = append(total, ms(t.CompletedAt.Sub(t.CreatedAt)))
		// Step cycle: from a parent's claim to its child's claim (their
		// in_progress transitions): the parent's run, its recording and the
		// child's claim, which the engine makes in the transaction that
		// records the parent.
		claimed := map[string]time.Time{}
		for _, s := range t.Steps {
			d, err := cfg.API.Step(ctx, t.TaskID, s.StepID)
			if err != nil {
				return err
			}
			for _, tr := range d.Transitions {
				if tr.To == core.StepStatusInProgress {
					claimed[s.Name] = tr.CreatedAt
					break
				}
			}
		}
		for _, pair := range [][2]string{{"s00001", "s00002"}, {"s00002", "s00003"}} {
			parent, okParent := claimed[pair[0]]
			child, okChild := claimed[pair[1]]
			if !okParent || !okChild {
				return fmt.Errorf("task %d: step %s or %s was never claimed", t.TaskID, pair[0], pair[1])
			}
			cycle = append(cycle, ms(child.Sub(parent)))
		}
	}
	sort.Float64s(total)
	sort.Float64s(cycle)
	r.Add("creation to completion p50", "ms", le(5), percentile(total, 50))
	r.Add("creation to completion p99", "ms", nil, percentile(total, 99))
	r.Add("step cycle, parent claimed to child claimed, p50", "ms", nil, percentile(cycle, 50))
	r.Add("step cycle p99", "ms", nil, percentile(cycle, 99))
	r.Note("%d tasks per run; times are the database's (created_at, completed_at, transitions), so polling does not add to them", cfg.Sizes.LatencyTasks)
	return nil
}

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

func formatNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 1000:
		return strings.TrimSuffix(fmt.Sprintf("%.0f", v), ".")
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// TargetLE is the target "at most v".
func TargetLE(v float64) *Target { return le(v) }

// Finished computes the medians, extremes and targets of a result filled
// outside Run (the launcher's startup figures) and returns it.
func Finished(r *Result) *Result { r.finish(); return r }
