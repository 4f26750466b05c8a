// Package client is a Go client of tasker's REST API, used by the demo, the
// end-to-end tests and the CLI's client commands (tasker task|step|handlers).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tasker-systems/tasker/core"
)

// Client talks to one tasker node.
type Client struct {
	// BaseURL includes the prefix, e.g. http://127.0.0.1:8080/tasker.
	BaseURL string
	HTTP    *http.Client
	// Token, when set, is sent as "Authorization: Bearer <Token>": a JWT or
	// an API key (tsk_...).
	Token string
	// PollInterval is how often WaitTask asks again (50ms when zero).
	PollInterval time.Duration
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is a non-2xx answer, with the problem details the server sent.
type Error struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Errors lists the failing fields of a request the server refused (a
	// context that fails its template's schema), when it says.
	Errors []core.Violation `json:"errors"`
}

func (e *Error) Error() string { return fmt.Sprintf("tasker answered %d: %s", e.Status, e.Detail) }

// ConnError is a request that got no answer: the server could not be
// reached (connection refused, DNS, TLS) or did not answer in time. It wraps
// the transport's error, a *url.Error.
type ConnError struct {
	Method, URL string
	Err         error
}

func (e *ConnError) Error() string {
	cause := e.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err // its message repeats method and URL
	}
	if e.Timeout() {
		return fmt.Sprintf("no answer from %s in time (%s %s): %v", hostOf(e.URL), e.Method, e.URL, cause)
	}
	return fmt.Sprintf("cannot reach %s (%s %s): %v", hostOf(e.URL), e.Method, e.URL, cause)
}

func (e *ConnError) Unwrap() error { return e.Err }

// Timeout reports whether the request timed out rather than failed to connect.
func (e *ConnError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &t) && t.Timeout())
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return raw
}

// DoRaw sends a request with an optional JSON body and returns the answer's
// body and status as they came. A non-2xx answer is an *Error; a request
// that got no answer is a *ConnError.
func (c *Client) DoRaw(ctx context.Context, method, path string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	target := strings.TrimRight(c.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, 0, ctx.Err() // cancelled by the caller, not a network failure
		}
		return nil, 0, &ConnError{Method: method, URL: target, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, &ConnError{Method: method, URL: target,
			Err: fmt.Errorf("read answer (HTTP %d): %w", resp.StatusCode, err)}
	}
	if resp.StatusCode >= 300 {
		var p Error
		if json.Unmarshal(data, &p) != nil || p.Detail == "" {
			p.Detail = strings.TrimSpace(string(data))
			if p.Detail == "" {
				p.Detail = http.StatusText(resp.StatusCode)
			}
		}
		p.Status = resp.StatusCode
		return data, resp.StatusCode, &p
	}
	return data, resp.StatusCode, nil
}

// Do sends a request with an optional JSON body and decodes a JSON answer into out.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.do(ctx, method, path, body, out)
	return err
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	data, status, err := c.DoRaw(ctx, method, path, body)
	if err != nil {
		return status, err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return status, fmt.Errorf("decode answer to %s %s: %w", method, path, err)
		}
	}
	return status, nil
}

// CreateTask asks for a new task.
func (c *Client) CreateTask(ctx context.Context, req core.TaskRequest) (*core.Task, error) {
	t, _, err := c.SubmitTask(ctx, req)
	return t, err
}

// SubmitTask asks for a new task and says whether the server created one
// (201) or answered with an existing task of the same identity (200).
func (c *Client) SubmitTask(ctx context.Context, req core.TaskRequest) (task *core.Task, created bool, err error) {
	var t core.Task
	status, err := c.do(ctx, http.MethodPost, "/tasks", req, &t)
	return &t, status == http.StatusCreated, err
}

// Task fetches a task with its steps.
func (c *Client) Task(ctx context.Context, id int64) (*core.Task, error) {
	var t core.Task
	return &t, c.Do(ctx, http.MethodGet, TaskPath(id), nil, &t)
}

// TaskPath is the path of a task under the prefix.
func TaskPath(id int64) string { return fmt.Sprintf("/tasks/%d", id) }

// StepPath is the path of a task's step under the prefix.
func StepPath(taskID, stepID int64) string {
	return fmt.Sprintf("/tasks/%d/workflow_steps/%d", taskID, stepID)
}

// TaskFilter selects tasks for ListTasks; zero fields do not filter. A task
// must carry every tag given. Limit 0 means the server's default (50).
type TaskFilter struct {
	Status, Namespace, Name, Version string
	Tags                             []string
	Sort                             string // one of the server's sorts, e.g. "created_at desc"
	Limit, Offset                    int
}

// Path is GET /tasks with the filter as its query.
func (f TaskFilter) Path() string {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "namespace": f.Namespace, "name": f.Name,
		"version": f.Version, "sort": f.Sort} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, t := range f.Tags {
		q.Add("tags", t)
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", fmt.Sprint(f.Offset))
	}
	if len(q) == 0 {
		return "/tasks"
	}
	return "/tasks?" + q.Encode()
}

