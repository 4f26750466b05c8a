package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk/plugintest"
)

// TestOrderFlowThroughThePlugin builds this plugin, starts it the way the
// tasker host does and runs the order workflow's steps over gRPC, feeding
// each step's results into the next step's request.
func TestOrderFlowThroughThePlugin(t *testing.T) {
	t.Parallel()
	p := plugintest.Start(t, plugintest.Build(t, ".", "orders", "1.0.0"))
	require.Equal(t, []string{"process_payment", "send_confirmation", "validate_order"}, p.Info().Handlers)
	ctx := t.Context()
	order := map[string]any{"order_id": 7, "amount_cents": 2500, "customer_email": "grace@example.com"}

	validated := p.Execute(ctx, "validate_order", plugintest.NewRequest("validate_order").WithContext(order))
	require.True(t, validated.OK(), validated.String())

	pay := plugintest.NewRequest("process_payment").WithContext(order).WithResult("validate_order", validated)
	first := p.Execute(ctx, "process_payment", pay)
	require.True(t, first.IsRetryable(), first.String())
	require.Contains(t, first.Message(), "payment gateway timed out")

	paid := p.Execute(ctx, "process_payment", pay.WithAttempt(2))
	var pm payment
	paid.Decode(&pm)
	require.Equal(t, payment{PaymentID: "pay_7", AmountCents: 2500, Status: "captured"}, pm)

	confirmed := p.Execute(ctx, "send_confirmation", plugintest.NewRequest("send_confirmation").
		WithContext(order).WithResult("process_payment", paid))
	var c confirmation
	confirmed.Decode(&c)
	require.Equal(t, "grace@example.com", c.SentTo)
	require.Equal(t, "pay_7", c.PaymentID)
	require.Equal(t, "Order 7 confirmed: payment pay_7 of 2500 cents captured.", c.Message)
}
