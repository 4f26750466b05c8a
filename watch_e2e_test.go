package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// A workflow slow enough to be watched while it runs: a -> b -> c, each
// step a patterns "work" handler that sleeps.
const watchTemplate = `name: slow_chain
namespace_name: watch
version: 1.0.0
step_templates:
  - {name: a, handler: work, handler_config: {sleep_ms: 300}}
  - {name: b, handler: work, handler_config: {sleep_ms: 300}, depends_on_step: a}
  - {name: c, handler: work, handler_config: {sleep_ms: 300}, depends_on_step: b}
`

func TestTaskWatchEndToEnd(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("bin/plugins/" + patternsPlugin); err != nil {
		t.Fatalf("bin/plugins/%s is missing: run make build first (%v)", patternsPlugin, err)
	}
	dir := workdir(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "slow_chain.yaml"), []byte(watchTemplate), 0o644))
	n := start(t, dir)
	bin, server := filepath.Join(dir, "tasker"), n.api.BaseURL
	ctx := context.Background()
	create := func(namespace, name string) int64 {
		task, err := n.api.CreateTask(ctx, core.TaskRequest{Name: name, Namespace: namespace, Context: json.RawMessage(`{}`)})
		require.NoError(t, err)
		return task.TaskID
	}

	// A running workflow: its progress, then exit 0 when it completes.
	id := create("watch", "slow_chain")
	code, out, errOut := cliRun(t, bin, server, "task", "watch", fmtID(id))
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Contains(t, lines[0], "watching task "+fmtID(id))
	var events []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		require.GreaterOrEqual(t, len(f), 2, l)
		events = append(events, f[1])
	}
	require.Equal(t, []string{"task.created", "task.started", "step.started", "step.completed", "step.started", "step.completed",
		"step.started", "step.completed", "task.completed"}, events, out)
	require.Regexp(t, `step.completed\s+a\s+attempt 1`, out)

	// Already finished: its history, and the same exit; --json prints events.
	code, out, errOut = cliRun(t, bin, server, "task", "watch", fmtID(id), "--json")
	require.Equal(t, exitOK, code, errOut)
	jsonLines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, jsonLines, 9, out)
	var last core.Event
	require.NoError(t, json.Unmarshal([]byte(jsonLines[8]), &last))
	require.Equal(t, "task.completed", last.Name)
	require.Equal(t, id, last.TaskID)

	// A failing workflow: the failure is shown and the exit is 7.
	failing := create("patterns_faults", "diamond_permanent")
	code, out, errOut = cliRun(t, bin, server, "task", "watch", fmtID(failing))
	require.Equal(t, exitTaskFailed, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "simulated permanent failure on attempt 1")
	require.Contains(t, strings.TrimSpace(out)[strings.LastIndex(strings.TrimSpace(out), "\n")+1:], "task.failed")

	// Unknown task, bad argument.
	code, _, errOut = cliRun(t, bin, server, "task", "watch", "987654")
	require.Equal(t, exitNotFound, code, errOut)
	code, _, _ = cliRun(t, bin, server, "task", "watch", "abc")
	require.Equal(t, exitUsage, code)
	code, _, _ = cliRun(t, bin, "http://127.0.0.1:1/tasker", "task", "watch", "1")
	require.Equal(t, exitUnreachable, code)
}

func fmtID(id int64) string { return strconv.FormatInt(id, 10) }
