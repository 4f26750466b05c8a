package wire

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/metadata"
)

// Trace context crosses the plugin call as W3C traceparent/tracestate gRPC
// metadata, so a step's spans in tasker and in the plugin form one trace.
var traceContext = propagation.TraceContext{}

// InjectTrace adds the span context of ctx, if any, to the outgoing call.
func InjectTrace(ctx context.Context) context.Context {
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	for k, v := range carrier {
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	return ctx
}

// ExtractTrace makes the caller's span context, if it sent one, the remote
// parent of ctx.
func ExtractTrace(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx
	}
	carrier := propagation.MapCarrier{}
	for _, k := range traceContext.Fields() {
		if v := md.Get(k); len(v) > 0 {
			carrier[k] = v[0]
		}
	}
	return traceContext.Extract(ctx, carrier)
}
