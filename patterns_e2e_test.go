package main

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// These tests run the workflow patterns of examples/patterns (plugin
// patterns) on the built binary: every step's results name the dependency
// results it received and sum them, so they show that results flow along
// exactly the DAG's edges.

const patternsPlugin = "tasker-handler-patterns_v1.0.0"

// patternDAGs are the templates of namespace patterns: each step's parents.
var patternDAGs = map[string]map[string][]string{
	"linear":  {"a": nil, "b": {"a"}, "c": {"b"}, "d": {"c"}},
	"diamond": {"start": nil, "left": {"start"}, "right": {"start"}, "join": {"left", "right"}},
	"tree": {"root": nil, "branch_a": {"root"}, "branch_b": {"root"},
		"leaf_a1": {"branch_a"}, "leaf_a2": {"branch_a"}, "leaf_b1": {"branch_b"}, "leaf_b2": {"branch_b"}},
	"parallel_merge": {"fetch_a": nil, "fetch_b": nil, "fetch_c": nil, "merge": {"fetch_a", "fetch_b", "fetch_c"}},
	"mixed": {"init": nil, "p1": {"init"}, "p2": {"init"}, "p3": {"init"}, "q1": {"p1"},
		"r": {"q1", "p2"}, "finish": {"r", "p3"}},
}

// patternResult is the results of the work handler.
type patternResult struct {
	Step    string   `json:"step"`
	Attempt int      `json:"attempt"`
	Inputs  []string `json:"inputs"`
	Sum     int      `json:"sum"`
}

// expectedSums computes each step's sum from the DAG's edges alone:
// sum(step) = 1 + the sums of its parents.
func expectedSums(dag map[string][]string) map[string]int {
	sums := map[string]int{}
	var sum func(step string) int
	sum = func(step string) int {
		if s, ok := sums[step]; ok {
			return s
		}
		s := 1
		for _, p := range dag[step] {
			s += sum(p)
		}
		sums[step] = s
		return s
	}
	for step := range dag {
		sum(step)
	}
	return sums
}

func stepResult(t *testing.T, s core.Step) patternResult {
	t.Helper()
	var r patternResult
	require.NoError(t, json.Unmarshal(s.Results, &r), "results of %s: %s", s.Name, s.Results)
	return r
}

// requireDAGRun checks a completed task of a pattern: every step complete
// with the given attempts (1 when absent), the template's edges equal to dag,
// and each step's inputs and sum those the edges imply.
func requireDAGRun(t *testing.T, task *core.Task, dag map[string][]string, attempts map[string]int) {
	t.Helper()
	require.Equal(t, core.TaskStatusComplete, task.Status, "task %d %s", task.TaskID, task.Name)
	steps := stepsByName(task)
	require.Len(t, steps, len(dag), "%s", task.Name)
	sums := expectedSums(dag)
	for name, parents := range dag {
		s, ok := steps[name]
		require.True(t, ok, "%s has no step %s", task.Name, name)
		want := slices.Sorted(slices.Values(parents))
		if want == nil {
			want = []string{}
		}
		got := slices.Sorted(slices.Values(s.DependsOn))
		if got == nil {
			got = []string{}
		}
		require.Equal(t, want, got, "%s: the template's edges into %s", task.Name, name)
		require.Equal(t, core.StepStatusComplete, s.Status, "%s: %s", task.Name, name)
		require.Equal(t, max(attempts[name], 1), s.Attempts, "%s: attempts of %s", task.Name, name)
		r := stepResult(t, s)
		require.Equal(t, name, r.Step, task.Name)
		require.Equal(t, s.Attempts, r.Attempt, "%s: %s succeeded on its last attempt", task.Name, name)
		require.Equal(t, want, r.Inputs, "%s: %s received exactly its parents' results", task.Name, name)
		require.Equal(t, sums[name], r.Sum, "%s: sum of %s", task.Name, name)
	}
}

// elapsed is how long a finished task took, by the database's clock.
func elapsed(t *testing.T, task *core.Task) time.Duration {
	t.Helper()
	require.NotNil(t, task.CompletedAt, "task %d", task.TaskID)
	return task.CompletedAt.Sub(task.CreatedAt)
}

