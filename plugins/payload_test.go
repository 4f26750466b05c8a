package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// slowOptionsHost starts a host with opts on a directory holding only the
// slow test plugin.
func slowOptionsHost(t *testing.T, opts Options) (*Host, *syncBuffer) {
	t.Helper()
	h, logs, _ := optionsHost(t, opts, func(dir string) { copyFile(t, slowBinary, dir, slowFile, 0o755) })
	require.Len(t, h.Plugins(), 1)
	return h, logs
}

// bigRequest asks the slow plugin's handler "big" for a JSON string of n
// bytes (plus its two quotes).
func bigRequest(n int) core.StepRequest {
	req := stepRequest("big", 1, json.RawMessage(`{}`), nil)
	req.HandlerConfig = json.RawMessage(fmt.Sprintf(`{"bytes": %d}`, n))
	return req
}

// jsonString returns a JSON string of exactly n bytes, quotes included.
func jsonString(n int) json.RawMessage {
	return json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`)
}

func TestOptionsDefaultsAndClamp(t *testing.T) {
	t.Parallel()
	require.Equal(t, Options{StartTimeout: 10 * time.Second, MaxPayloadBytes: 4 << 20}, NewHost(nil, "").Options())
	require.Equal(t, Options{StartTimeout: 10 * time.Second, MaxPayloadBytes: 4 << 20},
		NewHostWithOptions(nil, "", Options{StartTimeout: -1, CallTimeout: -1, MaxPayloadBytes: -1}).Options())

	logs := &syncBuffer{}
	h := NewHostWithOptions(slog.New(slog.NewTextHandler(logs, nil)), "", Options{MaxPayloadBytes: 1 << 30})
	require.Equal(t, MaxPayloadCeiling, h.Options().MaxPayloadBytes)
	require.Equal(t, 1, strings.Count(logs.String(),
		`level=WARN msg="plugins.max_payload_bytes is 1 GiB, more than the plugin gRPC transport carries; using 63 MiB"`), logs.String())

	for n, want := range map[int]string{
		0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB", 4 << 20: "4 MiB",
		5452595: "5.2 MiB", 3 << 30: "3 GiB",
	} {
		require.Equal(t, want, formatBytes(n))
	}
}

func TestOversizedRequestNotSent(t *testing.T) {
	t.Parallel()
	h, logs := slowOptionsHost(t, Options{})
	pid, _ := running(t, h, "slow")
	sleep := h.Handlers()["sleep"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	req := sleepRequest("sleep", 1)
	req.Context = jsonString(5452595) // 5.2 MiB
	_, err := sleep.Execute(ctx, req)
	se := requireStepError(t, err, core.Permanent)
	require.Equal(t, `step input is 5.2 MiB, over the plugin payload limit of 4 MiB (plugins.max_payload_bytes); `+
		`handler "sleep" of plugin slow v1.0.0 was not called`, se.Message)

	// Context, handler config and dependency results count together.
	req = sleepRequest("sleep", 1)
	req.Context = jsonString(2 << 20)
	req.DependencyResults = map[string]json.RawMessage{"a": jsonString(1 << 20), "b": jsonString(1 << 20)}
	_, err = sleep.Execute(ctx, req)
	se = requireStepError(t, err, core.Permanent)
	require.Contains(t, se.Message, fmt.Sprintf("step input is %d bytes, over the plugin payload limit of %d bytes",
		4<<20+2+len(req.HandlerConfig), 4<<20))

	// The plugin saw only the call that follows, and still runs.
	_, err = sleep.Execute(ctx, sleepRequest("sleep", 1))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "msg=sleeping plugin=slow") },
		5*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, strings.Count(logs.String(), "msg=sleeping plugin=slow"))
	again, _ := running(t, h, "slow")
	require.Equal(t, pid, again)
}

func TestOversizedResultRefused(t *testing.T) {
	t.Parallel()
	h, _ := slowOptionsHost(t, Options{})
	big := h.Handlers()["big"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := big.Execute(ctx, bigRequest(5<<20))
	se := requireStepError(t, err, core.Permanent)
	require.Equal(t, `plugin slow v1.0.0: the results of handler "big" are 5 MiB, `+
		`over the plugin payload limit of 4 MiB (plugins.max_payload_bytes)`, se.Message)

	out, err := big.Execute(ctx, bigRequest(1<<20))
	require.NoError(t, err)
	require.Len(t, out, 1<<20+2)
}

func TestPayloadLimitOption(t *testing.T) {
	t.Parallel()
	h, _ := slowOptionsHost(t, Options{MaxPayloadBytes: 1000})
	big := h.Handlers()["big"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	out, err := big.Execute(ctx, bigRequest(998))
	require.NoError(t, err, "exactly at the limit")
	require.Len(t, out, 1000)
	_, err = big.Execute(ctx, bigRequest(999))
	se := requireStepError(t, err, core.Permanent)
	require.Contains(t, se.Message, "are 1001 bytes, over the plugin payload limit of 1000 bytes (plugins.max_payload_bytes)")

	req := bigRequest(1)
	req.Context = jsonString(1001 - len(req.HandlerConfig))
	_, err = big.Execute(ctx, req)
	se = requireStepError(t, err, core.Permanent)
	require.Contains(t, se.Message, "step input is 1001 bytes, over the plugin payload limit of 1000 bytes")
}

func TestResultOverGRPCLimit(t *testing.T) {
	t.Parallel()
	h, _ := slowOptionsHost(t, Options{MaxPayloadBytes: 1 << 30}) // clamped
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The plugin cannot send a message over 64 MiB: the call fails with
	// gRPC's ResourceExhausted, permanently.
	_, err := h.Handlers()["big"].Execute(ctx, bigRequest(65<<20))
	se := requireStepError(t, err, core.Permanent)
	require.Contains(t, se.Message, `the call to handler "big" of plugin slow v1.0.0 carried a message over the gRPC limit of 64 MiB `+
		`(the plugin payload limit is 63 MiB, plugins.max_payload_bytes)`)
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	h, _ := slowOptionsHost(t, Options{CallTimeout: 300 * time.Millisecond})
	pid, _ := running(t, h, "slow")
	sleep := h.Handlers()["sleep"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	start := time.Now()
	_, err := sleep.Execute(ctx, sleepRequest("sleep", 20_000))
	require.Less(t, time.Since(start), 5*time.Second)
	se := requireStepError(t, err, core.Retryable)
	require.Equal(t, `plugin slow v1.0.0 did not answer within 300ms (plugins.call_timeout); the call to handler "sleep" was abandoned`, se.Message)

	out, err := sleep.Execute(ctx, sleepRequest("sleep", 1))
	require.NoError(t, err, "the plugin still runs")
	require.JSONEq(t, `{"slept_ms": 1}`, string(out))
	again, _ := running(t, h, "slow")
	require.Equal(t, pid, again)

	// A step deadline shorter than the call timeout is the step's.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	_, err = sleep.Execute(short, sleepRequest("sleep", 20_000))
	require.ErrorContains(t, err, context.DeadlineExceeded.Error(), "the host's view of it, or the plugin's")
	require.NotContains(t, err.Error(), "plugins.call_timeout")
}
