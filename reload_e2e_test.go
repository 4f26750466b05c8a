package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// buildVersioned builds plugins/testdata/versioned as version of plugin
// "versioned" into dir, named as tasker expects.
func buildVersioned(t *testing.T, dir, version string) string {
	t.Helper()
	out := filepath.Join(dir, "tasker-handler-versioned_v"+version)
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", out, "./plugins/testdata/versioned")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Run())
	require.NoError(t, os.Chmod(out, 0o755))
	return out
}

// runStamp creates a task of the template name (highest version) and
// returns the results of its only step.
func runStamp(t *testing.T, n *node, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	created, err := n.api.CreateTask(ctx, core.TaskRequest{Name: name})
	require.NoError(t, err)
	task := waitTask(t, n, created.TaskID)
	require.Equal(t, core.TaskStatusComplete, task.Status)
	require.Len(t, task.Steps, 1)
	return string(task.Steps[0].Results)
}

func TestSIGHUPLoadsNewPluginVersion(t *testing.T) {
	dir := workdir(t)
	builds := t.TempDir()
	v100 := buildVersioned(t, builds, "1.0.0")
	v110 := buildVersioned(t, builds, "1.1.0")
	copyFile(t, v100, filepath.Join(dir, "plugins", filepath.Base(v100)))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "stamp_pinned.yaml"), []byte(`
name: stamp_pinned
version: 1.0.0
step_templates:
  - {name: stamp, handler: version, handler_version: "1.0.0"}
`), 0o644))

	n := start(t, dir)
	require.JSONEq(t, `{"plugin": "versioned", "version": "1.0.0"}`, runStamp(t, n, "stamp"))

	copyFile(t, v110, filepath.Join(dir, "plugins", filepath.Base(v110)))
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(n.logs.String(), "reload: loaded plugin versioned v1.1.0; 1 new template")
	}, time.Minute, 50*time.Millisecond, "no reload line; log:\n%s", n.logs.String())

	// The plugin's new template (stamp@1.1.0) is unpinned: the new version runs it.
	require.JSONEq(t, `{"plugin": "versioned", "version": "1.1.0"}`, runStamp(t, n, "stamp"))
	// The file template pinned to 1.0.0 still runs on 1.0.0.
	require.JSONEq(t, `{"plugin": "versioned", "version": "1.0.0"}`, runStamp(t, n, "stamp_pinned"))

	// A second SIGHUP with nothing new changes nothing.
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(n.logs.String(), "reload: no new plugins; 0 new templates")
	}, time.Minute, 50*time.Millisecond, "no second reload line; log:\n%s", n.logs.String())
	n.stop(t)
}
