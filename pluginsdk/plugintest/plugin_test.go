package plugintest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

const ordersPkg = "github.com/tasker-systems/tasker/examples/orders"

// alive reports whether the process pid exists (and is not a zombie we
// failed to reap).
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

func TestOrdersPluginOverTheProtocol(t *testing.T) {
	t.Parallel()
	bin := Build(t, ordersPkg, "orders", "1.0.0")
	require.Equal(t, "tasker-handler-orders_v1.0.0"+exeSuffix(), filepath.Base(bin))

	var pid int
	t.Run("plugin", func(t *testing.T) {
		p := Start(t, bin)
		pid = p.PID()
		require.Positive(t, pid)
		require.True(t, alive(pid))

		info := p.Info()
		require.Equal(t, "orders", info.Name)
		require.Equal(t, "1.0.0", info.Version)
		require.Equal(t, []string{"process_payment", "send_confirmation", "validate_order"}, info.Handlers)
		require.Empty(t, info.Limits)
		require.Len(t, info.Templates, 1)
		require.Contains(t, info.Templates["order_process.yaml"], "name: order_process")

		ctx := t.Context()
		order := map[string]any{"order_id": 42, "amount_cents": 1999, "customer_email": "ada@example.com"}
		v := p.Execute(ctx, "validate_order", NewRequest("validate_order").WithContext(order))
		require.True(t, v.OK(), v.String())
		require.JSONEq(t, `{"order_id": 42, "valid": true, "amount_cents": 1999}`, string(v.JSON))

		pay := NewRequest("process_payment").WithContext(order).WithResult("validate_order", v)
		res := p.Execute(ctx, "process_payment", pay)
		require.True(t, res.IsRetryable(), res.String())
		require.False(t, res.IsPermanent())
		require.Zero(t, res.RetryAfter())
		require.Equal(t, "payment gateway timed out (simulated transient failure on first attempt)", res.Message())

		res = p.Execute(ctx, "process_payment", pay.WithAttempt(2))
		var got struct {
			PaymentID string `json:"payment_id"`
			Status    string `json:"status"`
		}
		res.Decode(&got)
		require.Equal(t, "pay_42", got.PaymentID)
		require.Equal(t, "captured", got.Status)

		res = p.Execute(ctx, "validate_order", NewRequest("validate_order").WithContext(map[string]any{"order_id": 0, "amount_cents": 5}))
		require.True(t, res.IsPermanent(), res.String())
		require.Equal(t, "invalid order: order_id must be positive, got 0", res.Message())

		res = p.Execute(ctx, "process_payment", NewRequest("process_payment").WithAttempt(2))
		require.True(t, res.IsPermanent())
		require.Contains(t, res.Message(), `no result from dependency step "validate_order"`)

		res = p.Execute(ctx, "refund", NewRequest("refund"))
		require.True(t, res.IsPermanent())
		require.Contains(t, res.Message(), `plugin orders v1.0.0 has no handler "refund"`)

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		res = p.Execute(cancelled, "validate_order", NewRequest("validate_order").WithContext(order))
		require.True(t, res.IsRetryable())
		require.ErrorIs(t, res.Err, context.Canceled)
	})
	if runtime.GOOS != "windows" {
		require.False(t, alive(pid), "plugin process %d is still running after the test's cleanup", pid)
	}

	t.Run("misnamed executables are refused", func(t *testing.T) {
		data, err := os.ReadFile(bin)
		require.NoError(t, err)
		dir := t.TempDir()
		for file, want := range map[string]string{
			"orders":                         "the host only loads executables named tasker-handler-<name>_v<version>",
			"tasker-handler-shipping_v1.0.0": "its file name says plugin shipping v1.0.0 but it reports itself as plugin orders v1.0.0",
		} {
			path := filepath.Join(dir, file+exeSuffix())
			require.NoError(t, os.WriteFile(path, data, 0o755))
			msg := fatal(t, func(t testing.TB) { Start(t, path) })
			require.Contains(t, msg, want)
		}
	})
}

func TestBuildFailsTheTest(t *testing.T) {
	t.Parallel()
	require.Contains(t, fatal(t, func(t testing.TB) { Build(t, ordersPkg, "Orders", "1.0.0") }), `plugin name "Orders"`)
	require.Contains(t, fatal(t, func(t testing.TB) { Build(t, ordersPkg, "orders", "v1") }), `version "v1"`)
	msg := fatal(t, func(t testing.TB) { Build(t, "./no/such/package", "x", "1.0.0") })
	require.Contains(t, msg, "go build -o")
	require.Contains(t, msg, "no/such/package")
}
