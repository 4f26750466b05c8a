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
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
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
	StepTimeout   time.Duration // a handler's deadline per attempt unless its template sets one (5m)
	Lease         time.Duration // how long a claimed step stays this node's without renewal (30s)
	ShutdownGrace time.Duration // how long running steps may finish after shutdown begins (10s)
	ReapInterval  time.Duration // how often expired leases are returned to the queue (5s)
	Owner         string        // this node's name in leases (hostname-pid-random)
	// NoListen turns LISTEN/NOTIFY off, leaving polling alone: for
	// PostgreSQL behind a transaction-mode pooler, where LISTEN does not work.
	NoListen bool
	// Tracer makes a span of each step attempt, whose context the plugin
	// call carries (the global OpenTelemetry tracer, a no-op unless set up).
	Tracer trace.Tracer
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
	if c.Tracer == nil {
		c.Tracer = otel.Tracer("github.com/tasker-systems/tasker/core/engine")
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
	cfg      Config
	store    *store.Store
	reg      *registry.Registry
	log      *slog.Logger
	wake     chan struct{}
	inflight inflight
}

// New returns an engine over st and reg.
func New(st *store.Store, reg *registry.Registry, logger *slog.Logger, cfg Config) *Engine {
	cfg.applyDefaults()
	return &Engine{cfg: cfg, store: st, reg: reg, log: logger, wake: make(chan struct{}, 1),
		inflight: inflight{steps: map[int64]*running{}}}
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
	id, created, err = e.store.CreateTask(ctx, store.NewTask{TemplateID: entry.ID, IdentityHash: identity,
		IdentityWindow: t.Identity.Window()}, req)
	if err != nil {
		return 0, false, err
	}
	if !created {
		e.log.Info("request matched an existing task; no new task created", "task_id", id, "template", t.Key())
		return id, false, nil
	}
	e.log.Info("task created", "task_id", id, "template", t.Key(), "steps", len(t.Steps))
	e.Wake()
	return id, true, nil
}

// Wake makes the loop look for ready steps now instead of at its next poll.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
