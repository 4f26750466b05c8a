package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// span is the part of the console exporter's JSON this test reads.
type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
}

// The built binary with OTEL_TRACES_EXPORTER=console: the order workflow
// (its payment fails once) is one trace, the correlation id of the request
// follows the task, and /metrics counts the attempts. Not parallel: it sets
// the environment tasker inherits.
func TestEndToEndTelemetry(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_SERVICE_NAME", "tasker-e2e")
	dir := workdir(t)
	n := start(t, dir)
	base := n.api.BaseURL
	require.Contains(t, n.logs.String(), `"msg":"tracing is on","exporter":"console"`)

	body := `{"name": "order_process", "namespace": "default", "version": "1.0.0",
		"context": {"order_id": 7, "amount_cents": 100, "customer_email": "ada@example.com"}}`
	req, err := http.NewRequest("POST", base+"/tasks", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Correlation-ID", "e2e-order-7")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(data))
	require.Equal(t, "e2e-order-7", resp.Header.Get("X-Correlation-ID"))
	var created core.Task
	require.NoError(t, json.Unmarshal(data, &created))
	task := waitTask(t, n, created.TaskID)
	require.Equal(t, core.TaskStatusComplete, task.Status)
	require.Equal(t, "e2e-order-7", *task.CorrelationID)

	// Step log lines carry the correlation id.
	require.Regexp(t, `"msg":"step failed; it will be retried".*"correlation_id":"e2e-order-7"|"correlation_id":"e2e-order-7".*"msg":"step failed; it will be retried"`, n.logs.String())

	// Metrics (authentication is off on loopback).
	resp, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for series, want := range map[string]string{
		`tasker_tasks_created_total`:                                            "1",
		`tasker_steps_started_total{handler="process_payment"}`:                 "2",
		`tasker_steps_failed_total{handler="process_payment",kind="retryable"}`: "1",
		`tasker_steps_retried_total{handler="process_payment"}`:                 "1",
		`tasker_steps_completed_total{handler="process_payment"}`:               "1",
		`tasker_plugins_healthy`:                                                "",
		`tasker_step_duration_seconds_count{handler="validate_order"}`:          "1",
	} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(string(metrics))
		require.NotNil(t, m, "%s missing from:\n%s", series, metrics)
		if want != "" {
			require.Equal(t, want, m[1], series)
		}
	}

	// Stop, so the batch of spans is flushed to stdout, then read them.
	n.stop(t)
	spans := consoleSpans(t, n.logs.String())
	var root *span
	for i := range spans {
		if spans[i].Name == "task default/order_process@1.0.0" {
			root = &spans[i]
		}
	}
	require.NotNil(t, root, "the task's root span")
	steps := map[string]int{}
	sqlUnderSteps, records := 0, 0
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "step ") {
			require.Equal(t, root.SpanContext.TraceID, s.SpanContext.TraceID, s.Name)
			require.Equal(t, root.SpanContext.SpanID, s.Parent.SpanID, s.Name)
			steps[s.Name]++
			found := false
			for _, a := range s.Attributes {
				found = found || (a.Key == "tasker.correlation_id" && a.Value.Value == "e2e-order-7")
			}
			require.True(t, found, "%s carries the correlation id", s.Name)
		}
		if strings.Contains(s.Name, "query tasker.") && s.SpanContext.TraceID == root.SpanContext.TraceID { // "batch query" too
			sqlUnderSteps++
		}
		if s.Name == "record result" && s.SpanContext.TraceID == root.SpanContext.TraceID {
			records++
		}
	}
	require.Equal(t, map[string]int{"step validate_order": 1, "step process_payment": 2, "step send_confirmation": 1}, steps)
	require.Equal(t, 3, records, "each success is recorded under its attempt")
	// Successes are recorded in batches whose query joins one step's trace;
	// each step of this chain has a batch of its own.
	require.GreaterOrEqual(t, sqlUnderSteps, 5, "create_task, 3 complete_steps (with their claims) and 1 fail_step")
}

// consoleSpans picks the console exporter's span documents out of the
// process's output, where they sit between JSON log lines.
func consoleSpans(t *testing.T, out string) []span {
	t.Helper()
	var spans []span
	for rest := out; strings.TrimSpace(rest) != ""; {
		dec := json.NewDecoder(strings.NewReader(rest))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			// Not JSON (a line of another tool): go on at the next line.
			i := strings.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
			continue
		}
		rest = rest[dec.InputOffset():]
		var s span
		if json.Unmarshal(raw, &s) == nil && s.SpanContext.TraceID != "" {
			spans = append(spans, s)
		}
	}
	require.NotEmpty(t, spans, "no spans in the output")
	return spans
}
