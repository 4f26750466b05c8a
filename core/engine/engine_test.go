package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// handlerFunc adapts a function to core.Handler: these tests are about the
// engine loop, so handlers run in-process; plugin processes are tested in
// package plugins and end to end.
type handlerFunc func(ctx context.Context, req core.StepRequest) (json.RawMessage, error)

func (f handlerFunc) Execute(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
	return f(ctx, req)
}

type bundle struct {
	ctx    context.Context
	store  *store.Store
	pool   *pgxpool.Pool
	reg    *registry.Registry
	engine *engine.Engine
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const template = `
name: pipeline
version: 1.0.0
step_templates:
  - {name: fetch, handler: fetch}
  - {name: charge, handler: charge, depends_on_step: fetch, retry_backoff_ms: 10, handler_config: {gateway: test}}
  - {name: notify, handler: notify, depends_on_step: charge, timeout_ms: 100}
`

func setup(t *testing.T, cfg engine.Config, handlers map[string]core.Handler) bundle {
	t.Helper()
	pool := pgtest.New(t)
	st := store.New(pool)
	reg := registry.New()
	require.NoError(t, reg.AddUnversioned(handlers))
	logs := &syncBuffer{}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	eng := engine.New(st, reg, slog.New(slog.NewJSONHandler(logs, nil)), cfg)
	ctx := context.Background()
	require.NoError(t, eng.LoadTemplates(ctx, []core.TemplateSource{{Origin: "test", YAML: []byte(template)}}))
	return bundle{ctx: ctx, store: st, pool: pool, reg: reg, engine: eng, logs: logs}
}

func (b bundle) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan struct{})
	go func() { _ = b.engine.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (b bundle) waitFor(t *testing.T, id int64, status string) *core.Task {
	t.Helper()
	var task *core.Task
	var err error
	ok := assert.Eventually(t, func() bool {
		// No require here: FailNow from Eventually's goroutine would hide the error.
		task, err = b.store.GetTask(b.ctx, id)
		return err == nil && task.Status == status
	}, 30*time.Second, 10*time.Millisecond)
	require.True(t, ok, "task %d never reached %s; it is %s (last error: %v); engine log:\n%s", id, status, describe(task), err, b.logs.String())
	return task
}

func TestEngineRunsWorkflowWithRetry(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, map[string]core.Handler{
		"fetch": handlerFunc(func(_ context.Context, req core.StepRequest) (json.RawMessage, error) {
			return json.RawMessage(fmt.Sprintf(`{"order": %s}`, req.Context)), nil
		}),
		"charge": handlerFunc(func(_ context.Context, req core.StepRequest) (json.RawMessage, error) {
			if req.Attempt == 1 {
				return nil, errors.New("gateway timed out")
			}
			return json.RawMessage(fmt.Sprintf(`{"charged": %s, "config": %s}`, req.DependencyResults["fetch"], req.HandlerConfig)), nil
		}),
		"notify": handlerFunc(func(_ context.Context, req core.StepRequest) (json.RawMessage, error) {
			return req.DependencyResults["charge"], nil
		}),
	})
	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline", Context: json.RawMessage(`{"id": 1}`)})
	require.NoError(t, err)

	task := b.waitFor(t, id, core.TaskStatusComplete)
	byName := map[string]core.Step{}
	for _, s := range task.Steps {
		byName[s.Name] = s
	}
	require.Equal(t, 1, byName["fetch"].Attempts)
	require.Equal(t, 2, byName["charge"].Attempts, "failed once, then succeeded")
	require.JSONEq(t, `{"charged": {"order": {"id": 1}}, "config": {"gateway": "test"}}`, string(byName["notify"].Results))
	require.Contains(t, b.logs.String(), `"msg":"step failed; it will be retried"`)
	require.Contains(t, b.logs.String(), fmt.Sprintf(`"msg":"task complete","task_id":%d`, id))
}

func TestEngineUnknownTemplate(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, map[string]core.Handler{"fetch": nil, "charge": nil, "notify": nil})
	_, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "nope"})
	require.ErrorIs(t, err, core.ErrNotFound)
}

func TestEngineRefusesTemplateWithMissingHandler(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, map[string]core.Handler{"fetch": nil, "charge": nil, "notify": nil})
	err := b.engine.LoadTemplates(b.ctx, []core.TemplateSource{{Origin: "x.yaml", YAML: []byte(`
name: other
version: 1.0.0
step_templates: [{name: a, handler: missing}]`)}})
	require.ErrorContains(t, err, `step "a" uses handler "missing", which no loaded plugin provides`)
	require.Contains(t, b.logs.String(), `"msg":"task template refused","origin":"x.yaml"`)
}

func TestEngineTimeoutCountsAsFailedAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{StepTimeout: 50 * time.Millisecond}, map[string]core.Handler{
		"fetch": handlerFunc(func(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
			if req.Attempt == 1 {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return json.RawMessage(`1`), nil
		}),
		"charge": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return nil, nil }),
		"notify": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) { return nil, nil }),
	})
	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	task := b.waitFor(t, id, core.TaskStatusComplete)
	require.Equal(t, 2, task.Steps[0].Attempts)
	require.Contains(t, b.logs.String(), "step timed out after 50ms")
}

func TestEngineShutdownHandsRunningStepsBack(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	b := setup(t, engine.Config{ShutdownGrace: 50 * time.Millisecond}, map[string]core.Handler{
		"fetch": handlerFunc(func(ctx context.Context, _ core.StepRequest) (json.RawMessage, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}),
		"charge": nil, "notify": nil,
	})
	stop := b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	<-started
	stop()

	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, core.StepStatusPending, task.Steps[0].Status, "handed back, not failed")
	require.Equal(t, 0, task.Steps[0].Attempts, "the interrupted attempt is not charged")
	require.Contains(t, b.logs.String(), "step interrupted by shutdown and handed back to the queue")
}

