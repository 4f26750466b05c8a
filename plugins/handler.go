package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc/status"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
)

// pluginHandler is a core.Handler backed by a handler of a plugin process.
type pluginHandler struct {
	p     *proc
	name  string
	limit int // the plugin's MaxConcurrency for this handler; 0 for none
}

var (
	_ core.Handler            = (*pluginHandler)(nil)
	_ core.ConcurrencyLimiter = (*pluginHandler)(nil)
)

// MaxConcurrency is the limit the plugin declared for this handler.
func (ph *pluginHandler) MaxConcurrency() int { return ph.limit }

// Execute runs the step in the plugin process. The handler's own failures
// come back as *core.StepError with the kind, message and retry delay the
// handler chose. When the process has exited, Execute relaunches it first
// (see proc); while a crash-looping plugin's relaunch waits, or after the
// host's Close, it fails at once with a retryable *core.StepError (with
// RetryAfter set to the wait). A call broken by the process's death or a
// transport error is a retryable *core.StepError naming the plugin: its
// outcome is unknown. When ctx ends first, the returned error wraps
// ctx.Err().
func (ph *pluginHandler) Execute(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
	p := ph.p
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plugin %s: handler %q not called: %w", p.label, ph.name, err)
	}
	client, rpc, err := p.acquire(ctx, ph.name)
	if err != nil {
		return nil, err
	}
	resp, err := rpc.Execute(ctx, toProto(ph.name, req))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("plugin %s: call to handler %q abandoned: %w", p.label, ph.name, ctxErr)
		}
		st := status.Convert(err)
		msg := fmt.Sprintf("plugin %s failed during the call to handler %q: %s: %s", p.label, ph.name, st.Code(), st.Message())
		return nil, p.brokenCall(ctx, client, st.Code(), msg)
	}
	if e := resp.GetError(); e != nil {
		return nil, fromProtoError(e)
	}
	results := resp.GetResultsJson()
	if len(results) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(results) {
		return nil, &core.StepError{
			Kind:    core.Permanent,
			Message: fmt.Sprintf("plugin %s: handler %q returned results that are not valid JSON", p.label, ph.name),
		}
	}
	return json.RawMessage(results), nil
}

// toProto converts the engine's request into the wire request. The handler
// name is the one registered, whatever req.Handler says.
func toProto(handler string, req core.StepRequest) *pluginv1.ExecuteRequest {
	deps := make(map[string][]byte, len(req.DependencyResults))
	for name, raw := range req.DependencyResults {
		deps[name] = raw
	}
	return &pluginv1.ExecuteRequest{
		TaskId:                req.TaskID,
		StepId:                req.StepID,
		StepName:              req.StepName,
		Handler:               handler,
		Namespace:             req.Namespace,
		TaskName:              req.TaskName,
		TaskVersion:           req.TaskVersion,
		Attempt:               int32(max(math.MinInt32, min(math.MaxInt32, req.Attempt))),
		ContextJson:           req.Context,
		HandlerConfigJson:     req.HandlerConfig,
		DependencyResultsJson: deps,
	}
}

// fromProtoError converts a handler failure reported by the plugin.
func fromProtoError(e *pluginv1.StepError) *core.StepError {
	kind := core.Retryable
	if e.GetKind() == pluginv1.StepError_KIND_PERMANENT {
		kind = core.Permanent
	}
	var after time.Duration
	if ms := e.GetRetryAfterMs(); ms > 0 {
		after = time.Duration(ms) * time.Millisecond
	}
	return &core.StepError{Kind: kind, Message: e.GetMessage(), RetryAfter: after}
}
