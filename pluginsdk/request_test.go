package pluginsdk

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func testRequest() Request {
	return Request{
		StepName:      "process_payment",
		Context:       json.RawMessage(`{"order_id": 7, "amount_cents": 1250}`),
		HandlerConfig: json.RawMessage(`null`),
		DependencyResults: map[string]json.RawMessage{
			"validate_order": json.RawMessage(`{"order_id": 7, "valid": true}`),
			"load_customer":  json.RawMessage(`{"name": 3}`),
		},
	}
}

func TestDecodeContext(t *testing.T) {
	t.Parallel()
	var ctx struct {
		OrderID     int `json:"order_id"`
		AmountCents int `json:"amount_cents"`
	}
	require.NoError(t, testRequest().DecodeContext(&ctx))
	require.Equal(t, 7, ctx.OrderID)
	require.Equal(t, 1250, ctx.AmountCents)

	var wrong struct {
		OrderID string `json:"order_id"`
	}
	err := testRequest().DecodeContext(&wrong)
	require.ErrorContains(t, err, `step "process_payment": decoding the task context`)
	require.ErrorContains(t, err, "order_id")
	require.True(t, IsPermanent(err))
}

func TestDecodeConfig(t *testing.T) {
	t.Parallel()
	cfg := struct{ Timeout int }{Timeout: 5}
	require.NoError(t, testRequest().DecodeConfig(&cfg), "null config leaves v untouched")
	require.Equal(t, 5, cfg.Timeout)

	empty := Request{}
	require.NoError(t, empty.DecodeConfig(&cfg), "empty config counts as null")

	bad := Request{StepName: "s", HandlerConfig: json.RawMessage(`{"Timeout": "x"}`)}
	err := bad.DecodeConfig(&cfg)
	require.ErrorContains(t, err, `step "s": decoding the handler_config`)
	require.True(t, IsPermanent(err))
}

func TestDecodeResult(t *testing.T) {
	t.Parallel()
	var v struct {
		OrderID int  `json:"order_id"`
		Valid   bool `json:"valid"`
	}
	require.NoError(t, testRequest().DecodeResult("validate_order", &v))
	require.Equal(t, 7, v.OrderID)
	require.True(t, v.Valid)

	err := testRequest().DecodeResult("charge_card", &v)
	require.EqualError(t, err, `step "process_payment": no result from dependency step "charge_card" (results present: load_customer, validate_order)`)
	require.True(t, IsPermanent(err))

	err = Request{StepName: "first"}.DecodeResult("x", &v)
	require.EqualError(t, err, `step "first": no result from dependency step "x" (results present: none)`)

	var c struct {
		Name string `json:"name"`
	}
	err = testRequest().DecodeResult("load_customer", &c)
	require.ErrorContains(t, err, `step "process_payment": decoding the result of dependency step "load_customer"`)
}
