package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// slowChain is a template whose steps each run for 700 ms, long enough to
// kill a node or a plugin while one runs.
const slowChain = `
name: slow_chain
namespace_name: crash
version: 1.0.0
step_templates:
  - {name: one, handler: work, handler_config: {sleep_ms: 700}, retry_backoff_ms: 10}
  - {name: two, handler: work, handler_config: {sleep_ms: 700}, retry_backoff_ms: 10, depends_on_step: one}
  - {name: three, handler: work, handler_config: {sleep_ms: 700}, retry_backoff_ms: 10, depends_on_step: two}
`

func crashWorkdir(t *testing.T) string {
	dir := workdir(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "slow_chain.yaml"), []byte(slowChain), 0o644))
	return dir
}

// waitForStepLeasedBy waits until a step runs under a lease of the node with
// that process id (lease owners are <host>-<pid>-<random>).
func waitForStepLeasedBy(t *testing.T, db *pgx.Conn, pid int) int64 {
	t.Helper()
	var stepID int64
	require.Eventually(t, func() bool {
		err := db.QueryRow(context.Background(), `select step_id from tasker.workflow_steps
			where status = 'in_progress' and lease_owner like '%-' || $1 || '-%' limit 1`, strconv.Itoa(pid)).Scan(&stepID)
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "node %d never ran a step", pid)
	return stepID
}

func TestEndToEndNodeKilledMidStepLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dirA, dirB := crashWorkdir(t), crashWorkdir(t)
	// Two workers each: six chains then need both nodes (with the default
	// 32, the node that wins the first claim could take every step).
	a := start(t, dirA, "--lease", "2s", "--workers", "2")
	url := embeddedURL(t, dirA)
	b := start(t, dirB, "--database-url", url, "--lease", "2s", "--workers", "2")
	db, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer db.Close(ctx)

	var ids []int64
	for range 6 {
		task, err := b.api.CreateTask(ctx, core.TaskRequest{Name: "slow_chain", Namespace: "crash"})
		require.NoError(t, err)
		ids = append(ids, task.TaskID)
	}
	victim := waitForStepLeasedBy(t, db, a.cmd.Process.Pid)
	require.NoError(t, a.cmd.Process.Kill())
	<-a.exited

	for _, id := range ids {
		task := waitTask(t, b, id)
		require.Equal(t, core.TaskStatusComplete, task.Status, "task %d", id)
	}
	var reason string
	var attempts int
	require.NoError(t, db.QueryRow(ctx, `select t.reason, s.attempts from tasker.step_transitions t
		join tasker.workflow_steps s using (step_id)
		where t.step_id = $1 and t.reason like 'lease of %expired%'`, victim).Scan(&reason, &attempts))
	require.Contains(t, reason, fmt.Sprintf("-%d-", a.cmd.Process.Pid), "the dead node's lease was reaped")
	require.Equal(t, 2, attempts, "the interrupted attempt counts, the retry ran on the other node")

	// Exactly one completion per step: no step finished twice, on two nodes.
	var doubled int
	require.NoError(t, db.QueryRow(ctx, `select count(*) from (
		select step_id from tasker.step_transitions where to_status = 'complete'
		group by step_id having count(*) > 1) d`).Scan(&doubled))
	require.Zero(t, doubled)

	b.stop(t)
	// The killed node's PostgreSQL is still running: the next start on its
	// data directory finds it and stops it, and a clean stop leaves nothing.
	a = start(t, dirA)
	require.Contains(t, a.logs.String(), "leftover PostgreSQL")
	a.stop(t)
	requireNoProcessesUnder(t, dirA, "node A's leftovers are gone")
	requireNoProcessesUnder(t, dirB, "node B stopped cleanly")
}

func TestEndToEndPluginKilledMidStepLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := crashWorkdir(t)
	n := start(t, dir)
	task, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "slow_chain", Namespace: "crash"})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		got, err := n.api.Task(ctx, task.TaskID)
		return err == nil && stepsByName(got)["one"].Status == core.StepStatusInProgress
	}, 30*time.Second, 10*time.Millisecond)
	// Claimed is not yet running: the step is claimed in its task's creating
	// transaction, and a plugin killed before the call leaves the attempt
	// uncharged (not run). A quarter of its 700 ms in, the call is under way.
	time.Sleep(250 * time.Millisecond)
	plugin := filepath.Join(dir, "plugins", "tasker-handler-patterns_v1.0.0")
	killed := 0
	for _, p := range processesUnder(t, dir) {
		if pid, path, _ := strings.Cut(p, " "); path == plugin {
			id, err := strconv.Atoi(pid)
			require.NoError(t, err)
			require.NoError(t, syscall.Kill(id, syscall.SIGKILL))
			killed++
		}
	}
	require.Equal(t, 1, killed, "the patterns plugin runs as one process")

	done := waitTask(t, n, task.TaskID)
	require.Equal(t, core.TaskStatusComplete, done.Status)
	steps := stepsByName(done)
	require.Equal(t, 2, steps["one"].Attempts, "the attempt the crash interrupted failed; the restarted plugin ran the retry")
	require.Equal(t, 1, steps["two"].Attempts)
	require.Contains(t, n.logs.String(), "plugin patterns v1.0.0 restarted")
	n.stop(t)
	requireNoProcessesUnder(t, dir, "the restarted plugin stops with tasker")
}
