// Command slowplugin is a handler plugin for the plugins package's tests.
// The tests build it as tasker-handler-slow_v1.0.0. Its handler "sleep"
// sleeps for handler_config.ms milliseconds (or until the host gives up on
// the call) and returns {"slept_ms": ms}; its handler "crash" makes the
// process exit with status 1 in the middle of the call; its handler "big"
// returns a JSON string of handler_config.bytes bytes (quotes excluded).
package main

import (
	"context"
	"go.opentelemetry.io/otel/trace"
	"os"
	"strings"
	"time"

	"github.com/tasker-systems/tasker/pluginsdk"
)

func main() {
	pluginsdk.Serve(pluginsdk.Plugin{
		Name:    "slow",
		Version: "1.0.0",
		// A limit, so the host's tests can see it arrive through Info.
		MaxConcurrency: map[string]int{"sleep": 3},
		Handlers: map[string]pluginsdk.Handler{
			// trace returns the trace id its context carries, to show the host's trace arrives.
			"trace": func(ctx context.Context, _ pluginsdk.Request) (any, error) {
				return map[string]string{"trace_id": trace.SpanContextFromContext(ctx).TraceID().String()}, nil
			},
			"sleep": sleep,
			"crash": func(context.Context, pluginsdk.Request) (any, error) {
				os.Exit(1)
				return nil, nil
			},
			"big": big,
		},
	})
}

func sleep(ctx context.Context, req pluginsdk.Request) (any, error) {
	var cfg struct {
		MS int `json:"ms"`
	}
	if err := req.DecodeConfig(&cfg); err != nil {
		return nil, err
	}
	pluginsdk.Logger(ctx).Info("sleeping", "ms", cfg.MS)
	select {
	case <-time.After(time.Duration(cfg.MS) * time.Millisecond):
		return map[string]int{"slept_ms": cfg.MS}, nil
	case <-ctx.Done():
		return nil, pluginsdk.Retryable(ctx.Err())
	}
}

func big(ctx context.Context, req pluginsdk.Request) (any, error) {
	var cfg struct {
		Bytes int `json:"bytes"`
	}
	if err := req.DecodeConfig(&cfg); err != nil {
		return nil, err
	}
	pluginsdk.Logger(ctx).Info("returning a big result", "bytes", cfg.Bytes)
	return strings.Repeat("x", cfg.Bytes), nil
}
