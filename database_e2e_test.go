package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// TestEndToEndRelaxedDurability starts tasker with --synchronous-commit=false:
// the log warns, with the value read back from PostgreSQL, what a crash
// would lose, and workflows run as usual. (Every other end-to-end test runs
// with the default, and TestEndToEndPluginSubscription checks that it does
// not warn.)
func TestEndToEndRelaxedDurability(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	n := start(t, dir, "--synchronous-commit=false")

	var warned bool
	for _, line := range strings.Split(n.logs.String(), "\n") {
		var rec struct {
			Level, Msg        string
			SynchronousCommit string `json:"synchronous_commit"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.SynchronousCommit == "off" {
			require.Equal(t, "WARN", rec.Level)
			require.Contains(t, rec.Msg, "a crash of PostgreSQL or of the machine loses")
			warned = true
		}
	}
	require.True(t, warned, "the log says commits do not wait for the disk; log:\n%s", n.logs.String())

	created, err := n.api.CreateTask(context.Background(), core.TaskRequest{Name: "order_process", Namespace: "default",
		Version: "1.0.0", Context: order(7)})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, created.TaskID).Status)
	n.stop(t)
}

// TestServeRefusesTooFewConnections: each event subscriber needs a
// connection of its own while it delivers; a pool too small for them would
// stall delivery for good, so tasker refuses to start and says what to raise.
func TestServeRefusesTooFewConnections(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	cmd := exec.Command(filepath.Join(dir, "tasker"), "serve", "--data-dir", filepath.Join(dir, "data"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--plugins-dir", filepath.Join(dir, "plugins"))
	cmd.Env = append(os.Environ(), "TASKER_DATABASE_MAX_CONNS=5") // the log and the orders plugin's subscription need 6
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "database.max_conns is 5, too few for 2 event subscribers")
	require.Contains(t, string(out), "raise database.max_conns to at least 6")
	require.Contains(t, string(out), "embedded PostgreSQL stopped", "what started is stopped in order")
}
