package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tasker-systems/tasker/core/telemetry"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Not parallel, and first in the package: it checks the process's global
// provider before TestSetupExportsWhenAsked replaces it.
func TestOffUnlessTheEnvironmentAsks(t *testing.T) {
	var logs bytes.Buffer
	shutdown, err := telemetry.Setup(context.Background(), env(nil), slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.NoError(t, shutdown(context.Background()))
	require.False(t, telemetry.Tracing())
	require.Nil(t, telemetry.PgxTracer(), "no SQL spans either")
	_, span := otel.Tracer("x").Start(context.Background(), "nothing")
	require.False(t, span.IsRecording(), "the global tracer is still the no-op")
	require.False(t, span.SpanContext().IsValid())
	require.Contains(t, logs.String(), "tracing is off")
}

func TestTracingWanted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		vars     map[string]string
		exporter string
		on       bool
	}{
		{nil, "", false},
		{map[string]string{"OTEL_SERVICE_NAME": "x"}, "", false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp", true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "console", true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "", false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, "", false},
	} {
		exporter, on := telemetry.TracingWanted(env(c.vars))
		require.Equal(t, c.on, on, "%v", c.vars)
		require.Equal(t, c.exporter, exporter, "%v", c.vars)
	}
}

// Not parallel: it sets the process's environment and global provider.
func TestSetupExportsWhenAsked(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_SERVICE_NAME", "tasker-test")
	var logs bytes.Buffer
	shutdown, err := telemetry.Setup(context.Background(), env(map[string]string{"OTEL_TRACES_EXPORTER": "console"}),
		slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		_ = shutdown(context.Background())
	})
	require.True(t, telemetry.Tracing())
	require.NotNil(t, telemetry.PgxTracer())
	require.Contains(t, logs.String(), "tracing is on")
	require.Contains(t, logs.String(), "exporter=console")
	_, span := otel.Tracer("x").Start(context.Background(), "something")
	require.True(t, span.IsRecording())
	span.End()
}

// The instruments, read through a real in-memory reader.
func TestMetricsRecordWhatTheEngineReports(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	m, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	require.NoError(t, err)
	reads := 0
	require.NoError(t, m.ObserveReady(time.Hour, func(context.Context) (int64, error) { reads++; return 7, nil }))
	ctx := context.Background()
	m.TaskCreated(ctx)
	m.Claimed(ctx, 2*time.Millisecond)
	for range 3 {
		m.StepStarted(ctx, "charge")
	}
	m.StepFailed(ctx, "charge", false, true, time.Second)
	m.StepFailed(ctx, "charge", true, false, time.Second)
	m.StepCompleted(ctx, "charge", 500*time.Millisecond)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	require.NoError(t, reader.Collect(ctx, &rm))
	require.Equal(t, 1, reads, "the queue depth is read at most once per interval")
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					key := mt.Name
					if kind, ok := p.Attributes.Value("kind"); ok {
						key += "/" + kind.AsString()
					}
					sums[key] += p.Value
				}
			case metricdata.Gauge[int64]:
				sums[mt.Name] = d.DataPoints[0].Value
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sums[mt.Name] += int64(p.Count)
					if mt.Name == "tasker.step.duration" {
						require.Equal(t, attribute.NewSet(attribute.String("handler", "charge")), p.Attributes)
						require.InDelta(t, 2.5, p.Sum, 1e-9)
					}
				}
			}
		}
	}
	require.Equal(t, map[string]int64{
		"tasker.tasks.created": 1, "tasker.claim.duration": 1, "tasker.steps.started": 3,
		"tasker.steps.failed/retryable": 1, "tasker.steps.failed/permanent": 1, "tasker.steps.retried": 1,
		"tasker.steps.completed": 1, "tasker.step.duration": 3, "tasker.steps.ready": 7,
	}, sums)
}

func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *telemetry.Metrics
	m.TaskCreated(context.Background())
	m.StepFailed(context.Background(), "x", true, false, time.Second)
}
