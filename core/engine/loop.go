package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// Run claims and executes steps until ctx is cancelled, then lets running
// steps finish for ShutdownGrace, cancels the rest and hands them back to the
// queue without charging their attempt.
func (e *Engine) Run(ctx context.Context) error {
	e.log.Info("engine started", "owner", e.cfg.Owner, "workers", e.cfg.Workers, "listen", !e.cfg.NoListen)
	e.publish(ctx, "engine.started", map[string]any{"owner": e.cfg.Owner, "workers": e.cfg.Workers})
	// Handlers run under their own context so that shutdown can give them a
	// grace period instead of cutting them off the moment ctx ends.
	handlerCtx, cancelHandlers := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelHandlers(errShuttingDown)
	if !e.cfg.NoListen {
		go e.listen(ctx)
	}
	// The completer stops only after drain: steps finishing during shutdown are recorded too.
	stopCompleter := make(chan struct{})
	completerDone := make(chan struct{})
	go func() {
		defer close(completerDone)
		e.completer.run(context.WithoutCancel(ctx), stopCompleter)
	}()
	defer func() { close(stopCompleter); <-completerDone }()

	done := make(chan finished, e.cfg.Workers)
	running := 0
	// Limits are per handler name (see registry.Limits) and read again
	// before each claim, so handlers added by a plugin reload bring theirs.
	var limits map[string]int
	byHandler := map[string]int{} // running steps of handlers with a limit
	poll := time.NewTicker(e.cfg.PollInterval)
	defer poll.Stop()
	reap := time.NewTicker(e.cfg.ReapInterval)
	defer reap.Stop()
	renew := time.NewTicker(e.cfg.Lease / 3)
	defer renew.Stop()

	// A claim runs when there may be work: after a wake-up (a notification,
	// the poll) or a claim that filled every free worker. A worker freeing
	// up alone is no reason: claims that find nothing cost as much as those
	// that do, and with many workers they were most of the database's load.
	mayHaveWork := true
	e.eagerMu.Lock()
	e.acceptEager = true
	e.eagerMu.Unlock()
	// queued are steps the completer (or the creator) claimed with its
	// batches, waiting for workers to free up.
	var queued []core.StepRequest
	launch := func(s core.StepRequest) {
		stepCtx, cancel := context.WithCancelCause(handlerCtx)
		if cause := e.inflight.start(s.StepID, s.TaskID, cancel); cause != nil {
			// Cancelled while it waited for a worker: the database already says what became of it.
			cancel(cause)
			e.log.Info("step not started: "+cause.Error(), "task_id", s.TaskID, "step_id", s.StepID, "step", s.StepName)
			return
		}
		counted := false
		if limit := limits[s.Handler]; limit > 0 {
			if byHandler[s.Handler] >= limit {
				// A batch brought more than the limit leaves room for: hand it back uncharged.
				cancel(nil)
				e.handBack(ctx, s, fmt.Sprintf("handler %s is at its concurrency limit of %d on this node", s.Handler, limit), 0)
				return
			}
			byHandler[s.Handler]++
			counted = true
		}
		running++
		go func() {
			defer func() { done <- finished{s.Handler, counted} }()
			defer e.inflight.remove(s.StepID)
			defer cancel(nil)
			e.execute(stepCtx, s)
		}()
	}
	for {
		limits = e.reg.Limits()
		for len(queued) > 0 && running < e.cfg.Workers && ctx.Err() == nil {
			launch(queued[0])
			queued = queued[1:]
		}
		if free := e.cfg.Workers - running - len(queued); free > 0 && mayHaveWork && ctx.Err() == nil {
			claimStart := time.Now()
			steps, err := e.store.ClaimSteps(ctx, e.cfg.Owner, free, e.cfg.Lease, saturated(limits, byHandler)...)
			e.cfg.Metrics.Claimed(ctx, time.Since(claimStart))
			if err != nil && ctx.Err() == nil {
				e.log.Error("claiming ready steps failed; will try again", "error", err)
			}
			for _, s := range steps {
				launch(s)
			}
			// A full batch: more may be ready, so claim again once a worker frees up.
			mayHaveWork = len(steps) == free || err != nil
		}
		sat := saturated(limits, byHandler)
		e.saturated.Store(&sat)
		e.idle.Store(int64(max(0, e.cfg.Workers-running-len(queued))))
		select {
		case <-ctx.Done():
			e.stopping.Store(true)
			e.idle.Store(0)
			e.eagerMu.Lock()
			e.acceptEager = false // the creator's claims go back to the queue from now on
			e.eagerMu.Unlock()
			e.handBackAll(ctx, queued)
			e.drain(running, done, func() { cancelHandlers(errShuttingDown) })
			// Claims handed over before acceptEager turned false are in the
			// channel; later ones went back to the queue (handEager).
			for len(e.eager) > 0 {
				e.handBackAll(ctx, <-e.eager)
			}
			e.log.Info("engine stopped", "owner", e.cfg.Owner)
			e.publish(ctx, "engine.stopped", map[string]any{"owner": e.cfg.Owner})
			return nil
		case f := <-done:
			running--
			if f.counted {
				byHandler[f.handler]--
				mayHaveWork = true // its handler's steps, left out while it was at its limit, may be waiting
			}
		case steps := <-e.eager:
			queued = append(queued, steps...)
		case <-e.wake:
			mayHaveWork = true
		case <-poll.C:
			mayHaveWork = true
		case <-renew.C:
			queued = e.renewLeases(ctx, queued)
		case <-reap.C:
			if n, err := e.store.ReapExpiredLeases(ctx, 100); err != nil && ctx.Err() == nil {
				e.log.Error("returning expired leases to the queue failed", "error", err)
			} else if n > 0 {
				e.log.Warn("steps whose node stopped renewing their lease were failed and will be retried", "steps", n)
			}
		}
	}
}

