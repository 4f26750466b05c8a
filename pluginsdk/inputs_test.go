package pluginsdk

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
)

func TestRequestInputs(t *testing.T) {
	t.Parallel()
	req := requestFromProto(&pluginv1.ExecuteRequest{StepName: "charge", InputsJson: []byte(`{"sku": "A-2", "qty": 3}`)})
	var in struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	}
	require.NoError(t, req.DecodeInputs(&in))
	require.Equal(t, "A-2", in.SKU)
	require.Equal(t, 3, in.Qty)

	// Absent: null, and v keeps its defaults.
	req = requestFromProto(&pluginv1.ExecuteRequest{StepName: "charge"})
	require.Equal(t, json.RawMessage("null"), req.Inputs)
	in.SKU = "default"
	require.NoError(t, req.DecodeInputs(&in))
	require.Equal(t, "default", in.SKU)

	// Inputs that do not fit v fail for good, naming the step.
	req = Request{StepName: "charge", Inputs: json.RawMessage(`{"qty": "three"}`)}
	err := req.DecodeInputs(&in)
	require.ErrorContains(t, err, `step "charge": decoding the step inputs`)
	permanent, _ := classify(err)
	require.True(t, permanent)
}

// Over the plugin service, a handler sees the inputs the host sent.
func TestServerPassesInputs(t *testing.T) {
	t.Parallel()
	srv, err := newServer(Plugin{Name: "demo", Version: "1.0.0", Handlers: map[string]Handler{
		"echo_inputs": func(_ context.Context, req Request) (any, error) {
			var v map[string]any
			return v, req.DecodeInputs(&v)
		},
	}})
	require.NoError(t, err)
	resp, err := srv.Execute(context.Background(), &pluginv1.ExecuteRequest{Handler: "echo_inputs", InputsJson: []byte(`{"k": [1, 2]}`)})
	require.NoError(t, err)
	require.Nil(t, resp.GetError())
	require.JSONEq(t, `{"k": [1, 2]}`, string(resp.GetResultsJson()))
}
