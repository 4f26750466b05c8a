package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

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
  - {name: notify, handler: notify, depends_on_step: charge}
`

func setup(t *testing.T, cfg engine.Config, handlers map[string]core.Handler) bundle {
	t.Helper()
	st := store.New(pgtest.New(t))
	reg := registry.New()
	require.NoError(t, reg.AddHandlers(handlers))
	logs := &syncBuffer{}
	cfg.PollInterval = 20 * time.Millisecond
	eng := engine.New(st, reg, slog.New(slog.NewJSONHandler(logs, nil)), cfg)
	ctx := context.Background()
	require.NoError(t, eng.LoadTemplates(ctx, []core.TemplateSource{{Origin: "test", YAML: []byte(template)}}))
	return bundle{ctx: ctx, store: st, engine: eng, logs: logs}
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
	require.Eventually(t, func() bool {
		var err error
		task, err = b.store.GetTask(b.ctx, id)
		require.NoError(t, err)
		return task.Status == status
	}, 30*time.Second, 10*time.Millisecond, "task %d never reached %s", id, status)
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
	id, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline", Context: json.RawMessage(`{"id": 1}`)})
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
	_, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "nope"})
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
	id, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
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
	id, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "pipeline"})
	require.NoError(t, err)
	<-started
	stop()

	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, core.StepStatusPending, task.Steps[0].Status, "handed back, not failed")
	require.Equal(t, 0, task.Steps[0].Attempts, "the interrupted attempt is not charged")
	require.Contains(t, b.logs.String(), "step interrupted by shutdown and handed back to the queue")
}
