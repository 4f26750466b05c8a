package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
	"github.com/tasker-systems/tasker/pluginsdk/wire"
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
// outcome is unknown. So is a call that runs out of Options.CallTimeout. A
// request or results over Options.MaxPayloadBytes fail permanently (the
// request is not sent). When ctx ends first, the returned error wraps
// ctx.Err().
func (ph *pluginHandler) Execute(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
	p, opts := ph.p, &ph.p.host.opts
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plugin %s: handler %q not called: %w", p.label, ph.name, err)
	}
	if n := requestBytes(req); n > opts.MaxPayloadBytes {
		return nil, &core.StepError{Kind: core.Permanent, Message: fmt.Sprintf("step input is %s; handler %q of plugin %s was not called",
			overLimit(n, opts.MaxPayloadBytes), ph.name, p.label)}
	}
	callCtx, callDeadline := ctx, time.Time{}
	if opts.CallTimeout > 0 {
		callDeadline = time.Now().Add(opts.CallTimeout)
		var cancel context.CancelFunc
		callCtx, cancel = context.WithDeadlineCause(ctx, callDeadline, errCallTimeout)
		defer cancel()
	}
	client, rpc, err := p.acquire(callCtx, ph.name)
	if err != nil {
		if callTimedOut(ctx, callCtx, callDeadline) {
			return nil, ph.timedOut("handler %q was not called: the plugin was still restarting")
		}
		return nil, err
	}
	resp, err := rpc.Execute(wire.InjectTrace(callCtx), toProto(ph.name, req))
	if err != nil {
		if ctxErr := ended(ctx); ctxErr != nil {
			return nil, fmt.Errorf("plugin %s: call to handler %q abandoned: %w", p.label, ph.name, ctxErr)
		}
		if callTimedOut(ctx, callCtx, callDeadline) {
			return nil, ph.timedOut("the call to handler %q was abandoned")
		}
		st := status.Convert(err)
		if st.Code() == codes.ResourceExhausted { // a message over gRPC's size limit
			return nil, &core.StepError{Kind: core.Permanent, Message: fmt.Sprintf(
				"the call to handler %q of plugin %s carried a message over the gRPC limit of %s (the plugin payload limit is %s, plugins.max_payload_bytes): %s",
				ph.name, p.label, formatBytes(wire.MaxMessageBytes), formatBytes(opts.MaxPayloadBytes), st.Message())}
		}
		msg := fmt.Sprintf("plugin %s failed during the call to handler %q: %s: %s", p.label, ph.name, st.Code(), st.Message())
		return nil, p.brokenCall(ctx, client, st.Code(), msg)
	}
	if e := resp.GetError(); e != nil {
		if callTimedOut(ctx, callCtx, callDeadline) {
			// The handler most likely gave up on the deadline that
			// gRPC passed on to it; say why.
			return nil, ph.timedOut("the call to handler %q was abandoned")
		}
		return nil, fromProtoError(e)
	}
	results := resp.GetResultsJson()
	if n := len(results); n > opts.MaxPayloadBytes {
		return nil, &core.StepError{Kind: core.Permanent, Message: fmt.Sprintf("plugin %s: the results of handler %q are %s",
			p.label, ph.name, overLimit(n, opts.MaxPayloadBytes))}
	}
	if len(results) == 0 {
		results = []byte("null")
	}
	if !json.Valid(results) {
		return nil, &core.StepError{
			Kind:    core.Permanent,
			Message: fmt.Sprintf("plugin %s: handler %q returned results that are not valid JSON", p.label, ph.name),
		}
	}
	if err := publishEvents(ctx, p.label, ph.name, resp.GetEvents(), opts.MaxPayloadBytes); err != nil {
		return nil, err
	}
	return json.RawMessage(results), nil
}

// errCallTimeout is the cause of a call context that ran out of
// Options.CallTimeout.
var errCallTimeout = errors.New("plugins.call_timeout expired")

