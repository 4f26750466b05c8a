// Package client is a Go client of tasker's REST API, used by the demo, the
// end-to-end tests and (later) the CLI's client commands.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tasker-systems/tasker/core"
)

// Client talks to one tasker node.
type Client struct {
	// BaseURL includes the prefix, e.g. http://127.0.0.1:8080/tasker.
	BaseURL string
	HTTP    *http.Client
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is a non-2xx answer, with the problem details the server sent.
type Error struct {
	Status int
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("tasker answered %d: %s", e.Status, e.Detail) }

// Do sends a request with an optional JSON body and decodes a JSON answer into out.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var p struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(data, &p) != nil || p.Detail == "" {
			p.Detail = string(data)
		}
		return &Error{Status: resp.StatusCode, Detail: p.Detail}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

// CreateTask asks for a new task.
func (c *Client) CreateTask(ctx context.Context, req core.TaskRequest) (*core.Task, error) {
	var t core.Task
	return &t, c.Do(ctx, http.MethodPost, "/tasks", req, &t)
}

// Task fetches a task with its steps.
func (c *Client) Task(ctx context.Context, id int64) (*core.Task, error) {
	var t core.Task
	return &t, c.Do(ctx, http.MethodGet, fmt.Sprintf("/tasks/%d", id), nil, &t)
}

// WaitReady polls health/ready until it answers 200 or ctx ends.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		err := c.Do(ctx, http.MethodGet, "/health/ready", nil, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tasker at %s not ready: %w (last answer: %v)", c.BaseURL, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitTask polls a task until it is finished (complete, error, cancelled or
// resolved manually) or ctx ends, calling onChange whenever the task or one
// of its steps changed status or attempt.
func (c *Client) WaitTask(ctx context.Context, id int64, onChange func(*core.Task)) (*core.Task, error) {
	last := ""
	for {
		t, err := c.Task(ctx, id)
		if err != nil {
			return nil, err
		}
		if sig := signature(t); sig != last {
			last = sig
			if onChange != nil {
				onChange(t)
			}
		}
		switch t.Status {
		case core.TaskStatusComplete, core.TaskStatusError, core.TaskStatusCancelled, core.TaskStatusResolvedManually:
			return t, nil
		}
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("task %d still %s: %w", id, t.Status, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func signature(t *core.Task) string {
	s := t.Status
	for _, st := range t.Steps {
		s += fmt.Sprintf("|%s:%s:%d", st.Name, st.Status, st.Attempts)
	}
	return s
}
