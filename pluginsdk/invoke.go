package pluginsdk

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Invoke runs one attempt of h for req exactly as Serve does when the host
// calls the plugin: Logger(ctx) inside h carries the step, a panic is
// recovered and returned as a retryable error naming the handler, and the
// returned value is encoded with encoding/json (a value that cannot be
// encoded is a permanent error). On success it returns the results as the
// host receives them.
//
// Plugins do not need it (Serve calls it); it exists for tests and tools,
// such as package plugintest. Classify a returned error with IsPermanent
// and RetryDelay.
func Invoke(ctx context.Context, h Handler, req Request) (json.RawMessage, error) {
	data, _, err := InvokeWithEvents(ctx, h, req)
	return data, err
}

// InvokeWithEvents is Invoke that also returns the events the handler
// published with Publish (none when the attempt failed).
func InvokeWithEvents(ctx context.Context, h Handler, req Request) (json.RawMessage, []Event, error) {
	ctx = withStep(ctx, req)
	ctx, published := withEvents(ctx)
	start := time.Now()
	result, err := run(ctx, h, req)
	if err != nil {
		Logger(ctx).Debug("handler failed", slog.String("handler", req.Handler), elapsedMS(start), slog.String("error", err.Error()))
		return nil, nil, err
	}
	data, err := json.Marshal(result)
	if err != nil {
		return nil, nil, Permanent(fmt.Errorf("handler %q: encoding its results as JSON: %w", req.Handler, err))
	}
	return data, published.list(), nil
}
