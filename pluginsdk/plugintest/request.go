package plugintest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// Request describes the step attempt a test runs: build one with
// NewRequest and the With methods. A Request is a value: each With method
// returns a modified copy, so a base request can be shared between cases.
//
// Values given to WithContext, WithConfig, WithInputs and WithResult are encoded with
// encoding/json when they are given (pass a json.RawMessage for JSON text,
// or a Result to feed a step's results to the next one; a plain string
// becomes a JSON string). A value that cannot be encoded fails the test
// that runs the request, naming the method and the value's type.
type Request struct {
	step                             string
	taskID, stepID                   int64
	namespace, taskName, taskVersion string
	attempt                          int
	context, config, inputs          json.RawMessage
	results                          map[string]json.RawMessage
	errs                             []error
}

// NewRequest returns a request for the first attempt of the step named
// step, with a null context, handler_config and inputs, no dependency results,
// task and step IDs 1 and the task template default/test 1.0.0.
func NewRequest(step string) Request {
	return Request{
		step: step, taskID: 1, stepID: 1,
		namespace: "default", taskName: "test", taskVersion: "1.0.0",
		attempt: 1,
		context: json.RawMessage("null"), config: json.RawMessage("null"), inputs: json.RawMessage("null"),
	}
}

// WithContext sets the task's context to v, JSON-encoded.
func (r Request) WithContext(v any) Request {
	r.context, r.errs = encode(r.errs, "WithContext", v)
	return r
}

// WithConfig sets the step template's handler_config to v, JSON-encoded.
func (r Request) WithConfig(v any) Request {
	r.config, r.errs = encode(r.errs, "WithConfig", v)
	return r
}

// WithInputs sets the step's inputs (what an operator sets with a PATCH of
// the step) to v, JSON-encoded; the host sends an object.
func (r Request) WithInputs(v any) Request {
	r.inputs, r.errs = encode(r.errs, "WithInputs", v)
	return r
}

// WithResult adds v, JSON-encoded, as the results of the dependency step
// named step (replacing earlier results of that step). v may be the Result
// of a previous run, which must have succeeded.
func (r Request) WithResult(step string, v any) Request {
	var raw json.RawMessage
	raw, r.errs = encode(r.errs, fmt.Sprintf("WithResult(%q)", step), v)
	r.results = maps.Clone(r.results)
	if r.results == nil {
		r.results = map[string]json.RawMessage{}
	}
	r.results[step] = raw
	return r
}

// WithAttempt sets the attempt number: 1 for the first run of the step, 2
// for the first retry, and so on.
func (r Request) WithAttempt(n int) Request {
	r.attempt = n
	return r
}

// WithIDs sets the task and step IDs.
func (r Request) WithIDs(taskID, stepID int64) Request {
	r.taskID, r.stepID = taskID, stepID
	return r
}

// WithTask sets the task template the step belongs to.
func (r Request) WithTask(namespace, name, version string) Request {
	r.namespace, r.taskName, r.taskVersion = namespace, name, version
	return r
}

// SDK returns the pluginsdk.Request a handler named handler receives for
// r, failing t when one of the values given to r could not be encoded.
func (r Request) SDK(t testing.TB, handler string) pluginsdk.Request {
	t.Helper()
	if err := errors.Join(r.errs...); err != nil {
		t.Fatalf("plugintest: bad request for step %q: %v", r.step, err)
	}
	deps := make(map[string]json.RawMessage, len(r.results))
	for name, raw := range r.results {
		deps[name] = slices.Clone(raw)
	}
	return pluginsdk.Request{
		TaskID: r.taskID, StepID: r.stepID, StepName: r.step, Handler: handler,
		Namespace: r.namespace, TaskName: r.taskName, TaskVersion: r.taskVersion,
		Attempt:           r.attempt,
		Context:           slices.Clone(r.context),
		HandlerConfig:     slices.Clone(r.config),
		DependencyResults: deps,
		Inputs:            slices.Clone(r.inputs),
	}
}

// encode JSON-encodes v for method, adding a failure to errs (which it
// never modifies in place, so copies of a Request stay independent).
func encode(errs []error, method string, v any) (json.RawMessage, []error) {
	data, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null"), append(slices.Clip(errs),
			fmt.Errorf("%s: cannot encode the %T as JSON: %w", method, v, err))
	}
	return data, errs
}
