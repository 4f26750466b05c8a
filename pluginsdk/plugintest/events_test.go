package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk"
)

func TestRunReturnsPublishedEvents(t *testing.T) {
	t.Parallel()
	h := func(ctx context.Context, req pluginsdk.Request) (any, error) {
		if err := pluginsdk.Publish(ctx, "order.shipped", map[string]string{"carrier": "ups"}); err != nil {
			return nil, err
		}
		if req.Attempt > 1 {
			return nil, errors.New("failed after publishing")
		}
		return "ok", nil
	}
	res := Run(t, h, NewRequest("ship"))
	require.True(t, res.OK())
	require.Len(t, res.Events, 1)
	require.Equal(t, "order.shipped", res.Events[0].Name)
	require.JSONEq(t, `{"carrier":"ups"}`, string(res.Events[0].Payload))

	res = Run(t, h, NewRequest("ship").WithAttempt(2))
	require.False(t, res.OK())
	require.Empty(t, res.Events, "a failed attempt publishes nothing")

	require.ErrorIs(t, pluginsdk.Publish(context.Background(), "a.b", nil), pluginsdk.ErrNotInHandler)
	require.Error(t, pluginsdk.Publish(context.Background(), "a.b", json.RawMessage(`{`)))
}
