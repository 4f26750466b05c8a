package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/web/bench"
)

const benchPluginPrefix = "tasker-handler-bench_"

// TestBenchHarness runs `tasker bench` with tiny sizes against a real tasker
// and checks that the JSON report carries the figures. It asserts no timing:
// targets are reported, not tested.
func TestBenchHarness(t *testing.T) {
	t.Parallel()
	plugin := "bin/plugins/" + benchPluginPrefix + "v1.0.0"
	if _, err := os.Stat(plugin); err != nil {
		t.Fatalf("%s is missing: run make build first (%v)", plugin, err)
	}
	dir := workdir(t)
	copyFile(t, plugin, filepath.Join(dir, "plugins", filepath.Base(plugin)))
	n := start(t, dir, "--workers", "1")

	out := filepath.Join(t.TempDir(), "bench.json")
	md := filepath.Join(t.TempDir(), "bench.md")
	cmd := exec.Command("bin/tasker", "bench", "--server", n.api.BaseURL, "--scenarios", "latency,chain,claim,resources",
		"--runs", "2", "--latency-tasks", "3", "--chain-template", "linear3", "--claim-history", "2000", "--claim-samples", "5",
		"--data-dir", filepath.Join(dir, "data"), "--pid", itoa(n.cmd.Process.Pid), "--api-clients", "2", "--rss-load", "300ms",
		"--json", out, "--markdown", md)
	logs, err := cmd.CombinedOutput()
	require.NoError(t, err, "tasker bench:\n%s", logs)
	require.Contains(t, string(logs), "bench: scenario latency", "progress on stderr")
	t.Logf("tasker bench:\n%s", logs)

	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var report bench.Report
	require.NoError(t, json.Unmarshal(data, &report))
	require.Equal(t, 2, report.Runs)
	figures := map[string]bench.Figure{}
	for _, r := range report.Results {
		require.Empty(t, r.Error, r.Scenario)
		for _, f := range r.Figures {
			figures[r.Scenario+": "+f.Name] = f
		}
	}
	for _, name := range []string{"latency: creation to completion p50", "latency: step cycle p99", "chain: time per step",
		"claim: ratio, many / few finished steps",
		"resources: host RSS idle", "resources: plugin RSS under load (peak)"} {
		f, ok := figures[name]
		require.True(t, ok, "figure %q missing; have %v", name, figures)
		require.Len(t, f.Runs, 2, name)
		require.Greater(t, f.Median, 0.0, name)
		require.LessOrEqual(t, f.Min, f.Median, name)
		require.LessOrEqual(t, f.Median, f.Max, name)
	}
	require.NotNil(t, figures["latency: creation to completion p50"].Met, "a figure with a target says whether it is met")
	text, err := os.ReadFile(md)
	require.NoError(t, err)
	require.Contains(t, string(text), "| creation to completion p50 |")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestBenchLaunchSaysWhyTaskerDied: a tasker that --launch starts and that
// exits before it is ready (here refusing a flag) is reported with its exit
// status and the end of its log, which goes with the work directory, not
// as a wait that timed out.
func TestBenchLaunchSaysWhyTaskerDied(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("bin/tasker", "bench", "--launch", "--plugins-dir", "bin/plugins", "--scenarios", "latency",
		"--runs", "1", "--serve-args", "--no-such-flag")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "tasker serve exited before it was ready (exit status 2)")
	require.Contains(t, string(out), "no-such-flag")
}
