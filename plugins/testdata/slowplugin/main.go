// Command slowplugin is a handler plugin for the plugins package's tests.
// The tests build it as tasker-handler-slow_v1.0.0. Its handler "sleep"
// sleeps for handler_config.ms milliseconds (or until the host gives up on
// the call) and returns {"slept_ms": ms}; its handler "crash" makes the
// process exit with status 1 in the middle of the call; its handler "big"
// returns a JSON string of handler_config.bytes bytes (quotes excluded);
// its handler "publish" publishes the custom events order.packed and order.shipped.
// Its subscription "record" (events test.*) appends "<id> <name>" lines to
// the file each event's payload names ({"file": path}); a batch holding an
// event with {"fail_once": marker} or {"crash_once": marker} fails (or
// makes the process exit) the first time, creating the marker file.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
			// trace returns the trace and span ids its context carries (the
			// host's span is its remote parent), to show the host's trace arrives.
			"trace": func(ctx context.Context, _ pluginsdk.Request) (any, error) {
				sc := trace.SpanContextFromContext(ctx)
				return map[string]string{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}, nil
			},
			"sleep": sleep,
			"crash": func(context.Context, pluginsdk.Request) (any, error) {
				os.Exit(1)
				return nil, nil
			},
			"big": big,
			// publish publishes two custom events, then succeeds.
			"publish": func(ctx context.Context, _ pluginsdk.Request) (any, error) {
				if err := pluginsdk.Publish(ctx, "order.packed", map[string]int{"n": 1}); err != nil {
					return nil, err
				}
				return map[string]bool{"ok": true}, pluginsdk.Publish(ctx, "order.shipped", nil)
			},
		},
		Subscriptions: []pluginsdk.Subscription{pluginsdk.Subscribe("record", []string{"test.*"}, record)},
	})
}

// record implements the subscription "record" (see the package comment).
func record(_ context.Context, events []pluginsdk.Event) error {
	type payload struct {
		File      string `json:"file"`
		FailOnce  string `json:"fail_once"`
		CrashOnce string `json:"crash_once"`
	}
	ps := make([]payload, len(events))
	for i, e := range events {
		_ = json.Unmarshal(e.Payload, &ps[i])
		if first(ps[i].FailOnce) {
			return errors.New("record: failing once as asked")
		}
		if first(ps[i].CrashOnce) {
			os.Exit(1)
		}
	}
	for i, e := range events {
		if ps[i].File == "" {
			continue
		}
		f, err := os.OpenFile(ps[i].File, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "%d %s\n", e.ID, e.Name)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// first creates marker and reports true when it did not exist yet.
func first(marker string) bool {
	if marker == "" {
		return false
	}
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
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