// finished is a step that finished: its handler, and whether the loop
// counted it against the handler's concurrency limit.
type finished struct {
	handler string
	counted bool
}

// saturated lists the handlers whose limit is reached on this node.
func saturated(limits, running map[string]int) []string {
	var out []string
	for h, limit := range limits {
		if running[h] >= limit {
			out = append(out, h)
		}
	}
	return out
}

// handBack returns a claimed step to the queue without charging its
// attempt, to run again after delay.
func (e *Engine) handBack(ctx context.Context, s core.StepRequest, reason string, delay time.Duration) {
	e.inflight.remove(s.StepID)
	if _, err := e.store.ReleaseStep(ctx, s.StepID, e.cfg.Owner, reason, delay); err != nil && ctx.Err() == nil {
		e.log.Error("could not hand a step back; it will be retried when its lease expires",
			"task_id", s.TaskID, "step_id", s.StepID, "error", err)
	}
}

// renewLeases extends the leases of the steps running or queued here and
// cancels those this node no longer holds, so that two nodes never keep
// running one step; it returns queued without the steps it lost.
func (e *Engine) renewLeases(ctx context.Context, queued []core.StepRequest) []core.StepRequest {
	ids := e.inflight.ids() // queued steps are held there too
	if len(ids) == 0 {
		return queued
	}
	lost, err := e.store.ExtendLeases(ctx, e.cfg.Owner, ids, e.cfg.Lease)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("renewing step leases failed; will try again", "steps", len(ids), "error", err)
		}
		return queued
	}
	for _, id := range lost {
		if e.inflight.cancelStep(id, errLeaseLost) {
			e.log.Warn("step lease lost; cancelling its handler", "step_id", id)
		}
	}
	// A queued step whose lease was lost (an operator cancelled it, say) is not started.
	return slices.DeleteFunc(queued, func(s core.StepRequest) bool {
		if slices.Contains(lost, s.StepID) {
			e.inflight.remove(s.StepID)
			return true
		}
		return false
	})
}

