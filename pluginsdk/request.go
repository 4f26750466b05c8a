package pluginsdk

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Request is everything a handler is told about the step it runs.
type Request struct {
	// TaskID identifies the task (one run of a workflow).
	TaskID int64
	// StepID identifies the step within the engine.
	StepID int64
	// StepName is the name of the step in the task template.
	StepName string
	// Handler is the handler name the step template asked for.
	Handler string
	// Namespace, TaskName and TaskVersion identify the task template.
	Namespace   string
	TaskName    string
	TaskVersion string
	// Attempt is 1 on the first run of the step, 2 on the first retry, ...
	Attempt int
	// Context is the task's context as JSON.
	Context json.RawMessage
	// HandlerConfig is the step template's handler_config as JSON (null when
	// absent).
	HandlerConfig json.RawMessage
	// DependencyResults maps the name of each step this one depends on to its
	// results as JSON.
	DependencyResults map[string]json.RawMessage
	// Inputs is the step's inputs as a JSON object (null when absent): values
	// an operator set on this step through the API (PATCH of the step), for
	// example to correct a failed step's input before retrying it.
	Inputs json.RawMessage
}

// DecodeContext decodes the task's context into v (as json.Unmarshal does).
// An error names the step and what failed; it is marked Permanent, since the
// same context will fail the same way on every attempt.
func (r Request) DecodeContext(v any) error {
	if err := decode(r.Context, v); err != nil {
		return Permanent(fmt.Errorf("step %q: decoding the task context: %w", r.StepName, err))
	}
	return nil
}

// DecodeConfig decodes the step template's handler_config into v. An absent
// config (null) leaves v untouched. Errors are marked Permanent.
func (r Request) DecodeConfig(v any) error {
	if err := decode(r.HandlerConfig, v); err != nil {
		return Permanent(fmt.Errorf("step %q: decoding the handler_config: %w", r.StepName, err))
	}
	return nil
}

// DecodeInputs decodes the step's inputs into v. Absent inputs (null) leave
// v untouched, so a handler can fill v with defaults first. Errors are
// marked Permanent.
func (r Request) DecodeInputs(v any) error {
	if err := decode(r.Inputs, v); err != nil {
		return Permanent(fmt.Errorf("step %q: decoding the step inputs: %w", r.StepName, err))
	}
	return nil
}

// DecodeResult decodes the results of the dependency step named step into
// v. When the step is not among the dependencies, the error names it and the
// steps that are present. Errors are marked Permanent.
func (r Request) DecodeResult(step string, v any) error {
	raw, ok := r.DependencyResults[step]
	if !ok {
		present := make([]string, 0, len(r.DependencyResults))
		for name := range r.DependencyResults {
			present = append(present, name)
		}
		slices.Sort(present)
		have := "none"
		if len(present) > 0 {
			have = strings.Join(present, ", ")
		}
		return Permanent(fmt.Errorf("step %q: no result from dependency step %q (results present: %s)", r.StepName, step, have))
	}
	if err := decode(raw, v); err != nil {
		return Permanent(fmt.Errorf("step %q: decoding the result of dependency step %q: %w", r.StepName, step, err))
	}
	return nil
}

// decode unmarshals raw into v, treating empty input as JSON null.
func decode(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	return json.Unmarshal(raw, v)
}
