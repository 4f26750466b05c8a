package telemetry_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/core/telemetry"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/plugins"
)

type handlerFunc func(ctx context.Context, req core.StepRequest) (json.RawMessage, error)

func (f handlerFunc) Execute(ctx context.Context, req core.StepRequest) (json.RawMessage, error) {
	return f(ctx, req)
}

const traced = `
name: traced
namespace_name: otel
version: 1.0.0
step_templates:
  - {name: first, handler: trace}
  - {name: second, handler: trace, depends_on_step: first}
  - {name: flaky, handler: flaky, depends_on_step: first, retry_backoff_ms: 10, default_retry_limit: 3}
`

// A task is one trace: its creation span is the root; every step attempt,
// on the host, is its child; the plugin process continues the attempt's
// span; the SQL of creation and of recording outcomes are children too.
func TestATaskIsOneTraceAcrossHostAndPlugin(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = telemetry.NewPgxTracer(tp)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	logger := slog.New(slog.DiscardHandler)
	host := plugins.NewHost(logger, slowDir)
	t.Cleanup(host.Close)
	ctx := context.Background()
	require.NoError(t, host.Load(ctx))
	reg := registry.New()
	require.NoError(t, reg.AddHandlers("slow", "1.0.0", host.PluginHandlers("slow", "1.0.0")))
	var mu sync.Mutex
	failed := false
	require.NoError(t, reg.AddUnversioned(map[string]core.Handler{"flaky": handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		if !failed {
			failed = true
			return nil, errors.New("once")
		}
		return json.RawMessage(`{}`), nil
	})}))
	st := store.New(pool)
	eng := engine.New(st, reg, logger, engine.Config{Tracer: tp.Tracer("tasker"), PollInterval: 20 * time.Millisecond})
	require.NoError(t, eng.LoadTemplates(ctx, []core.TemplateSource{{Origin: "test", YAML: []byte(traced)}}))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	id, created, err := eng.CreateTask(ctx, core.TaskRequest{Namespace: "otel", Name: "traced", CorrelationID: "corr-1"})
	require.NoError(t, err)
	require.True(t, created)
	var task *core.Task
	require.Eventually(t, func() bool {
		task, err = st.GetTask(ctx, id)
		require.NoError(t, err)
		return task.Status == core.TaskStatusComplete
	}, 30*time.Second, 20*time.Millisecond)

	var root sdktrace.ReadOnlySpan
	stepSpans := map[trace.SpanID]tracetest.SpanStub{}
	attempts := map[string]int{}
	for _, s := range spans.GetSpans() {
		if s.Name == "task otel/traced@1.0.0" {
			root = s.Snapshot()
		}
	}
	require.NotNil(t, root, "the task's creation is a span")
	require.False(t, root.Parent().IsValid(), "and the root of its trace")
	require.Contains(t, root.Attributes(), attribute.String("tasker.correlation_id", "corr-1"))
	traceID := root.SpanContext().TraceID()
	for _, s := range spans.GetSpans() {
		switch s.Name {
		case "step first", "step second", "step flaky":
			require.Equal(t, traceID, s.SpanContext.TraceID(), "%s is in the task's trace", s.Name)
			require.Equal(t, root.SpanContext().SpanID(), s.Parent.SpanID(), "%s is a child of the task's root", s.Name)
			require.Contains(t, s.Attributes, attribute.String("tasker.correlation_id", "corr-1"))
			require.Contains(t, s.Attributes, attribute.Int64("tasker.task_id", id))
			stepSpans[s.SpanContext.SpanID()] = s
			attempts[s.Name]++
		}
	}
	require.Equal(t, map[string]int{"step first": 1, "step second": 1, "step flaky": 2}, attempts, "one span per attempt")

	// Inside the plugin process, the handler's context continues the attempt's span.
	for _, st := range task.Steps {
		if st.Handler != "trace" {
			continue
		}
		var seen struct {
			TraceID string `json:"trace_id"`
			SpanID  string `json:"span_id"`
		}
		require.NoError(t, json.Unmarshal(st.Results, &seen))
		require.Equal(t, traceID.String(), seen.TraceID, "step %s: the plugin is in the task's trace", st.Name)
		parent, ok := findSpan(stepSpans, seen.SpanID)
		require.True(t, ok, "step %s: the plugin's parent is a step attempt span", st.Name)
		require.Equal(t, "step "+st.Name, parent.Name)
	}

	// SQL spans: task creation's under the root; a failure's under its
	// attempt. Successes are recorded in batches: each step has a "record
	// result" span under its attempt, and a batch's query runs under the
	// "record result" span of the batch's first step.
	records := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans.GetSpans() {
		if s.Name == "record result" {
			_, ok := stepSpans[s.Parent.SpanID()]
			require.True(t, ok, "record result is a child of a step attempt")
			records[s.SpanContext.SpanID()] = s
		}
	}
	batchStarts := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans.GetSpans() {
		if s.Name == "batch start" {
			batchStarts[s.SpanContext.SpanID()] = s
		}
	}
	sqlUnder := map[string]int{}
	for _, s := range spans.GetSpans() {
		switch s.Name {
		case "query tasker.create_task", "batch query tasker.create_task", "batch query tasker.create_tasks":
			// Alone, or in a batch of creations (under a "batch start" span): create_tasks
			// for tasks without an identity, as here.
			parent := s.Parent.SpanID()
			if b, ok := batchStarts[parent]; ok {
				parent = b.Parent.SpanID()
			}
			require.Equal(t, root.SpanContext().SpanID(), parent, "%v", names(spans.GetSpans()))
			sqlUnder["create"]++
		case "query tasker.fail_step":
			_, ok := stepSpans[s.Parent.SpanID()]
			require.True(t, ok, "%s is a child of a step attempt", s.Name)
			require.Equal(t, traceID, s.SpanContext.TraceID())
			sqlUnder[s.Name]++
		case "query tasker.complete_steps", "batch query tasker.complete_steps", "batch query tasker.claim_steps":
			// Alone, or in a batch with the claim of the next steps (under a "batch start" span).
			parent := s.Parent.SpanID()
			if b, ok := batchStarts[parent]; ok {
				parent = b.Parent.SpanID()
			}
			_, ok := records[parent]
			require.True(t, ok, "%s is in a step's record result", s.Name)
			require.Equal(t, traceID, s.SpanContext.TraceID())
			sqlUnder[strings.TrimPrefix(s.Name, "batch ")]++
		case "query tasker.claim_steps", "prepare tasker.claim_steps":
			t.Fatalf("claims serve many tasks and start no trace of their own")
		}
	}
	require.Len(t, records, 3, "one record result per success: first, second and flaky's second attempt")
	batches := sqlUnder["query tasker.complete_steps"]
	require.True(t, batches >= 1 && batches <= 3, "one query per batch: %d; spans: %v", batches, names(spans.GetSpans()))
	delete(sqlUnder, "query tasker.complete_steps")
	delete(sqlUnder, "query tasker.claim_steps") // claimed with a batch: part of recording it
	require.Equal(t, map[string]int{"create": 1, "query tasker.fail_step": 1}, sqlUnder)
}

func findSpan(spans map[trace.SpanID]tracetest.SpanStub, hexID string) (tracetest.SpanStub, bool) {
	for id, s := range spans {
		if id.String() == hexID {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

func names(ss tracetest.SpanStubs) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name+" "+s.SpanContext.SpanID().String()+" <- "+s.Parent.SpanID().String())
	}
	return out
}
