// Package telemetry sets up OpenTelemetry for a node: traces exported where
// the standard OTEL_* environment variables say (off, and free of cost,
// unless they say so), the SQL spans of the database pool, and the metrics
// the engine records, read by Prometheus at {prefix}/metrics.
//
// Tracing is on when OTEL_TRACES_EXPORTER names an exporter (otlp or
// console) or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and OTEL_SDK_DISABLED is not true.
// The exporter itself (protocol, endpoint, headers, sampler, batching) is
// configured by the same variables through the OpenTelemetry SDK and
// go.opentelemetry.io/contrib/exporters/autoexport. The resource is named by
// OTEL_SERVICE_NAME (tasker by default) and OTEL_RESOURCE_ATTRIBUTES.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracing is true once Setup installed a tracer provider.
var tracing atomic.Bool

// Tracing reports whether Setup turned tracing on in this process.
func Tracing() bool { return tracing.Load() }

// TracingWanted reports whether the environment (read through getenv) asks
// for traces, and names the exporter.
func TracingWanted(getenv func(string) string) (exporter string, on bool) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return "", false
	}
	switch exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "none":
		return "", false
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return "", false
		}
		return "otlp", true
	default:
		return exp, true
	}
}

// Setup turns tracing on when the environment (read through getenv) asks
// for it: it installs the global tracer provider, exporting in batches, and
// the W3C trace-context and baggage propagators. Otherwise it installs
// nothing, so the global tracer stays OpenTelemetry's no-op. It logs one
// line saying which. shutdown flushes and stops the exporter.
func Setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	exporter, on := TracingWanted(getenv)
	if !on {
		log.Info("tracing is off; set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER to turn it on")
		return none, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return none, fmt.Errorf("telemetry: traces exporter: %w", err)
	}
	service := getenv("OTEL_SERVICE_NAME")
	if service == "" {
		service = "tasker"
	}
	// Later options win: the environment's attributes override the default name.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(attribute.String("service.name", "tasker")), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return none, fmt.Errorf("telemetry: resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	tracing.Store(true)
	where := describe(exporter, getenv)
	log.Info("tracing is on", "exporter", exporter, "to", where, "service", service)
	return tp.Shutdown, nil
}

// describe says where spans go, for the start-up log line.
func describe(exporter string, getenv func(string) string) string {
	if exporter != "otlp" {
		return exporter
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if protocol == "" {
		protocol = "http/protobuf"
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" {
		endpoint = "localhost:4318 (default)"
		if protocol == "grpc" {
			endpoint = "localhost:4317 (default)"
		}
	}
	return endpoint + " over " + protocol
}

// PgxTracer makes spans of the SQL a pool runs, children of the span in
// the query's context (otelpgx starts none without a recording parent, so
// the engine's polling claims make no traces of their own). It is nil when
// tracing is off: set it as the pool's ConnConfig.Tracer only then.
func PgxTracer() pgx.QueryTracer {
	if !Tracing() {
		return nil
	}
	return NewPgxTracer(otel.GetTracerProvider())
}

// NewPgxTracer is PgxTracer over a given provider (tests use their own).
func NewPgxTracer(tp trace.TracerProvider) pgx.QueryTracer {
	return otelpgx.NewTracer(otelpgx.WithTracerProvider(tp),
		// Database metrics are not ours to publish; the engine's are.
		otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()),
		// "query tasker.complete_step", "prepare tasker.complete_step", ...
		otelpgx.WithSpanNameFunc(spanName), otelpgx.WithQuerySpanNamePrefix(),
		otelpgx.WithDisableConnectionDetailsInAttributes())
}

// spanName names a query's span (and operation) after the first tasker
// function or table it names ("tasker.complete_step"), else after its
// first word ("select").
func spanName(sql string) string {
	for rest := sql; ; {
		i := strings.Index(rest, "tasker.")
		if i < 0 {
			break
		}
		if i == 0 || strings.ContainsRune(" \n\t(", rune(rest[i-1])) {
			name := rest[i:]
			if j := strings.IndexAny(name, "( \n\t,;)"); j > 0 {
				name = name[:j]
			}
			return name
		}
		rest = rest[i+len("tasker."):]
	}
	word, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	return strings.ToLower(word)
}
