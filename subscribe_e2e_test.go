package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// TestEndToEndPluginSubscription runs the order workflow on a real node and
// sees the example plugin's subscription (task.completed, logged by the
// plugin as "order completed") receive the task's completion through the
// dispatcher and the plugin protocol.
func TestEndToEndPluginSubscription(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	n := start(t, dir)
	require.Contains(t, n.logs.String(), "plugin:orders:completed-orders")
	require.NotContains(t, n.logs.String(), "commits do not wait for the disk", "full durability is the default")

	ctx := context.Background()
	created, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Namespace: "default", Version: "1.0.0",
		Context: order(42)})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, created.TaskID).Status)
	// The plugin's attributes reach the host's log in no fixed order, so
	// each line is read as JSON rather than matched as text.
	logged := func() bool {
		for _, line := range strings.Split(n.logs.String(), "\n") {
			var rec struct {
				Msg    string `json:"msg"`
				TaskID int64  `json:"task_id"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "order completed" && rec.TaskID == created.TaskID {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(30 * time.Second)
	for !logged() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.True(t, logged(), "the plugin logs the completed order of task %d; log:\n%s", created.TaskID, n.logs.String())
	n.stop(t)
}
