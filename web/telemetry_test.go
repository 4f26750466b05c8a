package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/auth"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/core/telemetry"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/web"
)

// flaky fails its first attempt of each step, retryably; ok always succeeds.
type flaky struct {
	mu   sync.Mutex
	seen map[int64]bool
}

func (f *flaky) Execute(_ context.Context, req core.StepRequest) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.seen[req.StepID] {
		f.seen[req.StepID] = true
		return nil, errors.New("try again")
	}
	return json.RawMessage(`{}`), nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// telemetryNode is a running engine behind the API with metrics, over real
// HTTP and a real database, with authorization on.
type telemetryNode struct {
	url          string
	logs         *lockedBuffer
	metricsKey   string
	noMetricsKey string
}

func newTelemetryNode(t *testing.T) *telemetryNode {
	t.Helper()
	st := store.New(pgtest.New(t))
	reg := registry.New()
	require.NoError(t, reg.AddUnversioned(map[string]core.Handler{"fetch": idleHandler{}, "charge": &flaky{seen: map[int64]bool{}}}))
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prom, err := telemetry.NewPrometheus()
	require.NoError(t, err)
	metrics, err := telemetry.NewMetrics(prom.Provider)
	require.NoError(t, err)
	require.NoError(t, metrics.ObserveReady(time.Second, st.ReadySteps))
	require.NoError(t, metrics.ObservePlugins(func() int64 { return 2 }))
	eng := engine.New(st, reg, logger, engine.Config{Metrics: metrics, PollInterval: 20 * time.Millisecond})
	ctx := context.Background()
	require.NoError(t, eng.LoadTemplates(ctx, []core.TemplateSource{{Origin: "test", YAML: []byte(`
name: pay
namespace_name: shop
version: 1.0.0
step_templates:
  - name: fetch
    handler: fetch
  - name: charge
    handler: charge
    depends_on_step: fetch
    default_retry_limit: 3
    retry_backoff_ms: 10
    retry_backoff_max_ms: 20
`)}}))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	metricsKey, metricsSum, err := auth.NewAPIKey()
	require.NoError(t, err)
	otherKey, otherSum, err := auth.NewAPIKey()
	require.NoError(t, err)
	a, err := auth.New(auth.Config{APIKeys: []auth.APIKey{
		{Name: "scraper", SHA256: metricsSum, Permissions: []string{"tasker.metrics:index"}},
		{Name: "ops", SHA256: otherSum, Permissions: []string{"tasker.task:*"}},
	}})
	require.NoError(t, err)
	api := web.New(web.Config{Store: st, Tasks: eng, Registry: reg, Logger: logger, Auth: a, Metrics: prom.Handler, Wake: eng.Wake})
	api.MarkReady()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &telemetryNode{url: srv.URL + "/tasker", logs: logs, metricsKey: metricsKey, noMetricsKey: otherKey}
}

