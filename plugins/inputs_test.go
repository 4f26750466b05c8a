package plugins

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// A step's inputs ride the wire request and count toward the payload limit.
func TestInputsTravelToThePlugin(t *testing.T) {
	t.Parallel()
	req := core.StepRequest{StepName: "charge", Context: json.RawMessage(`{}`), Inputs: json.RawMessage(`{"sku": "A-2"}`)}
	require.JSONEq(t, `{"sku": "A-2"}`, string(toProto("charge", req).GetInputsJson()))
	require.Equal(t, len(`{}`)+len(`{"sku": "A-2"}`), requestBytes(req))
	require.Empty(t, toProto("charge", core.StepRequest{}).GetInputsJson(), "no inputs: empty")
}
