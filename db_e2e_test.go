package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

// apiState is every task, step and transition a node reports, as raw JSON
// keyed by path.
func apiState(t *testing.T, n *node) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	get := func(path string) []byte {
		body, status, err := n.api.DoRaw(ctx, http.MethodGet, path, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, "GET %s: %s", path, body)
		out[path] = string(body)
		return body
	}
	get("/tasks?limit=100")
	list, err := n.api.ListTasks(ctx, client.TaskFilter{Limit: 100})
	require.NoError(t, err)
	for _, task := range list.Tasks {
		get(fmt.Sprintf("/tasks/%d", task.TaskID))
		full, err := n.api.Task(ctx, task.TaskID)
		require.NoError(t, err)
		for _, s := range full.Steps {
			get(fmt.Sprintf("/tasks/%d/workflow_steps/%d", task.TaskID, s.StepID))
		}
	}
	return out
}

func runTasker(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(filepath.Join(dir, "tasker"), args...).CombinedOutput()
	return string(out), err
}

// TestEndToEndBackupWhileServingAndRestore backs a serving node up, restores
// the archive into a fresh data directory and finds every task, step and
// transition again through the API.
func TestEndToEndBackupWhileServingAndRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := workdir(t)
	n := start(t, dir)
	var ids []int64
	for i := range 4 {
		task, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Context: order(500 + i)})
		require.NoError(t, err)
		ids = append(ids, task.TaskID)
	}
	for _, id := range ids {
		require.Equal(t, core.TaskStatusComplete, waitTask(t, n, id).Status)
	}
	_, err := n.api.CancelTask(ctx, mustCreate(t, n, 600), "changed my mind")
	require.NoError(t, err)

	archive := filepath.Join(dir, "backup.tar.gz")
	out, err := runTasker(t, dir, "db", "backup", "--data-dir", filepath.Join(dir, "data"), "--out", archive)
	require.NoError(t, err, out)
	require.Contains(t, out, "backup written to "+archive)
	want := apiState(t, n)

	out, err = runTasker(t, dir, "db", "backup", "--data-dir", filepath.Join(dir, "data"), "--out", archive)
	require.Error(t, err, "an existing archive is never overwritten")
	require.Contains(t, out, "choose a new file name")
	out, err = runTasker(t, dir, "db", "restore", "--data-dir", filepath.Join(dir, "data"), archive)
	require.Error(t, err, "no restore into a data dir that a tasker serves")
	require.Contains(t, out, "is serving data directory")

	out, err = runTasker(t, dir, "db", "verify", archive)
	require.NoError(t, err, out)
	require.Contains(t, out, "ok")
	n.stop(t)

	// With no tasker serving it, backup starts the embedded PostgreSQL itself.
	stopped := filepath.Join(dir, "stopped.tar.gz")
	out, err = runTasker(t, dir, "db", "backup", "--data-dir", filepath.Join(dir, "data"), "--out", stopped)
	require.NoError(t, err, out)
	requireNoProcessesUnder(t, dir, "backup stops the PostgreSQL it started")
	out, err = runTasker(t, dir, "db", "verify", stopped)
	require.NoError(t, err, out)
	out, err = runTasker(t, dir, "db", "backup", "--data-dir", filepath.Join(dir, "nothing"), "--out", filepath.Join(dir, "x.tar.gz"))
	require.Error(t, err, out)
	require.Contains(t, out, "no tasker database")
	require.NoFileExists(t, filepath.Join(dir, "x.tar.gz"), "a failed backup leaves no archive")

	fresh := workdir(t)
	out, err = runTasker(t, fresh, "db", "restore", "--data-dir", filepath.Join(fresh, "data"), archive)
	require.NoError(t, err, out)
	require.Contains(t, out, "restored "+archive)
	requireNoProcessesUnder(t, fresh, "restore stops the PostgreSQL it started")
	out, err = runTasker(t, fresh, "db", "restore", "--data-dir", filepath.Join(fresh, "data"), archive)
	require.Error(t, err, "a restored data dir is not overwritten without --force")
	require.Contains(t, out, "already holds tasker data")
	out, err = runTasker(t, fresh, "db", "restore", "--force", "--data-dir", filepath.Join(fresh, "data"), archive)
	require.NoError(t, err, out)

	restored := start(t, fresh)
	require.Equal(t, want, apiState(t, restored))
	// The engine carries on where the backup left off: new ids, same workflow.
	next := mustCreate(t, restored, 700)
	require.Greater(t, next, ids[len(ids)-1])
	require.Equal(t, core.TaskStatusComplete, waitTask(t, restored, next).Status)
	restored.stop(t)

	// A damaged archive is refused before anything starts.
	raw, err := os.ReadFile(archive)
	require.NoError(t, err)
	raw[len(raw)/2] ^= 0xff
	damaged := filepath.Join(dir, "damaged.tar.gz")
	require.NoError(t, os.WriteFile(damaged, raw, 0o644))
	out, err = runTasker(t, dir, "db", "verify", damaged)
	require.Error(t, err, out)
	other := t.TempDir()
	out, err = runTasker(t, dir, "db", "restore", "--data-dir", filepath.Join(other, "data"), damaged)
	require.Error(t, err, out)
	require.NoDirExists(t, filepath.Join(other, "data", "pg"), "nothing was started for a damaged archive")
}

func mustCreate(t *testing.T, n *node, id int) int64 {
	t.Helper()
	task, err := n.api.CreateTask(context.Background(), core.TaskRequest{Name: "order_process", Context: order(id)})
	require.NoError(t, err)
	return task.TaskID
}