func (n *telemetryNode) do(t *testing.T, method, path, key, body string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-API-Key", key)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

func (n *telemetryNode) waitComplete(t *testing.T, id int64, key string) map[string]any {
	t.Helper()
	var task map[string]any
	require.Eventually(t, func() bool {
		_, data := n.do(t, "GET", fmt.Sprintf("/tasks/%d", id), key, "", nil)
		task = nil
		_ = json.Unmarshal(data, &task)
		return task["status"] == core.TaskStatusComplete
	}, 20*time.Second, 20*time.Millisecond)
	return task
}

// metricValue reads one sample of the Prometheus text format.
func metricValue(t *testing.T, text, series string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	require.NotNil(t, m, "no sample %s in:\n%s", series, text)
	return m[1]
}

func TestMetricsCountAWorkflowWithARetry(t *testing.T) {
	t.Parallel()
	n := newTelemetryNode(t)
	resp, data := n.do(t, "POST", "/tasks", n.noMetricsKey, `{"namespace": "shop", "name": "pay"}`, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(data))
	var task map[string]any
	require.NoError(t, json.Unmarshal(data, &task))
	n.waitComplete(t, int64(task["task_id"].(float64)), n.noMetricsKey)

	// The permission: none, another, then tasker.metrics:index.
	resp, _ = n.do(t, "GET", "/metrics", "", "", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = n.do(t, "GET", "/metrics", n.noMetricsKey, "", nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, data = n.do(t, "GET", "/metrics", n.metricsKey, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4"), resp.Header.Get("Content-Type"))
	text := string(data)

	require.Equal(t, "1", metricValue(t, text, `tasker_tasks_created_total`))
	require.Equal(t, "1", metricValue(t, text, `tasker_steps_started_total{handler="fetch"}`))
	require.Equal(t, "2", metricValue(t, text, `tasker_steps_started_total{handler="charge"}`))
	require.Equal(t, "1", metricValue(t, text, `tasker_steps_completed_total{handler="fetch"}`))
	require.Equal(t, "1", metricValue(t, text, `tasker_steps_completed_total{handler="charge"}`))
	require.Equal(t, "1", metricValue(t, text, `tasker_steps_failed_total{handler="charge",kind="retryable"}`))
	require.Equal(t, "1", metricValue(t, text, `tasker_steps_retried_total{handler="charge"}`))
	require.Equal(t, "2", metricValue(t, text, `tasker_step_duration_seconds_count{handler="charge"}`))
	require.NotEqual(t, "0", metricValue(t, text, `tasker_claim_duration_seconds_count`))
	require.Equal(t, "0", metricValue(t, text, `tasker_steps_ready`), "nothing is left to run")
	require.Equal(t, "2", metricValue(t, text, `tasker_plugins_healthy`))
	require.Contains(t, text, "go_goroutines ", "the Go runtime's metrics too")
}

func TestCorrelationIDFollowsTheTask(t *testing.T) {
	t.Parallel()
	n := newTelemetryNode(t)
	const id = "checkout-42:retry.1_A"
	resp, data := n.do(t, "POST", "/tasks", n.noMetricsKey, `{"namespace": "shop", "name": "pay"}`,
		map[string]string{"X-Correlation-ID": id})
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(data))
	require.Equal(t, id, resp.Header.Get("X-Correlation-ID"), "echoed")
	var task map[string]any
	require.NoError(t, json.Unmarshal(data, &task))
	require.Equal(t, id, task["correlation_id"], "in the task document")
	taskID := int64(task["task_id"].(float64))
	done := n.waitComplete(t, taskID, n.noMetricsKey)
	require.Equal(t, id, done["correlation_id"])

	// Every step's log lines carry it (JSON logs), and the request's line too.
	var stepLines, requestLines int
	for _, line := range strings.Split(n.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["step_id"] != nil && rec["task_id"] == float64(taskID) {
			stepLines++
			require.Equal(t, id, rec["correlation_id"], "step log line %s", line)
		}
		if rec["msg"] == "http request" && rec["correlation_id"] == id {
			requestLines++
		}
	}
	require.GreaterOrEqual(t, stepLines, 3, "fetch complete, charge failed, charge complete")
	require.Equal(t, 1, requestLines)

	// Absent: one is generated, and differs per request.
	resp, data = n.do(t, "POST", "/tasks", n.noMetricsKey, `{"namespace": "shop", "name": "pay"}`, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(data))
	generated := resp.Header.Get("X-Correlation-ID")
	require.Regexp(t, `^[0-9a-f]{32}$`, generated)
	require.NoError(t, json.Unmarshal(data, &task))
	require.Equal(t, generated, task["correlation_id"])
	resp, _ = n.do(t, "GET", "/health/live", "", "", nil)
	require.Regexp(t, `^[0-9a-f]{32}$`, resp.Header.Get("X-Correlation-ID"))
	require.NotEqual(t, generated, resp.Header.Get("X-Correlation-ID"))

	// Invalid: a 400 naming the header, and no task.
	for _, bad := range []string{"", "has space", "semi;colon", strings.Repeat("x", 129), "ünïcode"} {
		resp, data = n.do(t, "POST", "/tasks", n.noMetricsKey, `{"namespace": "shop", "name": "pay"}`,
			map[string]string{"X-Correlation-ID": bad})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%q: %s", bad, data)
		require.Contains(t, string(data), "X-Correlation-ID", "%q", bad)
	}
	resp, data = n.do(t, "GET", "/tasks", n.noMetricsKey, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list map[string]any
	require.NoError(t, json.Unmarshal(data, &list))
	require.EqualValues(t, 2, list["total"], "the refused requests created nothing")
}
