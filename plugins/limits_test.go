package plugins

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

func TestHandlerConcurrencyLimitArrivesThroughInfo(t *testing.T) {
	t.Parallel()
	h, _ := slowHost(t, time.Second)
	limited, ok := h.Handlers()["sleep"].(core.ConcurrencyLimiter)
	require.True(t, ok)
	require.Equal(t, 3, limited.MaxConcurrency(), "declared by the plugin as MaxConcurrency")
	require.Equal(t, 0, h.Handlers()["crash"].(core.ConcurrencyLimiter).MaxConcurrency(), "no limit declared")
	require.Equal(t, map[string]int{"sleep": 3}, h.Plugins()[0].Limits)
}
