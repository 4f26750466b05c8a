package pluginsdk

import (
	"context"
	"go.opentelemetry.io/otel/trace"
	"io"
	"log/slog"
	"os"
	"time"
)

// logTimeFormat is the timestamp layout go-plugin parses in "@timestamp".
const logTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// baseLogger writes JSON lines to stderr in the shape go-plugin understands
// ("@level", "@message", "@timestamp"), so that the host re-logs them at the
// right level with their attributes.
var baseLogger = newJSONLogger(os.Stderr)

func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(logTimeFormat))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any()))
			}
			return a
		},
	}))
}

// hclogLevel names an slog level the way hclog (and so the host) does.
func hclogLevel(v any) string {
	l, ok := v.(slog.Level)
	if !ok {
		return "info"
	}
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}

type stepKey struct{}

// subscriptionKey carries the name of the subscription being delivered to.
type subscriptionKey struct{}

// stepInfo is what Logger attaches to records logged while a step runs.
type stepInfo struct {
	taskID, stepID int64
	stepName       string
	attempt        int
}

// withStep returns ctx carrying the identity of the step being run.
func withStep(ctx context.Context, req Request) context.Context {
	return context.WithValue(ctx, stepKey{}, stepInfo{
		taskID: req.TaskID, stepID: req.StepID, stepName: req.StepName, attempt: req.Attempt,
	})
}

// Logger returns a logger for use inside a handler. It writes JSON lines to
// the plugin's stderr, which go-plugin forwards into the host's log (tagged
// with the plugin's name). When ctx is the one passed to a Handler, every
// record carries the task_id, step_id, step and attempt of the step; when
// it is the one passed to a SubscriptionFunc, the subscription's name.
//
// Do not write anything to stdout: go-plugin reserves it for the handshake.
func Logger(ctx context.Context) *slog.Logger {
	if ctx == nil {
		return baseLogger
	}
	if sub, ok := ctx.Value(subscriptionKey{}).(string); ok {
		return baseLogger.With(slog.String("subscription", sub))
	}
	info, ok := ctx.Value(stepKey{}).(stepInfo)
	if !ok {
		return baseLogger
	}
	l := baseLogger.With(
		slog.Int64("task_id", info.taskID),
		slog.Int64("step_id", info.stepID),
		slog.String("step", info.stepName),
		slog.Int("attempt", info.attempt),
	)
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		l = l.With(slog.String("trace_id", sc.TraceID().String()))
	}
	return l
}

// elapsedMS is a log attribute with the milliseconds since start.
func elapsedMS(start time.Time) slog.Attr {
	return slog.Int64("elapsed_ms", time.Since(start).Milliseconds())
}
