package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
)

func TestEachAttemptIsASpanHandlersCanContinue(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("test")
	seen := make(chan trace.SpanContext, 4)
	handlers := handlersForPipeline()
	handlers["charge"] = handlerFunc(func(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
		seen <- trace.SpanContextFromContext(ctx)
		if req.Attempt == 1 {
			return nil, errors.New("declined for now")
		}
		return json.RawMessage(`1`), nil
	})
	b := setup(t, engine.Config{Tracer: tracer}, handlers)
	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	b.waitFor(t, id, core.TaskStatusComplete)

	var charge []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "step charge" {
			charge = append(charge, s)
		}
	}
	require.Len(t, charge, 2, "one span per attempt")
	require.Equal(t, codes.Error, charge[0].Status().Code)
	require.Equal(t, "declined for now", charge[0].Status().Description)
	require.Contains(t, charge[0].Attributes(), attribute.Int("tasker.attempt", 1))
	require.Contains(t, charge[0].Attributes(), attribute.Int64("tasker.task_id", id))
	require.Equal(t, charge[0].SpanContext().SpanID(), (<-seen).SpanID(), "the handler runs inside the attempt's span")
}
