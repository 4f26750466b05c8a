package plugintest

import (
	"testing"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// Run runs one attempt of h in the test's process, the way a plugin built
// with pluginsdk.Serve runs it for the host (see pluginsdk.Invoke): the
// returned value is encoded as JSON (a value that cannot be encoded is a
// permanent failure, as in tasker), a panic becomes the same retryable
// failure, and errors are classified by their pluginsdk marks. The
// handler's name, in its Request and in messages, is the step's name. The
// handler's ctx is t.Context().
//
// A request with a value that could not be encoded fails the test.
func Run(t testing.TB, h pluginsdk.Handler, req Request) Result {
	t.Helper()
	if h == nil {
		t.Fatalf("plugintest: Run of step %q: the handler is nil", req.step)
	}
	in := req.SDK(t, req.step)
	data, events, err := pluginsdk.InvokeWithEvents(t.Context(), h, in)
	if err != nil {
		return newFailure(t, in.Handler, err)
	}
	return Result{t: t, handler: in.Handler, JSON: data, Events: events}
}