func TestPatternsWorkflows(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("bin/plugins/" + patternsPlugin); err != nil {
		t.Fatalf("bin/plugins/%s is missing: run make build first (%v)", patternsPlugin, err)
	}
	dir := workdir(t)
	n := start(t, dir)
	ctx := context.Background()
	create := func(t *testing.T, namespace, name string) int64 {
		t.Helper()
		task, err := n.api.CreateTask(ctx, core.TaskRequest{Name: name, Namespace: namespace, Version: "1.0.0",
			Context: json.RawMessage(`{}`), Initiator: "e2e", Reason: "patterns", SourceSystem: "ci"})
		require.NoError(t, err, "%s/%s", namespace, name)
		require.NotZero(t, task.TaskID)
		return task.TaskID
	}

	// Every pattern and every fault at once, on one node.
	ids := map[string]int64{}
	for name := range patternDAGs {
		ids[name] = create(t, "patterns", name)
	}
	for _, name := range []string{"diamond_flaky", "diamond_exhausted", "diamond_permanent"} {
		ids[name] = create(t, "patterns_faults", name)
	}
	tasks := map[string]*core.Task{}
	for name, id := range ids {
		tasks[name] = waitTask(t, n, id)
	}

	for name, dag := range patternDAGs {
		t.Run(name, func(t *testing.T) { requireDAGRun(t, tasks[name], dag, nil) })
	}

	t.Run("diamond_flaky", func(t *testing.T) {
		requireDAGRun(t, tasks["diamond_flaky"], patternDAGs["diamond"], map[string]int{"left": 3})
	})

	for name, lastError := range map[string]string{
		"diamond_exhausted": "simulated transient failure 3/5",
		"diamond_permanent": "simulated permanent failure on attempt 1",
	} {
		t.Run(name, func(t *testing.T) {
			task := tasks[name]
			require.Equal(t, core.TaskStatusError, task.Status, name)
			steps := stepsByName(task)
			require.Equal(t, core.StepStatusComplete, steps["start"].Status)
			require.Equal(t, core.StepStatusComplete, steps["right"].Status, "the other branch still completes")
			require.Equal(t, 1, steps["right"].Attempts)
			require.Equal(t, 2, stepResult(t, steps["right"]).Sum)

			left := steps["left"]
			require.Equal(t, core.StepStatusError, left.Status)
			require.Equal(t, 3, left.RetryLimit)
			if name == "diamond_exhausted" {
				require.Equal(t, 3, left.Attempts, "every attempt used")
			} else {
				require.Equal(t, 1, left.Attempts, "a permanent error is not retried although attempts remain")
			}
			require.NotNil(t, left.LastError)
			require.Equal(t, lastError, *left.LastError)

			join := steps["join"]
			require.Equal(t, core.StepStatusPending, join.Status, "join never runs")
			require.Zero(t, join.Attempts)
		})
	}

	// Retry-After: b's retry waits 300 ms instead of the 10 ms backoff. The
	// baseline runs of the plain chain are logged for comparison only: on a
	// shared machine their difference is noise, the gap from a to b is not.
	t.Run("linear_retry_after", func(t *testing.T) {
		fastest := elapsed(t, tasks["linear"])
		for range 3 {
			base := waitTask(t, n, create(t, "patterns", "linear"))
			requireDAGRun(t, base, patternDAGs["linear"], nil)
			fastest = min(fastest, elapsed(t, base))
		}
		task := waitTask(t, n, create(t, "patterns_faults", "linear_retry_after"))
		requireDAGRun(t, task, patternDAGs["linear"], map[string]int{"b": 2})
		steps := stepsByName(task)
		gap := steps["b"].CompletedAt.Sub(*steps["a"].CompletedAt)
		t.Logf("linear at best: %s; linear_retry_after: %s, of which a to b: %s", fastest, elapsed(t, task), gap)
		require.GreaterOrEqual(t, gap, 300*time.Millisecond, "b's retry starts no earlier than the delay it asked for")
		require.GreaterOrEqual(t, elapsed(t, task), gap, "the delay is part of the task's run time")
	})

	n.stop(t)
	requireNoProcessesUnder(t, dir, "no tasker, plugin or PostgreSQL process outlives a SIGTERM")
}