// TaskList is one page of tasks; Total counts every match.
type TaskList struct {
	Tasks  []core.Task `json:"tasks"`
	Total  int64       `json:"total"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
}

// ListTasks lists tasks (without their steps), newest first unless sorted otherwise.
func (c *Client) ListTasks(ctx context.Context, f TaskFilter) (*TaskList, error) {
	var l TaskList
	return &l, c.Do(ctx, http.MethodGet, f.Path(), nil, &l)
}

// reasonBody is the optional body of an operator action.
func reasonBody(reason string) any {
	if reason == "" {
		return nil
	}
	return map[string]string{"reason": reason}
}

// CancelTask cancels a task and what of it has not finished; reason is optional.
func (c *Client) CancelTask(ctx context.Context, id int64, reason string) (*core.Task, error) {
	var t core.Task
	return &t, c.Do(ctx, http.MethodDelete, TaskPath(id), reasonBody(reason), &t)
}

// RetryTask retries a failed or cancelled task; reason is optional.
func (c *Client) RetryTask(ctx context.Context, id int64, reason string) (*core.Task, error) {
	var t core.Task
	return &t, c.Do(ctx, http.MethodPost, TaskPath(id)+"/retry", reasonBody(reason), &t)
}

// Steps lists a task's workflow steps.
func (c *Client) Steps(ctx context.Context, taskID int64) ([]core.Step, error) {
	var out struct {
		Steps []core.Step `json:"workflow_steps"`
	}
	return out.Steps, c.Do(ctx, http.MethodGet, TaskPath(taskID)+"/workflow_steps", nil, &out)
}

// Step fetches one step with its neighbours and audit trail.
func (c *Client) Step(ctx context.Context, taskID, stepID int64) (*core.StepDetail, error) {
	var s core.StepDetail
	return &s, c.Do(ctx, http.MethodGet, StepPath(taskID, stepID), nil, &s)
}

// RetryStep retries a failed or cancelled step; reason is optional.
func (c *Client) RetryStep(ctx context.Context, taskID, stepID int64, reason string) (*core.StepDetail, error) {
	var s core.StepDetail
	return &s, c.Do(ctx, http.MethodPost, StepPath(taskID, stepID)+"/retry", reasonBody(reason), &s)
}

// ResolveRequest is the body of a manual resolution: the results the
// step's dependents will see (optional) and why.
type ResolveRequest struct {
	Results json.RawMessage `json:"results,omitempty"`
	Reason  string          `json:"reason,omitempty"`
}

// ResolveStep resolves a step by hand; its dependents proceed.
func (c *Client) ResolveStep(ctx context.Context, taskID, stepID int64, req ResolveRequest) (*core.StepDetail, error) {
	var s core.StepDetail
	return &s, c.Do(ctx, http.MethodPost, StepPath(taskID, stepID)+"/resolve", req, &s)
}

// NamespaceSummary is one namespace of GET /handlers.
type NamespaceSummary struct {
	Name string `json:"name"`
	// HandlerCount is the number of task templates (by name) in it.
	HandlerCount int `json:"handler_count"`
}

// TemplateSummary is one task template of a namespace, with every registered version.
type TemplateSummary struct {
	Name        string   `json:"name"`
	Namespace   string   `json:"namespace"`
	Versions    []string `json:"versions"`
	Description string   `json:"description,omitempty"`
}

// TemplateDetail is one version of a task template with its dependency graph.
type TemplateDetail struct {
	ID              string              `json:"id"` // the template's name
	Namespace       string              `json:"namespace"`
	Version         string              `json:"version"`
	Description     string              `json:"description,omitempty"`
	StepTemplates   []core.StepTemplate `json:"step_templates"`
	DependencyGraph core.Graph          `json:"dependency_graph"`
}

// NamespacesPath lists the namespaces (handler discovery).
const NamespacesPath = "/handlers"

// NamespacePath is the path of a namespace's templates.
func NamespacePath(ns string) string { return "/handlers/" + url.PathEscape(ns) }

// TemplatePath is the path of a template; version "" means the highest.
func TemplatePath(ns, name, version string) string {
	p := NamespacePath(ns) + "/" + url.PathEscape(name)
	if version != "" {
		p += "?version=" + url.QueryEscape(version)
	}
	return p
}

// Namespaces lists the namespaces that have task templates.
func (c *Client) Namespaces(ctx context.Context) ([]NamespaceSummary, error) {
	var out struct {
		Namespaces []NamespaceSummary `json:"namespaces"`
	}
	return out.Namespaces, c.Do(ctx, http.MethodGet, NamespacesPath, nil, &out)
}

// Namespace lists the task templates of a namespace.
func (c *Client) Namespace(ctx context.Context, ns string) ([]TemplateSummary, error) {
	var out struct {
		Handlers []TemplateSummary `json:"handlers"`
	}
	return out.Handlers, c.Do(ctx, http.MethodGet, NamespacePath(ns), nil, &out)
}

// Template fetches a task template; version "" means the highest registered.
func (c *Client) Template(ctx context.Context, ns, name, version string) (*TemplateDetail, error) {
	var t TemplateDetail
	return &t, c.Do(ctx, http.MethodGet, TemplatePath(ns, name, version), nil, &t)
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

// Finished reports whether a task status is final: complete, error,
// cancelled or resolved manually.
func Finished(status string) bool {
	switch status {
	case core.TaskStatusComplete, core.TaskStatusError, core.TaskStatusCancelled, core.TaskStatusResolvedManually:
		return true
	}
	return false
}

// WaitTask polls a task until it is finished (complete, error, cancelled or
// resolved manually) or ctx ends, calling onChange whenever the task or one
// of its steps changed status or attempt.
func (c *Client) WaitTask(ctx context.Context, id int64, onChange func(*core.Task)) (*core.Task, error) {
	last := ""
	every := c.PollInterval
	if every <= 0 {
		every = 50 * time.Millisecond
	}
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
		if Finished(t.Status) {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("task %d still %s: %w", id, t.Status, ctx.Err())
		case <-time.After(every):
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