// listen wakes the loop on new work and cancels steps an operator cancelled,
// reconnecting with backoff while polling carries on.
func (e *Engine) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := e.store.Listen(ctx, []string{store.ChannelWork, store.ChannelCancel},
			func() { backoff = 100 * time.Millisecond },
			func(channel, payload string) {
				if channel == store.ChannelWork {
					// This node's own completions claim their follow-up steps
					// in the same transaction, and wake the loop themselves
					// when more may be ready (see completer).
					if payload != e.cfg.Owner {
						e.Wake()
					}
					return
				}
				e.cancelFromNotification(payload)
			})
		if err == nil || ctx.Err() != nil {
			return
		}
		e.log.Warn("listening for work notifications failed; polling meanwhile", "error", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (e *Engine) cancelFromNotification(payload string) {
	kind, idText, _ := strings.Cut(payload, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		e.log.Warn("ignoring a malformed cancel notification", "payload", payload)
		return
	}
	switch kind {
	case "task":
		if n := e.inflight.cancelTask(id, errCancelled); n > 0 {
			e.log.Info("task cancelled: cancelling its running steps", "task_id", id, "steps", n)
		}
	case "step":
		if e.inflight.cancelStep(id, errCancelled) {
			e.log.Info("step cancelled: cancelling its handler", "step_id", id)
		}
	default:
		e.log.Warn("ignoring a malformed cancel notification", "payload", payload)
	}
}

// drain waits for running steps, cancelling them when the grace period
// ends.
func (e *Engine) drain(running int, done <-chan finished, cancelHandlers func()) {
	if running == 0 {
		return
	}
	e.log.Info("waiting for running steps to finish", "steps", running, "grace", e.cfg.ShutdownGrace.String())
	grace := time.NewTimer(e.cfg.ShutdownGrace)
	defer grace.Stop()
	for running > 0 {
		select {
		case <-done:
			running--
		case <-grace.C:
			e.log.Warn("grace period over: cancelling running steps; they go back to the queue", "steps", running)
			cancelHandlers()
		}
	}
}

// handBackAll returns claimed steps that will not start here to the queue,
// uncharged, even while ctx ends.
func (e *Engine) handBackAll(ctx context.Context, steps []core.StepRequest) {
	if len(steps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	for _, s := range steps {
		e.handBack(ctx, s, "node shutting down", 0)
	}
}

// execute runs one claimed step and records its outcome.
func (e *Engine) execute(ctx context.Context, s core.StepRequest) {
	log := e.log.With("task_id", s.TaskID, "step_id", s.StepID, "step", s.StepName, "attempt", s.Attempt)
	if s.CorrelationID != "" {
		log = log.With("correlation_id", s.CorrelationID)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = e.cfg.StepTimeout
	}
	// A child of the task's root span (its stored traceparent): one trace per task.
	ctx, span := e.cfg.Tracer.Start(withTraceParent(ctx, s.TraceParent), "step "+s.StepName, trace.WithAttributes(
		attribute.Int64("tasker.task_id", s.TaskID), attribute.Int64("tasker.step_id", s.StepID),
		attribute.String("tasker.handler", s.Handler), attribute.Int("tasker.attempt", s.Attempt)))
	defer span.End()
	if s.CorrelationID != "" {
		span.SetAttributes(attribute.String("tasker.correlation_id", s.CorrelationID))
	}
	var results json.RawMessage
	var err error
	published := func() []core.PublishedEvent { return nil }
	start := time.Now()
	if h, version, lerr := e.reg.Handler(s.Handler, s.HandlerVersion); lerr != nil {
		// Another node may have it; this one must not use up the step's attempts.
		err = &core.StepError{Kind: core.Retryable, NotRun: true, RetryAfter: 5 * time.Second,
			Message: fmt.Sprintf("%v on node %s", lerr, e.cfg.Owner)}
	} else {
		log = log.With("handler_version", version)
		e.cfg.Metrics.StepStarted(ctx, s.Handler)
		stepCtx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
		stepCtx, published = core.WithEventSink(stepCtx)
		results, err = h.Execute(stepCtx, s)
		if err != nil && errors.Is(context.Cause(stepCtx), errTimeout) {
			err = &core.StepError{Kind: core.Retryable, Message: fmt.Sprintf("step timed out after %s: %v", timeout, err)}
		}
		cancel()
	}
	took := time.Since(start)
	elapsed := took.Round(time.Microsecond).String()
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}

	// Outcomes are recorded even while shutting down: a finished step must not be lost.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	cause := context.Cause(ctx)
	var failure *core.StepError
	if err != nil {
		failure = core.AsStepError(err)
	}
	var evErr *core.StepError
	if err == nil {
		evErr = e.checkEvents(s, published())
	}
	switch {
	case err != nil && errors.Is(cause, errShuttingDown):
		// Interrupted, not failed: hand it back uncharged.
		e.handBack(rctx, s, "node shutting down", 0)
		log.Info("step interrupted by shutdown and handed back to the queue")
	case err != nil && (errors.Is(cause, errCancelled) || errors.Is(cause, errLeaseLost)):
		// The step is no longer ours to record: the database already says what happened.
		log.Info("step handler stopped", "reason", cause.Error(), "duration", elapsed)
	case err != nil && failure.NotRun:
		// The handler could not start: wait for it without using up an attempt.
		delay := max(failure.RetryAfter, time.Second)
		e.handBack(rctx, s, failure.Message, delay)
		log.Warn("handler unavailable; step deferred without using an attempt", "reason", failure.Message, "retry_in", delay.String())
	case err != nil:
		e.recordFailure(rctx, log, s, failure, took)
	case evErr != nil:
		// A published event the template does not declare, or whose payload its schema refuses.
		e.recordFailure(rctx, log, s, evErr, took)
	default:
		var taskStatus string
		var rerr error
		if events := published(); len(events) > 0 {
			taskStatus, rerr = e.store.CompleteStepWithEvents(rctx, s.StepID, e.cfg.Owner, results, events)
		} else {
			taskStatus, rerr = e.completer.complete(rctx, s.StepID, results)
		}
		switch {
		case rerr != nil:
			log.Error("could not record the step's success; it will be retried when its lease expires", "error", rerr)
		case taskStatus == "":
			log.Warn("step finished after its lease was lost; its result was discarded", "duration", elapsed)
		default:
			e.cfg.Metrics.StepCompleted(ctx, s.Handler, took)
			log.Info("step complete", "duration", elapsed)
			e.logTaskEnd(log, taskStatus)
		}
	}
}

func (e *Engine) recordFailure(ctx context.Context, log *slog.Logger, s core.StepRequest, failure *core.StepError, took time.Duration) {
	elapsed := took.Round(time.Microsecond).String()
	f, err := e.store.FailStep(ctx, s.StepID, e.cfg.Owner, failure)
	if err == nil && f.StepStatus != "" {
		e.cfg.Metrics.StepFailed(ctx, s.Handler, failure.Kind == core.Permanent, f.StepStatus == core.StepStatusWaitingForRetry, took)
	}
	switch {
	case err != nil:
		log.Error("could not record the step's failure; it will be retried when its lease expires", "error", err, "failure", failure.Message)
	case f.StepStatus == "":
		log.Warn("step failed after its lease was lost; the failure was discarded", "failure", failure.Message)
	case f.StepStatus == core.StepStatusWaitingForRetry:
		log.Warn("step failed; it will be retried", "kind", failure.Kind.String(), "error", failure.Message,
			"duration", elapsed, "retry_in", time.Until(*f.RetryAt).Round(time.Millisecond).String())
	default:
		log.Error("step failed for good", "kind", failure.Kind.String(), "error", failure.Message, "duration", elapsed)
		e.logTaskEnd(log, f.TaskStatus)
	}
}

// logTaskEnd logs a task's end on the logger of the step that ended it
// (task_id, step attributes and correlation id).
func (e *Engine) logTaskEnd(log *slog.Logger, status string) {
	switch status {
	case core.TaskStatusComplete:
		log.Info("task complete")
	case core.TaskStatusError:
		log.Error("task failed: a step failed for good and no other step can run")
	}
}
