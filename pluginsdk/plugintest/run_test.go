package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// fakeT records the first Fatalf instead of failing the real test.
type fakeT struct {
	testing.TB
	failure string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatal runs fn with a fakeT on its own goroutine and returns the message
// it failed with ("" when it did not fail).
func fatal(t *testing.T, fn func(t testing.TB)) string {
	t.Helper()
	f := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.failure
}

type echoed struct {
	Step    string          `json:"step"`
	Handler string          `json:"handler"`
	Attempt int             `json:"attempt"`
	Task    int64           `json:"task"`
	Ctx     json.RawMessage `json:"ctx"`
	Config  json.RawMessage `json:"config"`
	Prev    map[string]any  `json:"prev"`
}

func echo(_ context.Context, req pluginsdk.Request) (any, error) {
	var prev map[string]any
	if err := req.DecodeResult("prev", &prev); err != nil {
		return nil, err
	}
	return echoed{req.StepName, req.Handler, req.Attempt, req.TaskID, req.Context, req.HandlerConfig, prev}, nil
}

func TestRunSuccess(t *testing.T) {
	t.Parallel()
	base := NewRequest("echo").WithContext(map[string]int{"k": 1}).WithResult("prev", map[string]bool{"ok": true})
	res := Run(t, echo, base.WithConfig(json.RawMessage(`{"c": "x"}`)).WithAttempt(3).WithIDs(7, 8))
	require.True(t, res.OK(), res.String())
	require.False(t, res.IsPermanent())
	require.False(t, res.IsRetryable())
	require.Zero(t, res.RetryAfter())
	require.Empty(t, res.Message())
	var got echoed
	res.Decode(&got)
	require.Equal(t, echoed{"echo", "echo", 3, 7, json.RawMessage(`{"k":1}`), json.RawMessage(`{"c":"x"}`), map[string]any{"ok": true}}, got)

	// With methods return copies: base is unchanged.
	res = Run(t, echo, base)
	res.Decode(&got)
	require.Equal(t, 1, got.Attempt)
	require.JSONEq(t, "null", string(got.Config))

	// A Result feeds the next request.
	next := Run(t, echo, NewRequest("next").WithResult("prev", res))
	next.Decode(&got)
	require.Equal(t, "echo", got.Prev["step"])

	nothing := Run(t, func(context.Context, pluginsdk.Request) (any, error) { return nil, nil }, NewRequest("n"))
	require.Equal(t, "null", string(nothing.JSON))
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	res := Run(t, func(context.Context, pluginsdk.Request) (any, error) {
		return nil, pluginsdk.Permanent(fmt.Errorf("bad input: %w", io.ErrUnexpectedEOF))
	}, NewRequest("p"))
	require.True(t, res.IsPermanent())
	require.False(t, res.IsRetryable())
	require.Equal(t, "bad input: unexpected EOF", res.Message())
	require.ErrorIs(t, res.Err, io.ErrUnexpectedEOF, "in process, the handler's own error is kept")

	res = Run(t, func(context.Context, pluginsdk.Request) (any, error) {
		return nil, pluginsdk.RetryAfter(1500*time.Millisecond+time.Microsecond, errors.New("busy"))
	}, NewRequest("r"))
	require.True(t, res.IsRetryable())
	require.False(t, res.IsPermanent())
	require.Equal(t, 1500*time.Millisecond, res.RetryAfter(), "millisecond precision, as on the wire")
	require.Equal(t, "busy", res.Message())

	res = Run(t, func(context.Context, pluginsdk.Request) (any, error) { return nil, errors.New("plain") }, NewRequest("plain"))
	require.True(t, res.IsRetryable())
	require.Zero(t, res.RetryAfter())

	res = Run(t, func(context.Context, pluginsdk.Request) (any, error) { panic("kaboom") }, NewRequest("panics"))
	require.True(t, res.IsRetryable())
	require.Equal(t, `handler "panics" panicked: kaboom`, res.Message())

	res = Run(t, func(context.Context, pluginsdk.Request) (any, error) { return func() {}, nil }, NewRequest("bad"))
	require.True(t, res.IsPermanent())
	require.Contains(t, res.Message(), `handler "bad": encoding its results as JSON`)
	require.Nil(t, res.JSON)

	// The request's own decoding errors are the SDK's (permanent).
	res = Run(t, echo, NewRequest("echo"))
	require.True(t, res.IsPermanent())
	require.Contains(t, res.Message(), `no result from dependency step "prev"`)
}

func TestRunFailsTheTest(t *testing.T) {
	t.Parallel()
	msg := fatal(t, func(t testing.TB) {
		Run(t, echo, NewRequest("s").WithContext(make(chan int)).WithResult("prev", func() {}))
	})
	require.Contains(t, msg, `bad request for step "s"`)
	require.Contains(t, msg, "WithContext: cannot encode the chan int as JSON")
	require.Contains(t, msg, `WithResult("prev"): cannot encode the func() as JSON`)

	failed := Run(t, func(context.Context, pluginsdk.Request) (any, error) { return nil, errors.New("down") }, NewRequest("f"))
	msg = fatal(t, func(t testing.TB) { Run(t, echo, NewRequest("s").WithResult("prev", failed)) })
	require.Contains(t, msg, `handler "f" failed, it has no results: down`)

	msg = fatal(t, func(t testing.TB) {
		res := Run(t, func(context.Context, pluginsdk.Request) (any, error) { return nil, errors.New("down") }, NewRequest("f"))
		var v any
		res.Decode(&v)
	})
	require.Equal(t, `plugintest: handler "f" failed (retryable), no results to decode: down`, msg)

	msg = fatal(t, func(t testing.TB) {
		var v []int
		Run(t, echo, NewRequest("e").WithResult("prev", nil)).Decode(&v)
	})
	require.Contains(t, msg, `decoding the results of handler "e" into *[]int`)
}
