package main

import (
	"context"
	"encoding/json"
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
