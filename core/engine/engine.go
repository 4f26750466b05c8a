// Package engine runs tasks: it loads templates into the registry and the
// database, creates tasks, and drives the loop claim -> execute -> complete or
// fail with a bounded number of concurrent workers. Decisions about readiness,
// retries and state are the SQL functions'; the engine only carries them out.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
)

// Config tunes the loop. Zero values take the defaults in parentheses.
type Config struct {
	Workers       int           // steps run at once on this node (4)
	PollInterval  time.Duration // how often to look for ready steps when nothing wakes the loop (250ms)
	StepTimeout   time.Duration // a handler's deadline per attempt (5m)
	ShutdownGrace time.Duration // how long running steps may finish after shutdown begins (10s)
	ReapInterval  time.Duration // how often expired leases are returned to the queue (15s)
	Owner         string        // this node's name in leases (hostname-pid-random)
}

func (c *Config) applyDefaults() {
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = 5 * time.Minute
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.ReapInterval <= 0 {
		c.ReapInterval = 15 * time.Second
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
}

// lease is how long a claimed step stays ours: the handler's deadline plus
// time to report the outcome.
func (c *Config) lease() time.Duration { return c.StepTimeout + 30*time.Second }

// Engine runs the steps of tasks. Create it with New, load templates, then Run.
type Engine struct {
	cfg   Config
	store *store.Store
	reg   *registry.Registry
	log   *slog.Logger
	wake  chan struct{}
}

// New returns an engine over st and reg.
func New(st *store.Store, reg *registry.Registry, logger *slog.Logger, cfg Config) *Engine {
	cfg.applyDefaults()
	return &Engine{cfg: cfg, store: st, reg: reg, log: logger, wake: make(chan struct{}, 1)}
}

// Owner is this node's name in step leases.
func (e *Engine) Owner() string { return e.cfg.Owner }

// LoadTemplates parses, validates and registers each source. A template that
// fails is logged with the reason and skipped, so one bad file does not stop
// the node; the error returned joins those failures for callers that care.
func (e *Engine) LoadTemplates(ctx context.Context, sources []core.TemplateSource) error {
	var errs []error
	for _, src := range sources {
		if err := e.loadTemplate(ctx, src); err != nil {
			e.log.Error("task template refused", "origin", src.Origin, "error", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) loadTemplate(ctx context.Context, src core.TemplateSource) error {
	t, err := core.ParseTemplate(src)
	if err != nil {
		return err
	}
	if err := e.reg.CheckHandlers(t); err != nil {
		return fmt.Errorf("template %s (%s): %w", t.Key(), src.Origin, err)
	}
	id, err := e.store.RegisterTemplate(ctx, t)
	if err != nil {
		return err
	}
	if err := e.reg.AddTemplate(registry.Entry{Template: t, ID: id, Origin: src.Origin}, false); err != nil {
		return err
	}
	e.log.Info("task template loaded", "template", t.Key(), "steps", len(t.Steps), "origin", src.Origin)
	return nil
}

// CreateTask creates a task from the template the request names and wakes
// the loop. An unknown template is an error wrapping core.ErrNotFound.
func (e *Engine) CreateTask(ctx context.Context, req core.TaskRequest) (int64, error) {
	entry, err := e.reg.Lookup(req.Namespace, req.Name, req.Version)
	if err != nil {
		return 0, err
	}
	id, err := e.store.CreateTask(ctx, entry.ID, req)
	if err != nil {
		return 0, err
	}
	e.log.Info("task created", "task_id", id, "template", entry.Template.Key(), "steps", len(entry.Template.Steps))
	e.Wake()
	return id, nil
}

// Wake makes the loop look for ready steps now instead of at its next poll.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run claims and executes steps until ctx is cancelled, then lets running
// steps finish for ShutdownGrace, cancels the rest and hands them back to the
// queue without charging their attempt.
func (e *Engine) Run(ctx context.Context) error {
	e.log.Info("engine started", "owner", e.cfg.Owner, "workers", e.cfg.Workers)
	// Handlers run under their own context so that shutdown can give them a
	// grace period instead of cutting them off the moment ctx ends.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	done := make(chan struct{}, e.cfg.Workers)
	running := 0
	poll := time.NewTicker(e.cfg.PollInterval)
	defer poll.Stop()
	reap := time.NewTicker(e.cfg.ReapInterval)
	defer reap.Stop()

	for {
		if free := e.cfg.Workers - running; free > 0 && ctx.Err() == nil {
			steps, err := e.store.ClaimSteps(ctx, e.cfg.Owner, free, e.cfg.lease())
			if err != nil && ctx.Err() == nil {
				e.log.Error("claiming ready steps failed; will try again", "error", err)
			}
			for _, s := range steps {
				running++
				go func() { e.execute(handlerCtx, s); done <- struct{}{} }()
			}
			if len(steps) == free {
				// A full batch: more may be ready, so claim again once a worker frees up.
				e.Wake()
			}
		}
		select {
		case <-ctx.Done():
			e.drain(running, done, cancelHandlers)
			e.log.Info("engine stopped", "owner", e.cfg.Owner)
			return nil
		case <-done:
			running--
		case <-e.wake:
		case <-poll.C:
		case <-reap.C:
			if n, err := e.store.ReapExpiredLeases(ctx, 100); err != nil && ctx.Err() == nil {
				e.log.Error("returning expired leases to the queue failed", "error", err)
			} else if n > 0 {
				e.log.Warn("returned steps with expired leases to the queue", "steps", n)
			}
		}
	}
}

// drain waits for running steps, cancelling them when the grace period ends.
func (e *Engine) drain(running int, done <-chan struct{}, cancelHandlers context.CancelFunc) {
	if running == 0 {
		return
	}
	e.log.Info("waiting for running steps to finish", "steps", running, "grace", e.cfg.ShutdownGrace)
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

// execute runs one claimed step and records its outcome.
func (e *Engine) execute(ctx context.Context, s core.StepRequest) {
	log := e.log.With("task_id", s.TaskID, "step_id", s.StepID, "step", s.StepName, "attempt", s.Attempt)
	h, ok := e.reg.Handler(s.Handler)
	var results json.RawMessage
	var err error
	start := time.Now()
	if !ok {
		err = &core.StepError{Kind: core.Retryable, Message: fmt.Sprintf("handler %q is not loaded on node %s", s.Handler, e.cfg.Owner)}
	} else {
		stepCtx, cancel := context.WithTimeout(ctx, e.cfg.StepTimeout)
		results, err = h.Execute(stepCtx, s)
		if errors.Is(stepCtx.Err(), context.DeadlineExceeded) && err != nil {
			err = &core.StepError{Kind: core.Retryable, Message: fmt.Sprintf("step timed out after %s: %v", e.cfg.StepTimeout, err)}
		}
		cancel()
	}
	elapsed := time.Since(start).Round(time.Microsecond).String()

	// Outcomes are recorded even while shutting down: a finished step must not be lost.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		// Cancelled by shutdown, not failed: hand it back uncharged.
		if _, rerr := e.store.ReleaseStep(rctx, s.StepID, e.cfg.Owner, "node shutting down"); rerr != nil {
			log.Error("could not hand an interrupted step back; its lease will expire and it will be retried", "error", rerr)
			return
		}
		log.Info("step interrupted by shutdown and handed back to the queue")
	case err != nil:
		e.recordFailure(rctx, log, s, core.AsStepError(err), elapsed)
	default:
		taskStatus, rerr := e.store.CompleteStep(rctx, s.StepID, e.cfg.Owner, results)
		switch {
		case rerr != nil:
			log.Error("could not record the step's success; it will be retried when its lease expires", "error", rerr)
		case taskStatus == "":
			log.Warn("step finished after its lease was lost; its result was discarded", "duration", elapsed)
		default:
			log.Info("step complete", "duration", elapsed)
			e.logTaskEnd(s.TaskID, taskStatus)
		}
	}
}

func (e *Engine) recordFailure(ctx context.Context, log *slog.Logger, s core.StepRequest, failure *core.StepError, elapsed string) {
	f, err := e.store.FailStep(ctx, s.StepID, e.cfg.Owner, failure)
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
		e.logTaskEnd(s.TaskID, f.TaskStatus)
	}
}

func (e *Engine) logTaskEnd(taskID int64, status string) {
	switch status {
	case core.TaskStatusComplete:
		e.log.Info("task complete", "task_id", taskID)
	case core.TaskStatusError:
		e.log.Error("task failed: a step failed for good and no other step can run", "task_id", taskID)
	}
}