// ended returns ctx.Err(), or context.DeadlineExceeded when ctx's deadline
// has passed although ctx has not noticed yet (gRPC may fail the call with
// DeadlineExceeded first).
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// callTimedOut reports whether a call ran out of Options.CallTimeout
// (callDeadline, zero without one) rather than the step's own deadline.
// The plugin receives the deadline and may answer with a handler error as
// it passes, before callCtx notices; the clock decides then.
func callTimedOut(ctx, callCtx context.Context, callDeadline time.Time) bool {
	if callDeadline.IsZero() || ended(ctx) != nil {
		return false
	}
	if d, ok := ctx.Deadline(); ok && !d.After(callDeadline) {
		return false // the step's deadline, not the call's
	}
	return context.Cause(callCtx) == errCallTimeout || !time.Now().Before(callDeadline)
}

// timedOut is the failure of a call that ran out of Options.CallTimeout;
// what, a format with one %q for the handler name, says what became of it.
func (ph *pluginHandler) timedOut(what string) *core.StepError {
	return &core.StepError{Kind: core.Retryable, Message: fmt.Sprintf("plugin %s did not answer within %s (plugins.call_timeout); "+what,
		ph.p.label, ph.p.host.opts.CallTimeout, ph.name)}
}

// requestBytes is the size of a request's JSON payload: its context,
// handler config, inputs, and dependency results with their step names.
func requestBytes(req core.StepRequest) int {
	n := len(req.Context) + len(req.HandlerConfig) + len(req.Inputs)
	for name, raw := range req.DependencyResults {
		n += len(name) + len(raw)
	}
	return n
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
		InputsJson:            req.Inputs,
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

// waitError is the failure of a call made while a relaunch waits. why is
// the reason the last relaunch failed, if it did.
func (p *proc) waitError(wait time.Duration, crashes int, why error, handler string) *core.StepError {
	wait = roundWait(wait)
	msg := fmt.Sprintf("plugin %s crashed %d times in a row; restarting in %s; handler %q was not called",
		p.label, crashes, wait, handler)
	if why != nil {
		msg = fmt.Sprintf("plugin %s could not be restarted: %v; next attempt in %s; handler %q was not called",
			p.label, why, wait, handler)
	}
	// NotRun: waiting for a plugin must not use up the step's attempts.
	return &core.StepError{Kind: core.Retryable, Message: msg, RetryAfter: wait, NotRun: true}
}

// shuttingDown is the failure of a call made after Close.
func (p *proc) shuttingDown(handler string) *core.StepError {
	return &core.StepError{
		Kind:    core.Retryable,
		Message: fmt.Sprintf("plugin %s: the host is shutting down; handler %q was not called", p.label, handler),
		NotRun:  true,
	}
}

// roundWait rounds a wait up to the millisecond, or to the second from one
// second on, so that messages read "restarting in 4s".
func roundWait(d time.Duration) time.Duration {
	unit := time.Millisecond
	if d >= time.Second {
		unit = time.Second
	}
	return (d + unit - 1).Truncate(unit)
}

// publishEvents hands the custom events a handler published to the engine
// (core.PublishEvent), which writes them with the step's completion.
func publishEvents(ctx context.Context, label, handler string, events []*pluginv1.PublishedEvent, limit int) error {
	size := 0
	for _, e := range events {
		payload := e.GetPayloadJson()
		size += len(payload)
		if size > limit {
			return &core.StepError{Kind: core.Permanent, Message: fmt.Sprintf("plugin %s: the events published by handler %q are %s",
				label, handler, overLimit(size, limit))}
		}
		if len(payload) > 0 && !json.Valid(payload) {
			return &core.StepError{Kind: core.Permanent, Message: fmt.Sprintf("plugin %s: handler %q published event %q with a payload that is not valid JSON",
				label, handler, e.GetName())}
		}
		if err := core.PublishEvent(ctx, e.GetName(), payload); err != nil && !errors.Is(err, core.ErrNoEventSink) {
			return &core.StepError{Kind: core.Permanent, Message: fmt.Sprintf("plugin %s: handler %q: %v", label, handler, err)}
		}
	}
	return nil
}
