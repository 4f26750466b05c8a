package main

import (
	"context"
	"fmt"
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

	ctx := context.Background()
	created, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Namespace: "default", Version: "1.0.0",
		Context: order(42)})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, created.TaskID).Status)
	want := fmt.Sprintf(`"task_id":%d,`, created.TaskID) // JSON log lines
	require.Eventually(t, func() bool {
		for _, line := range strings.Split(n.logs.String(), "\n") {
			if strings.Contains(line, "order completed") && strings.Contains(line, want) {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "the plugin logs the completed order; log:\n%s", n.logs.String())
	n.stop(t)
}
