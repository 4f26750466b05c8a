package plugintest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// Result is the outcome of one step attempt, as tasker would record it:
// either results (JSON) or a failure classified as permanent or retryable,
// with an optional retry delay.
type Result struct {
	t       testing.TB
	handler string

	// JSON holds the step's results exactly as tasker stores them (JSON
	// null when the handler returned nil); nil when the attempt failed.
	JSON json.RawMessage
	// Err is the failure, nil on success. Its message is the one tasker
	// records for the step. Err carries the pluginsdk marks, so
	// pluginsdk.IsPermanent and pluginsdk.RetryDelay classify it. From Run it
	// is the handler's own error (errors.Is and errors.As see its chain);
	// from Plugin.Execute it is rebuilt from what crossed the wire.
	Err error
	// Events are the custom events the handler published with
	// pluginsdk.Publish, in order (none when the attempt failed). Whether
	// the task template declares them is checked by tasker, not here.
	Events []pluginsdk.Event

	permanent  bool
	retryAfter time.Duration
}

// newFailure returns a failed Result classified like err is by pluginsdk,
// with the retry delay rounded down to the millisecond the wire carries.
func newFailure(t testing.TB, handler string, err error) Result {
	return Result{
		t: t, handler: handler, Err: err,
		permanent:  pluginsdk.IsPermanent(err),
		retryAfter: pluginsdk.RetryDelay(err).Truncate(time.Millisecond),
	}
}

// OK reports whether the attempt succeeded.
func (r Result) OK() bool { return r.Err == nil }

// Message is the failure's message, or "" when the attempt succeeded.
func (r Result) Message() string {
	if r.Err == nil {
		return ""
	}
	return r.Err.Error()
}

// IsPermanent reports whether the attempt failed permanently: tasker fails
// the step at once, whatever attempts remain.
func (r Result) IsPermanent() bool { return r.Err != nil && r.permanent }

// IsRetryable reports whether the attempt failed and tasker would retry
// the step (while attempts remain).
func (r Result) IsRetryable() bool { return r.Err != nil && !r.permanent }

// RetryAfter is the delay the handler asked for with pluginsdk.RetryAfter
// (in whole milliseconds, as the host receives it), or 0 when it asked for
// none or the attempt did not fail retryably.
func (r Result) RetryAfter() time.Duration {
	if !r.IsRetryable() {
		return 0
	}
	return r.retryAfter
}

// Decode decodes the step's results into v (as json.Unmarshal does). It
// fails the test when the attempt failed or the results do not decode.
func (r Result) Decode(v any) {
	r.t.Helper()
	if r.Err != nil {
		r.t.Fatalf("plugintest: handler %q failed (%s), no results to decode: %v", r.handler, r.kind(), r.Err)
	}
	if err := json.Unmarshal(r.JSON, v); err != nil {
		r.t.Fatalf("plugintest: decoding the results of handler %q into %T: %v\nresults: %s", r.handler, v, err, r.JSON)
	}
}

// MarshalJSON returns the step's results, so that a Result can be passed to
// Request.WithResult (or WithContext, WithConfig). It fails for a failed
// attempt.
func (r Result) MarshalJSON() ([]byte, error) {
	if r.Err != nil {
		return nil, fmt.Errorf("handler %q failed, it has no results: %w", r.handler, r.Err)
	}
	if r.JSON == nil {
		return nil, errors.New("empty Result")
	}
	return r.JSON, nil
}

// String describes the result for test messages.
func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("handler %q failed (%s): %v", r.handler, r.kind(), r.Err)
	}
	return fmt.Sprintf("handler %q succeeded: %s", r.handler, r.JSON)
}

// kind names the failure's classification.
func (r Result) kind() string {
	switch {
	case r.permanent:
		return "permanent"
	case r.RetryAfter() > 0:
		return "retryable after " + r.RetryAfter().String()
	default:
		return "retryable"
	}
}
