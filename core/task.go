package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Task states.
const (
	TaskStatusPending          = "pending"
	TaskStatusInProgress       = "in_progress"
	TaskStatusComplete         = "complete"
	TaskStatusError            = "error"
	TaskStatusCancelled        = "cancelled"
	TaskStatusResolvedManually = "resolved_manually"
)

// Step states.
const (
	StepStatusPending          = "pending"
	StepStatusInProgress       = "in_progress"
	StepStatusWaitingForRetry  = "waiting_for_retry"
	StepStatusComplete         = "complete"
	StepStatusError            = "error"
	StepStatusCancelled        = "cancelled"
	StepStatusResolvedManually = "resolved_manually"
)

// ErrNotFound is returned (wrapped) when a task, step or template does not exist.
var ErrNotFound = errors.New("not found")

// NotFoundf makes an error that reads as the message alone and matches
// ErrNotFound with errors.Is.
func NotFoundf(format string, args ...any) error {
	return notFound(fmt.Sprintf(format, args...))
}

type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == ErrNotFound }

// TaskRequest asks for a new task, with the seed's request fields.
type TaskRequest struct {
	Name         string          `json:"name"`
	Namespace    string          `json:"namespace"`
	Version      string          `json:"version"`
	Context      json.RawMessage `json:"context"`
	Initiator    string          `json:"initiator"`
	Reason       string          `json:"reason"`
	SourceSystem string          `json:"source_system"`
	Tags         []string        `json:"tags"`
	// IdempotencyKey makes repeated requests with the same key return one task.
	IdempotencyKey string `json:"idempotency_key"`
	// BypassSteps names skippable steps to resolve without running them.
	BypassSteps []string `json:"bypass_steps"`
	// CorrelationID comes from the request's X-Correlation-ID header (or is
	// generated), never from the body; empty leaves the task without one.
	CorrelationID string `json:"-"`
	// TraceParent is the W3C traceparent of the span that created the task,
	// parent of every step attempt's span; empty when tracing is off.
	TraceParent string `json:"-"`
}

// RequestError is a request that cannot be served as asked: the message
// says why, in words for the caller.
type RequestError struct{ Message string }

func (e *RequestError) Error() string { return e.Message }

// Task is a task as stored, with its steps when they were asked for.
type Task struct {
	TaskID       int64           `json:"task_id"`
	Name         string          `json:"name"`
	Namespace    string          `json:"namespace"`
	Version      string          `json:"version"`
	Status       string          `json:"status"`
	Context      json.RawMessage `json:"context"`
	Initiator    string          `json:"initiator"`
	Reason       string          `json:"reason"`
	SourceSystem string          `json:"source_system"`
	Tags         []string        `json:"tags"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	CompletedAt  *time.Time      `json:"completed_at"`
	// CorrelationID is the X-Correlation-ID of the request that created the
	// task; null for tasks created without one.
	CorrelationID *string `json:"correlation_id"`
	Steps         []Step  `json:"workflow_steps,omitempty"`
}

// Step is one workflow step of a task.
type Step struct {
	StepID        int64           `json:"workflow_step_id"`
	TaskID        int64           `json:"task_id"`
	Name          string          `json:"name"`
	Handler       string          `json:"handler"`
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"`
	RetryLimit    int             `json:"retry_limit"`
	Retryable     bool            `json:"retryable"`
	DependsOn     []string        `json:"depends_on"`
	Children      []string        `json:"children"`
	Results       json.RawMessage `json:"results"`
	LastError     *string         `json:"last_error"`
	NextAttemptAt *time.Time      `json:"next_attempt_at"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	CompletedAt   *time.Time      `json:"completed_at"`
	// Inputs is the step's inputs (a JSON object) set by an operator; null when absent.
	Inputs json.RawMessage `json:"inputs"`
}

// Transition is one audited change of state.
type Transition struct {
	From      *string         `json:"from_state"`
	To        string          `json:"to_state"`
	Reason    *string         `json:"reason"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"created_at"`
}

// StepDetail is a step with its audit trail.
type StepDetail struct {
	Step
	Transitions []Transition `json:"transitions"`
}
