// Package engine runs tasks: it loads templates into the registry and the
// database, creates tasks, and drives the loop claim -> execute -> complete or
// fail with a bounded number of concurrent workers. Decisions about readiness,
// retries and state are the SQL functions'; the engine only carries them out.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
)

// DefaultWorkers is how many steps a node runs at once unless configured:
// as many as I/O-bound handlers keep busy (a handler waiting 50 ms on a
// remote call lets 128 workers finish 2,560 steps/s), and enough for the
// completer's batches to fill under load (a burn-down of no-op steps
// drained 2,200 steps/s at 32 workers, 3,300 at 128). Handlers that must
// not run that many at once set a limit of their own.
const DefaultWorkers = 128

// Config tunes the loop. Zero values take the defaults in parentheses.
type Config struct {
	Workers       int           // steps run at once on this node (DefaultWorkers)
	PollInterval  time.Duration // how often to look for ready steps when nothing wakes the loop (250ms)
	StepTimeout   time.Duration // a handler's deadline per attempt unless its template sets one (5m)
	Lease         time.Duration // how long a claimed step stays this node's without renewal (30s)
	ShutdownGrace time.Duration // how long running steps may finish after shutdown begins (10s)
	ReapInterval  time.Duration // how often expired leases are returned to the queue (5s)
	Owner         string        // this node's name in leases (hostname-pid-random)
	// NoListen turns LISTEN/NOTIFY off, leaving polling alone: for
	// PostgreSQL behind a transaction-mode pooler, where LISTEN does not work.
	NoListen bool
	// Tracer makes a span of each task's creation (the root of the task's
	// trace, stored with the task as its traceparent) and of each step
	// attempt, a child of it, whose context the plugin call carries (the
	// global OpenTelemetry tracer, a no-op unless set up).
	Tracer trace.Tracer
	// Metrics receives counts and durations (nothing records them when nil).
	Metrics Metrics
}

// Metrics receives the engine's measurements; *telemetry.Metrics is one.
// Each call must be cheap: they sit on the path of every step.
type Metrics interface {
	TaskCreated(ctx context.Context)
	Claimed(ctx context.Context, d time.Duration)
	StepStarted(ctx context.Context, handler string)
	StepCompleted(ctx context.Context, handler string, d time.Duration)
	StepFailed(ctx context.Context, handler string, permanent, retried bool, d time.Duration)
}

type noMetrics struct{}

func (noMetrics) TaskCreated(context.Context)                                   {}
func (noMetrics) Claimed(context.Context, time.Duration)                        {}
func (noMetrics) StepStarted(context.Context, string)                           {}
func (noMetrics) StepCompleted(context.Context, string, time.Duration)          {}
func (noMetrics) StepFailed(context.Context, string, bool, bool, time.Duration) {}

