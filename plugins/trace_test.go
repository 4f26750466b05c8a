package plugins

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestTraceContextCrossesTheCall(t *testing.T) {
	t.Parallel()
	h, _ := slowHost(t, time.Second)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	ctx, span := tp.Tracer("test").Start(context.Background(), "step attempt")
	defer span.End()

	out, err := h.Handlers()["trace"].Execute(ctx, sleepRequest("trace", 0))
	require.NoError(t, err)
	var got struct {
		TraceID string `json:"trace_id"`
	}
	require.NoError(t, json.Unmarshal(out, &got))
	require.Equal(t, span.SpanContext().TraceID().String(), got.TraceID, "the plugin's context continues the host's trace")

	out, err = h.Handlers()["trace"].Execute(context.Background(), sleepRequest("trace", 0))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(out, &got))
	require.Equal(t, "00000000000000000000000000000000", got.TraceID, "no trace, nothing invented")
}