func ok(context.Context, core.StepRequest) (json.RawMessage, error) {
	return json.RawMessage(`true`), nil
}

// blockUntilCancelled reports each call on started and returns when its
// context ends.
func blockUntilCancelled(started chan<- int64) core.Handler {
	return handlerFunc(func(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
		started <- req.StepID
		<-ctx.Done()
		return nil, context.Cause(ctx)
	})
}

func TestEngineWakesOnNotifyFromAnotherWriter(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{PollInterval: time.Hour, ReapInterval: time.Hour, Lease: time.Hour}, map[string]core.Handler{
		"fetch": handlerFunc(ok), "charge": handlerFunc(ok), "notify": handlerFunc(ok),
	})
	b.run(t)
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), "engine started") }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // let the listener connect
	entry, err := b.reg.Lookup("", "pipeline", "")
	require.NoError(t, err)
	// Created behind the engine's back, as another node would: only NOTIFY can wake it.
	id, _, err := b.store.CreateTask(b.ctx, store.NewTask{TemplateID: entry.ID}, core.TaskRequest{})
	require.NoError(t, err)
	b.waitFor(t, id, core.TaskStatusComplete)
}

func TestEngineCancelsHandlerOnCancelNotification(t *testing.T) {
	t.Parallel()
	started := make(chan int64, 1)
	b := setup(t, engine.Config{}, map[string]core.Handler{
		"fetch": blockUntilCancelled(started), "charge": nil, "notify": nil,
	})
	b.run(t)
	time.Sleep(200 * time.Millisecond) // let the listener connect
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	<-started
	_, err = b.pool.Exec(b.ctx, "select pg_notify('tasker_cancel', $1)", fmt.Sprintf("task:%d", id))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(b.logs.String(), "step handler stopped") &&
			strings.Contains(b.logs.String(), "cancelled by an operator")
	}, 10*time.Second, 10*time.Millisecond, b.logs.String())
}

func TestEngineStopsHandlerWhoseLeaseWasTaken(t *testing.T) {
	t.Parallel()
	started := make(chan int64, 1)
	b := setup(t, engine.Config{Lease: 300 * time.Millisecond}, map[string]core.Handler{
		"fetch": blockUntilCancelled(started), "charge": nil, "notify": nil,
	})
	b.run(t)
	_, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	stepID := <-started
	_, err = b.pool.Exec(b.ctx, "update tasker.workflow_steps set lease_owner = 'other-node' where step_id = $1", stepID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(b.logs.String(), "step lease lost; cancelling its handler") &&
			strings.Contains(b.logs.String(), "step handler stopped")
	}, 10*time.Second, 10*time.Millisecond, b.logs.String())
}

func TestEngineRenewsLeasesOfLongSteps(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{Lease: 300 * time.Millisecond, ReapInterval: 50 * time.Millisecond}, map[string]core.Handler{
		"fetch": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) {
			time.Sleep(time.Second) // over three leases long
			return json.RawMessage(`1`), nil
		}),
		"charge": handlerFunc(ok), "notify": handlerFunc(ok),
	})
	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	task := b.waitFor(t, id, core.TaskStatusComplete)
	require.Equal(t, 1, task.Steps[0].Attempts, "a renewed lease is never reaped")
}

func TestEngineStepTimeoutFromTemplate(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, map[string]core.Handler{
		"fetch": handlerFunc(ok), "charge": handlerFunc(ok),
		"notify": handlerFunc(func(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
			if req.Attempt == 1 {
				<-ctx.Done() // the template gives this step 100ms
				return nil, ctx.Err()
			}
			return json.RawMessage(`1`), nil
		}),
	})
	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	task := b.waitFor(t, id, core.TaskStatusComplete)
	require.Equal(t, 2, task.Steps[2].Attempts)
	require.Contains(t, b.logs.String(), "step timed out after 100ms")
}

// describe says where a task stands, for failure messages.
func describe(task *core.Task) string {
	if task == nil {
		return "unknown"
	}
	out := task.Status
	for _, s := range task.Steps {
		out += fmt.Sprintf("; %s %s (attempts %d)", s.Name, s.Status, s.Attempts)
	}
	return out
}

// TestEngineShutdownClaimsNothingNew: a step that finishes during shutdown
// is recorded, and its child, ready now, is left in the queue for the next
// node or start: the batch that records the parent claims nothing while the
// engine stops.
func TestEngineShutdownClaimsNothingNew(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}, 1), make(chan struct{})
	b := setup(t, engine.Config{Workers: 1, ShutdownGrace: 10 * time.Second}, map[string]core.Handler{
		"fetch": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) {
			started <- struct{}{}
			<-release
			return json.RawMessage(`{}`), nil
		}),
		"charge": handlerFunc(ok), "notify": handlerFunc(ok),
	})
	stop := b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), "waiting for running steps to finish") },
		10*time.Second, 5*time.Millisecond)
	close(release)
	<-stopped

	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, core.StepStatusComplete, task.Steps[0].Status, "a step finished during shutdown is recorded")
	require.Equal(t, core.StepStatusPending, task.Steps[1].Status)
	var transitions int
	require.NoError(t, b.pool.QueryRow(b.ctx, "select count(*) from tasker.step_transitions where step_id = $1",
		task.Steps[1].StepID).Scan(&transitions))
	require.Equal(t, 1, transitions, "the child was never claimed (only its creation is recorded)")
}
