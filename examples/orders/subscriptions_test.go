package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk/plugintest"
)

func TestCompletedOrdersSubscription(t *testing.T) {
	t.Parallel()
	sub := subscriptions()[0]
	require.Equal(t, "completed-orders", sub.Name)
	done := plugintest.NewEvent(t, "task.completed", map[string]any{"namespace": "default", "task_name": "order_process"})
	done.TaskID = 7
	other := plugintest.NewEvent(t, "task.completed", map[string]any{"namespace": "billing", "task_name": "invoice"})
	require.NoError(t, plugintest.Deliver(t, sub, done, other,
		plugintest.NewEvent(t, "step.completed", nil))) // filtered out, as tasker does
}