func (c *Config) applyDefaults() {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
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
	if c.Tracer == nil {
		c.Tracer = otel.Tracer("github.com/tasker-systems/tasker/core/engine")
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.ReapInterval <= 0 {
		c.ReapInterval = 5 * time.Second
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
}

// Engine runs the steps of tasks. Create it with New, load templates, then Run.
type Engine struct {
	cfg       Config
	store     *store.Store
	reg       *registry.Registry
	log       *slog.Logger
	wake      chan struct{}
	inflight  inflight
	completer *completer
	creator   *creator
	// eager carries the steps the completer and the creator claimed to the
	// loop; stopping and saturated are the loop's answers to them (see
	// completer).
	eager     chan []core.StepRequest
	stopping  atomic.Bool
	saturated atomic.Pointer[[]string]
	// idle is the loop's free workers, for the creator's claims (0 while
	// the loop does not run); acceptEager, under eagerMu, says whether the
	// loop still takes the creator's claims (see handEager).
	idle        atomic.Int64
	eagerMu     sync.Mutex
	acceptEager bool
}

// New returns an engine over st and reg.
func New(st *store.Store, reg *registry.Registry, logger *slog.Logger, cfg Config) *Engine {
	cfg.applyDefaults()
	e := &Engine{cfg: cfg, store: st, reg: reg, log: logger, wake: make(chan struct{}, 1),
		inflight: inflight{steps: map[int64]*running{}}, eager: make(chan []core.StepRequest, cfg.Workers)}
	e.completer = newCompleter(st, cfg, e.claimEagerly, e.handEager, e.Wake)
	e.creator = &creator{store: st, owner: cfg.Owner, lease: cfg.Lease, claimFor: e.claimForCreation,
		hand: e.handEager, wake: e.Wake}
	return e
}

// claimForCreation tells the creator how many steps to claim with a batch
// of tasks: one per task, as far as the loop has idle workers; none before
// it runs or once shutdown began. A claim as large as the idle workers made
// the creating transactions of a busy node long enough to slow its
// creations by a third. Those it claims count as taken until the loop
// looks again.
func (e *Engine) claimForCreation(tasks int) (int, []string) {
	if e.stopping.Load() {
		return 0, nil
	}
	n := 0
	for {
		idle := e.idle.Load()
		n = int(min(idle, int64(tasks)))
		if n <= 0 || e.idle.CompareAndSwap(idle, idle-int64(n)) {
			break
		}
	}
	if n <= 0 {
		return 0, nil
	}
	return n, e.excluded()
}

// handEager gives the loop steps the completer or the creator claimed. The
// creator runs in request goroutines, outside the loop's shutdown order, so
// once the loop stopped taking them (or with a full channel) they go back
// to the queue.
func (e *Engine) handEager(ctx context.Context, steps []core.StepRequest) {
	e.eagerMu.Lock()
	taken := false
	if e.acceptEager {
		// Held from now on: a cancellation that arrives before a worker takes them reaches them.
		e.inflight.hold(steps)
		select {
		case e.eager <- steps:
			taken = true
		default:
		}
	}
	e.eagerMu.Unlock()
	if !taken {
		e.handBackAll(ctx, steps)
	}
}

// claimEagerly tells the completer whether to claim with its batch (not
// once shutdown began) and which handlers to leave out.
func (e *Engine) claimEagerly() (bool, []string) {
	if e.stopping.Load() {
		return false, nil
	}
	return true, e.excluded()
}

// excluded are the handlers at their concurrency limit on this node, as
// the loop last saw them: eager claims leave their steps out.
func (e *Engine) excluded() []string {
	if p := e.saturated.Load(); p != nil {
		return *p
	}
	return nil
}

// Owner is this node's name in step leases.
func (e *Engine) Owner() string { return e.cfg.Owner }

// LoadTemplates parses, validates and registers each source. A template that
// fails is logged with the reason and skipped, so one bad file does not stop
// the node; the error returned joins those failures for callers that care.
// A template whose key is already registered with the same definition (the
// same file loaded again, or two versions of a plugin shipping one template
// version) is skipped quietly; with a different definition it is refused,
// and the registered one stays in force, in memory and in the database.
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
	if old, ok := e.reg.Template(t.Key()); ok {
		_, digest, err := t.Definition()
		if err != nil {
			return err
		}
		if _, oldDigest, err := old.Template.Definition(); err != nil || oldDigest != digest {
			return fmt.Errorf("template %s from %s is already registered from %s with a different definition; give it a new version",
				t.Key(), src.Origin, old.Origin)
		}
		e.log.Debug("task template already loaded; skipped", "template", t.Key(), "origin", src.Origin, "loaded_from", old.Origin)
		return nil
	}
	schema, err := t.CompileSchema() // ParseTemplate compiled it once already; this cannot fail
	if err != nil {
		return fmt.Errorf("template %s (%s): %w", t.Key(), src.Origin, err)
	}
	id, err := e.store.RegisterTemplate(ctx, t)
	if err != nil {
		return err
	}
	if err := e.reg.AddTemplate(registry.Entry{Template: t, Schema: schema, ID: id, Origin: src.Origin}, false); err != nil {
		return err
	}
	e.log.Info("task template loaded", "template", t.Key(), "steps", len(t.Steps), "origin", src.Origin)
	e.publish(ctx, "template.registered", map[string]any{"namespace": t.Namespace, "name": t.Name, "version": t.Version,
		"template_id": id, "steps": len(t.Steps), "origin": src.Origin})
	return nil
}

// CreateTask creates a task from the template the request names, or returns
// the existing task of the same identity (created false), and wakes the
// loop. Errors: an unknown template wraps core.ErrNotFound; a context that
// fails the template's schema is a *core.ContextError; a request the
// template cannot serve (a missing idempotency key) is a *core.RequestError.
func (e *Engine) CreateTask(ctx context.Context, req core.TaskRequest) (id int64, created bool, err error) {
	entry, err := e.reg.Lookup(req.Namespace, req.Name, req.Version)
	if err != nil {
		return 0, false, err
	}
	t := entry.Template
	if entry.Schema != nil {
		if req.Context, err = entry.Schema.Apply(t.Key(), req.Context); err != nil {
			return 0, false, err
		}
	}
	identity, err := t.TaskIdentity(req.Context, req.IdempotencyKey)
	if err != nil {
		return 0, false, &core.RequestError{Message: err.Error()}
	}
	// The root of the task's trace: its context is stored with the task and
	// becomes the parent of every step attempt's span, on any node.
	ctx, span := e.cfg.Tracer.Start(ctx, "task "+t.Key(), trace.WithAttributes(
		attribute.String("tasker.namespace", t.Namespace), attribute.String("tasker.task_name", t.Name),
		attribute.String("tasker.task_version", t.Version)))
	defer span.End()
	if req.CorrelationID != "" {
		span.SetAttributes(attribute.String("tasker.correlation_id", req.CorrelationID))
	}
	req.TraceParent = traceParent(ctx)
	res, err := e.creator.create(ctx, store.Creation{NewTask: store.NewTask{TemplateID: entry.ID, IdentityHash: identity,
		IdentityWindow: t.Identity.Window()}, Request: req})
	id, created = res.ID, res.Created
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return 0, false, err
	}
	span.SetAttributes(attribute.Int64("tasker.task_id", id), attribute.Bool("tasker.created", created))
	log := e.log
	if req.CorrelationID != "" {
		log = log.With("correlation_id", req.CorrelationID)
	}
	if !created {
		log.Info("request matched an existing task; no new task created", "task_id", id, "template", t.Key())
		return id, false, nil
	}
	e.cfg.Metrics.TaskCreated(ctx)
	log.Info("task created", "task_id", id, "template", t.Key(), "steps", len(t.Steps))
	return id, true, nil
}

// traceParent is the W3C traceparent of the span in ctx ("" without one).
func traceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// withTraceParent makes the span context of a stored traceparent the
// remote parent of ctx's next span.
func withTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// Wake makes the loop look for ready steps now instead of at its next poll.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
