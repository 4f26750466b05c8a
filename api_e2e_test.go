package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

// The operator routes, handler discovery and health/status, through the
// real binary over HTTP.

func TestAPIOperatorActions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := start(t, crashWorkdir(t))

	// Cancel a running task: its running step's handler is cancelled, nothing further starts.
	slow, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "slow_chain", Namespace: "crash"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := n.api.Task(ctx, slow.TaskID)
		return err == nil && stepsByName(got)["one"].Status == core.StepStatusInProgress
	}, 30*time.Second, 10*time.Millisecond)
	var cancelled core.Task
	require.NoError(t, n.api.Do(ctx, http.MethodDelete, fmt.Sprintf("/tasks/%d", slow.TaskID), map[string]string{"reason": "customer called"}, &cancelled))
	require.Equal(t, core.TaskStatusCancelled, cancelled.Status)
	for _, s := range cancelled.Steps {
		require.Equal(t, core.StepStatusCancelled, s.Status, s.Name)
	}
	require.Eventually(t, func() bool { return strings.Contains(n.logs.String(), "task cancelled: cancelling its running steps") },
		10*time.Second, 20*time.Millisecond)

	// Cancelling again is a conflict, named.
	err = n.api.Do(ctx, http.MethodDelete, fmt.Sprintf("/tasks/%d", slow.TaskID), nil, nil)
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusConflict, apiErr.Status)
	require.Contains(t, apiErr.Detail, "cancelled")

	// Retry it: it runs to completion.
	require.NoError(t, n.api.Do(ctx, http.MethodPost, fmt.Sprintf("/tasks/%d/retry", slow.TaskID), nil, nil))
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, slow.TaskID).Status)

	// A permanent failure resolved by hand: its dependents run with the given results.
	failed, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "diamond_permanent", Namespace: "patterns_faults"})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusError, waitTask(t, n, failed.TaskID).Status)
	left := stepsByName(waitTask(t, n, failed.TaskID))["left"]
	var resolved core.StepDetail
	require.NoError(t, n.api.Do(ctx, http.MethodPost, fmt.Sprintf("/tasks/%d/workflow_steps/%d/resolve", failed.TaskID, left.StepID),
		map[string]any{"results": map[string]int{"sum": 5}, "reason": "paid by hand"}, &resolved))
	require.Equal(t, core.StepStatusResolvedManually, resolved.Status)
	done := waitTask(t, n, failed.TaskID)
	require.Equal(t, core.TaskStatusComplete, done.Status)
	var join struct {
		Sum int `json:"sum"`
	}
	require.NoError(t, json.Unmarshal(stepsByName(done)["join"].Results, &join))
	require.Equal(t, 1+5+2, join.Sum, "join saw the resolved results")

	// Step routes: list, detail with neighbours and audit trail, and a step of another task is 404.
	var steps struct {
		Steps []core.Step `json:"workflow_steps"`
	}
	require.NoError(t, n.api.Do(ctx, http.MethodGet, fmt.Sprintf("/tasks/%d/workflow_steps", failed.TaskID), nil, &steps))
	require.Len(t, steps.Steps, 4)
	var detail core.StepDetail
	require.NoError(t, n.api.Do(ctx, http.MethodGet, fmt.Sprintf("/tasks/%d/workflow_steps/%d", failed.TaskID, left.StepID), nil, &detail))
	require.Equal(t, []string{"start"}, detail.DependsOn)
	require.Equal(t, []string{"join"}, detail.Children)
	last := detail.Transitions[len(detail.Transitions)-1]
	require.Equal(t, core.StepStatusResolvedManually, last.To)
	require.Equal(t, "paid by hand", *last.Reason)
	err = n.api.Do(ctx, http.MethodGet, fmt.Sprintf("/tasks/%d/workflow_steps/%d", slow.TaskID, left.StepID), nil, nil)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.Status)

	// Retrying a complete step is a conflict; an unknown field in an action body is a 400.
	err = n.api.Do(ctx, http.MethodPost, fmt.Sprintf("/tasks/%d/workflow_steps/%d/retry", failed.TaskID, left.StepID), nil, nil)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusConflict, apiErr.Status)
	err = n.api.Do(ctx, http.MethodPost, fmt.Sprintf("/tasks/%d/retry", failed.TaskID), map[string]string{"raeson": "x"}, nil)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.Status)
	require.Contains(t, apiErr.Detail, `unknown field "raeson"`)
	n.stop(t)
}

func TestAPIHandlersAndStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := start(t, workdir(t))

	var namespaces struct {
		Namespaces []struct {
			Name         string `json:"name"`
			HandlerCount int    `json:"handler_count"`
		} `json:"namespaces"`
	}
	require.NoError(t, n.api.Do(ctx, http.MethodGet, "/handlers", nil, &namespaces))
	counts := map[string]int{}
	for _, ns := range namespaces.Namespaces {
		counts[ns.Name] = ns.HandlerCount
	}
	require.Equal(t, 1, counts["default"])
	require.Equal(t, 5, counts["patterns"])

	var diamond struct {
		ID              string     `json:"id"`
		Version         string     `json:"version"`
		DependencyGraph core.Graph `json:"dependency_graph"`
	}
	require.NoError(t, n.api.Do(ctx, http.MethodGet, "/handlers/patterns/diamond?version=1.0.0", nil, &diamond))
	require.Equal(t, "diamond", diamond.ID)
	require.Equal(t, []string{"start", "left", "right", "join"}, diamond.DependencyGraph.ExecutionOrder)
	require.Equal(t, map[string]int{"start": 0, "left": 1, "right": 1, "join": 2}, diamond.DependencyGraph.Levels)
	require.Len(t, diamond.DependencyGraph.Edges, 4)

	var apiErr *client.Error
	require.ErrorAs(t, n.api.Do(ctx, http.MethodGet, "/handlers/nowhere", nil, nil), &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.Status)

	task, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "linear", Namespace: "patterns"})
	require.NoError(t, err)
	waitTask(t, n, task.TaskID)
	var status struct {
		Status string `json:"status"`
		Counts struct {
			TotalTasks    int `json:"total_tasks"`
			CompleteTasks int `json:"complete_tasks"`
		} `json:"counts"`
		Plugins []map[string]any `json:"plugins"`
	}
	require.NoError(t, n.api.Do(ctx, http.MethodGet, "/health/status", nil, &status))
	require.Equal(t, "healthy", status.Status)
	require.Equal(t, 1, status.Counts.TotalTasks)
	require.Equal(t, 1, status.Counts.CompleteTasks)
	require.NotEmpty(t, status.Plugins)
	n.stop(t)
}
