package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StepRequest is everything a handler is told about the step it runs.
type StepRequest struct {
	TaskID   int64
	StepID   int64
	StepName string
	Handler  string
	// HandlerVersion is the step template's handler_version constraint
	// ("" when unpinned); the engine runs the highest loaded version of
	// Handler that satisfies it.
	HandlerVersion string
	Namespace      string
	TaskName       string
	TaskVersion    string
	// Attempt is 1 on the first run of the step.
	Attempt int
	// Timeout is the step template's deadline per attempt; zero means the engine's default.
	Timeout time.Duration
	// Context is the task's context as JSON.
	Context json.RawMessage
	// HandlerConfig is the step template's handler_config as JSON (null when absent).
	HandlerConfig json.RawMessage
	// DependencyResults maps the name of each step this one depends on to its results.
	DependencyResults map[string]json.RawMessage
	// Inputs is the step's inputs as a JSON object, set by an operator
	// (PATCH of the step); empty when the step has none.
	Inputs json.RawMessage
	// CorrelationID is the task's correlation id ("" when it has none).
	CorrelationID string
	// TraceParent is the task's W3C traceparent ("" when it has none): the
	// parent of the attempt's span, so that a task is one trace.
	TraceParent string
}

// Handler runs one step. It returns the step's results as JSON; an error
// fails the attempt. Errors that are not *StepError count as retryable.
type Handler interface {
	Execute(ctx context.Context, req StepRequest) (json.RawMessage, error)
}

// ConcurrencyLimiter is implemented by handlers that cap how many of their
// steps run at once on one node; 0 means no cap.
type ConcurrencyLimiter interface {
	MaxConcurrency() int
}

// ErrorKind says what the engine should do after a failed attempt.
type ErrorKind int

const (
	// Retryable failures are retried with backoff until the step's retry limit.
	Retryable ErrorKind = iota
	// Permanent failures stop the step at once, whatever attempts remain.
	Permanent
)

func (k ErrorKind) String() string {
	if k == Permanent {
		return "permanent"
	}
	return "retryable"
}

// StepError is a handler failure that carries the handler's instruction.
type StepError struct {
	Kind    ErrorKind
	Message string
	// RetryAfter, when positive, replaces the computed backoff for the next attempt.
	RetryAfter time.Duration
	// NotRun says the handler never started (its plugin is down or
	// restarting): the attempt is not charged and the step waits RetryAfter,
	// so a crash-looping plugin does not use up its steps' retries.
	NotRun bool
}

func (e *StepError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s error (retry after %s): %s", e.Kind, e.RetryAfter, e.Message)
	}
	return fmt.Sprintf("%s error: %s", e.Kind, e.Message)
}

// AsStepError classifies any error: a *StepError anywhere in the chain is
// returned as is, everything else (a crash, a timeout, a transport error)
// becomes a retryable failure.
func AsStepError(err error) *StepError {
	var se *StepError
	if errors.As(err, &se) {
		return se
	}
	return &StepError{Kind: Retryable, Message: err.Error()}
}

// TemplateSource is a task template document together with where it came
// from, so that errors can name the file or plugin.
type TemplateSource struct {
	// Origin names the file or plugin that supplied the document.
	Origin string
	YAML   []byte
}
