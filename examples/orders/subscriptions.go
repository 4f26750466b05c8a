package main

import (
	"context"
	"encoding/json"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// subscriptions are the plugin's event subscriptions: tasker delivers the
// matching events to them, in order, at least once (deduplicate by
// Event.ID if it matters; logging twice does not).
func subscriptions() []pluginsdk.Subscription {
	return []pluginsdk.Subscription{
		pluginsdk.Subscribe("completed-orders", []string{"task.completed"}, logCompletedOrders),
	}
}

// logCompletedOrders logs each completed order_process task. Returning an
// error would make tasker deliver the batch again later.
func logCompletedOrders(ctx context.Context, events []pluginsdk.Event) error {
	for _, e := range events {
		var p struct {
			Namespace string `json:"namespace"`
			TaskName  string `json:"task_name"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil || p.Namespace != "default" || p.TaskName != "order_process" {
			continue // not an order, or not a payload it understands: skip it
		}
		pluginsdk.Logger(ctx).Info("order completed", "task_id", e.TaskID, "event_id", e.ID,
			"correlation_id", e.CorrelationID)
	}
	return nil
}
