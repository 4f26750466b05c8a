package plugins

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// A newer host, speaking protocol versions 1 and 2, still runs a plugin
// built for version 1: go-plugin settles on the highest version both know.
// Not parallel: it swaps the host's protocol list while no other test runs.
func TestNewerHostRunsOlderPlugins(t *testing.T) {
	old := hostProtocols
	t.Cleanup(func() { hostProtocols = old })
	hostProtocols = func() map[int]plugin.PluginSet {
		v := wire.VersionedPlugins(nil)
		v[2] = plugin.PluginSet{"handler-v2": &wire.GRPCPlugin{}} // a future protocol the plugin does not know
		return v
	}
	h, _ := slowHost(t, time.Second)
	out, err := h.Handlers()["sleep"].Execute(context.Background(), sleepRequest("sleep", 1))
	require.NoError(t, err)
	require.JSONEq(t, `{"slept_ms": 1}`, string(out))
}
