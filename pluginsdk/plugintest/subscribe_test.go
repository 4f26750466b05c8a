package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk"
)

func TestDeliverInProcess(t *testing.T) {
	t.Parallel()
	var seen []int64
	down := true
	sub := pluginsdk.Subscribe("audit", []string{"order.*"}, func(_ context.Context, evs []pluginsdk.Event) error {
		if down {
			return errors.New("audit store down")
		}
		for _, e := range evs {
			seen = append(seen, e.ID)
		}
		return nil
	})
	packed := NewEvent(t, "order.packed", map[string]int{"n": 1})
	other := NewEvent(t, "task.completed", nil)
	shipped := NewEvent(t, "order.shipped", nil)
	require.Greater(t, shipped.ID, packed.ID)
	require.JSONEq(t, `{"n":1}`, string(packed.Payload))
	require.False(t, packed.CreatedAt.IsZero())

	require.ErrorContains(t, Deliver(t, sub, packed, other, shipped), "audit store down")
	require.Empty(t, seen)
	down = false
	require.NoError(t, Deliver(t, sub, packed, other, shipped), "the same batch, again")
	require.Equal(t, []int64{packed.ID, shipped.ID}, seen)

	panics := pluginsdk.Subscribe("p", nil, func(context.Context, []pluginsdk.Event) error { panic("boom") })
	require.ErrorContains(t, Deliver(t, panics, packed), `subscription "p" panicked: boom`)
}

func TestDeliverOverTheProtocol(t *testing.T) {
	t.Parallel()
	p := Start(t, Build(t, ordersPkg, "orders", "1.0.0"))
	require.Equal(t, map[string][]string{"completed-orders": {"task.completed"}}, p.Info().Subscriptions)
	done := NewEvent(t, "task.completed", map[string]any{"namespace": "default", "task_name": "order_process"})
	done.TaskID, done.CorrelationID = 42, "order-42"
	require.NoError(t, p.Deliver(t.Context(), "completed-orders", done, NewEvent(t, "step.completed", nil)))
	bad := NewEvent(t, "task.completed", nil)
	bad.Payload = json.RawMessage(`{"namespace":`)
	require.NoError(t, p.Deliver(t.Context(), "completed-orders", bad), "the example skips what it cannot read")
}
