package events

import (
	"context"
	"log/slog"
	"strings"
)

// LogSubscriber logs every event: task-level and other events at info,
// step-level ones at debug, with task_id, step_id and correlation_id.
type LogSubscriber struct {
	Logger *slog.Logger
}

// Name is "log".
func (l LogSubscriber) Name() string { return "log" }

// Skip leaves out step events when they would not be logged (below debug).
func (l LogSubscriber) Skip() []string {
	if l.Logger.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	return []string{"step."}
}

// Wants every event.
func (l LogSubscriber) Wants(Event) bool { return true }

// Deliver logs the batch; it never fails.
func (l LogSubscriber) Deliver(ctx context.Context, batch []Event) error {
	for _, e := range batch {
		level := slog.LevelInfo
		if strings.HasPrefix(e.Name, "step.") {
			level = slog.LevelDebug
		}
		if !l.Logger.Enabled(ctx, level) {
			continue
		}
		attrs := []slog.Attr{slog.String("event", e.Name), slog.Int64("event_id", e.ID)}
		if e.TaskID != 0 {
			attrs = append(attrs, slog.Int64("task_id", e.TaskID))
		}
		if e.StepID != 0 {
			attrs = append(attrs, slog.Int64("step_id", e.StepID))
		}
		if e.CorrelationID != "" {
			attrs = append(attrs, slog.String("correlation_id", e.CorrelationID))
		}
		attrs = append(attrs, slog.String("payload", string(e.Payload)))
		l.Logger.LogAttrs(ctx, level, "event", attrs...)
	}
	return nil
}
