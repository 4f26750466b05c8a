package plugintest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// A test sets a step's inputs with WithInputs; the handler decodes them.
func TestWithInputs(t *testing.T) {
	t.Parallel()
	h := func(_ context.Context, req pluginsdk.Request) (any, error) {
		in := struct {
			SKU string `json:"sku"`
		}{SKU: "none"}
		if err := req.DecodeInputs(&in); err != nil {
			return nil, err
		}
		return map[string]string{"sku": in.SKU}, nil
	}
	res := Run(t, h, NewRequest("charge").WithInputs(map[string]any{"sku": "A-2"}))
	require.True(t, res.OK(), res.String())
	require.JSONEq(t, `{"sku": "A-2"}`, string(res.JSON))

	res = Run(t, h, NewRequest("charge"))
	require.JSONEq(t, `{"sku": "none"}`, string(res.JSON), "no inputs: null, defaults kept")

	base := NewRequest("charge")
	_ = base.WithInputs(map[string]any{"sku": "X"})
	require.JSONEq(t, `null`, string(base.SDK(t, "charge").Inputs), "With methods return copies")

	msg := fatal(t, func(t testing.TB) { Run(t, h, NewRequest("charge").WithInputs(make(chan int))) })
	require.Contains(t, msg, "WithInputs: cannot encode the chan int as JSON")
}
