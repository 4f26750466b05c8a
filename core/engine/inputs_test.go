package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/store"
)

// An operator corrects a failed step's inputs (PATCH of the step) and
// retries it: the retry's handler gets the new inputs and the task finishes.
func TestInputsSetOnAFailedStepReachTheHandlerOnRetry(t *testing.T) {
	t.Parallel()
	seen := make(chan json.RawMessage, 4)
	b := setup(t, engine.Config{}, map[string]core.Handler{
		"fetch": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return json.RawMessage(`1`), nil }),
		"charge": handlerFunc(func(_ context.Context, req core.StepRequest) (json.RawMessage, error) {
			seen <- req.Inputs
			var in struct {
				Card string `json:"card"`
			}
			if len(req.Inputs) > 0 {
				if err := json.Unmarshal(req.Inputs, &in); err != nil {
					return nil, err
				}
			}
			if in.Card != "valid" {
				return nil, &core.StepError{Kind: core.Permanent, Message: "card declined"}
			}
			return json.RawMessage(`{"charged": true}`), nil
		}),
		"notify": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return nil, nil }),
	})
	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	task := b.waitFor(t, id, core.TaskStatusError)
	require.Empty(t, <-seen, "no inputs at first")
	charge := task.Steps[1]
	require.Equal(t, "charge", charge.Name)

	require.NoError(t, b.store.UpdateStep(b.ctx, id, charge.StepID, store.StepUpdate{Inputs: json.RawMessage(`{"card": "valid"}`)}, "ops"))
	require.NoError(t, b.store.RetryStep(b.ctx, charge.StepID, "card replaced", "ops"))
	b.engine.Wake()
	b.waitFor(t, id, core.TaskStatusComplete)
	select {
	case in := <-seen:
		require.JSONEq(t, `{"card": "valid"}`, string(in))
	case <-time.After(10 * time.Second):
		t.Fatal("the retry never ran")
	}
}
