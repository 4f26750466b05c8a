package plugins

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

func TestPublishedEventsCrossTheProtocol(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lifecycle []string
	h, _, _ := optionsHost(t, Options{Events: func(name string, payload map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		lifecycle = append(lifecycle, name+":"+payload["plugin"].(string))
	}}, func(dir string) { copyFile(t, slowBinary, dir, slowFile, 0o755) })
	mu.Lock()
	require.Equal(t, []string{"plugin.loaded:slow"}, lifecycle)
	mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx, published := core.WithEventSink(ctx)
	out, err := h.Handlers()["publish"].Execute(ctx, stepRequest("publish", 1, json.RawMessage(`{}`), nil))
	require.NoError(t, err)
	require.JSONEq(t, `{"ok":true}`, string(out))
	evs := published()
	require.Len(t, evs, 2)
	require.Equal(t, "order.packed", evs[0].Name)
	require.JSONEq(t, `{"n":1}`, string(evs[0].Payload))
	require.Equal(t, "order.shipped", evs[1].Name)
	require.JSONEq(t, `null`, string(evs[1].Payload))
}

func TestCrashAndRestartAreEvents(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lifecycle []string
	h, _, _ := optionsHost(t, Options{Events: func(name string, _ map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		lifecycle = append(lifecycle, name)
	}}, func(dir string) { copyFile(t, slowBinary, dir, slowFile, 0o755) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := h.Handlers()["crash"].Execute(ctx, sleepRequest("crash", 0))
	require.Error(t, err)
	waitNoticed(t, h, "slow")
	_, err = h.Handlers()["sleep"].Execute(ctx, sleepRequest("sleep", 1))
	require.NoError(t, err, "relaunched")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"plugin.loaded", "plugin.crashed", "plugin.restarted"}, lifecycle)
}
