package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// handlers are the plugin's handlers, by the names step templates use.
func handlers() map[string]pluginsdk.Handler {
	return map[string]pluginsdk.Handler{"work": work}
}

// faults is work's handler_config: the failures to inject.
type faults struct {
	// FailTimes fails the step retryably on attempts 1..FailTimes.
	FailTimes int `json:"fail_times"`
	// FailPermanently fails the step with a permanent error on every attempt.
	FailPermanently bool `json:"fail_permanently"`
	// RetryAfterMS makes the retryable failures of FailTimes ask the engine
	// to wait this long before the next attempt.
	RetryAfterMS int `json:"retry_after_ms"`
	// SleepMS makes every attempt take this long (or until it is cancelled),
	// so that tests can kill a node or a plugin while the step runs.
	SleepMS int `json:"sleep_ms"`
}

// knownConfigKeys are the handler_config keys work understands, sorted.
var knownConfigKeys = []string{"fail_permanently", "fail_times", "retry_after_ms", "sleep_ms"}

// result is work's result.
type result struct {
	// Step is the name of the step that ran.
	Step string `json:"step"`
	// Attempt is the attempt that succeeded.
	Attempt int `json:"attempt"`
	// Inputs are the names of the dependency results the step received, sorted.
	Inputs []string `json:"inputs"`
	// Sum is 1 plus the sums of the dependency results.
	Sum int `json:"sum"`
}

// work is the one handler of every pattern step: it adds 1 to the sums of its
// dependency results, after failing as its handler_config asks.
func work(ctx context.Context, req pluginsdk.Request) (any, error) {
	f, err := decodeFaults(req)
	if err != nil {
		return nil, err
	}
	if f.SleepMS > 0 {
		select {
		case <-time.After(time.Duration(f.SleepMS) * time.Millisecond):
		case <-ctx.Done():
			return nil, pluginsdk.Retryable(fmt.Errorf("interrupted after less than %d ms: %w", f.SleepMS, ctx.Err()))
		}
	}
	if f.FailPermanently {
		return nil, pluginsdk.Permanent(fmt.Errorf("simulated permanent failure on attempt %d", req.Attempt))
	}
	if req.Attempt <= f.FailTimes {
		err := fmt.Errorf("simulated transient failure %d/%d", req.Attempt, f.FailTimes)
		if f.RetryAfterMS > 0 {
			return nil, pluginsdk.RetryAfter(time.Duration(f.RetryAfterMS)*time.Millisecond, err)
		}
		return nil, pluginsdk.Retryable(err)
	}

	res := result{Step: req.StepName, Attempt: req.Attempt, Inputs: []string{}, Sum: 1}
	for name := range req.DependencyResults {
		res.Inputs = append(res.Inputs, name)
	}
	slices.Sort(res.Inputs)
	for _, name := range res.Inputs {
		var dep struct {
			Sum int `json:"sum"`
		}
		if err := req.DecodeResult(name, &dep); err != nil {
			return nil, err
		}
		res.Sum += dep.Sum
	}
	pluginsdk.Logger(ctx).Info("work done", "inputs", res.Inputs, "sum", res.Sum)
	return res, nil
}

// decodeFaults decodes the handler_config. Unknown keys and negative numbers
// are permanent errors, so that a typo in a template fails its step at once
// instead of silently injecting nothing.
func decodeFaults(req pluginsdk.Request) (faults, error) {
	var f faults
	var raw map[string]any
	if err := req.DecodeConfig(&raw); err != nil {
		return f, err
	}
	var unknown []string
	for key := range raw {
		if !slices.Contains(knownConfigKeys, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return f, pluginsdk.PermanentErrorf("step %q: unknown handler_config keys: %s (known: %s)",
			req.StepName, strings.Join(unknown, ", "), strings.Join(knownConfigKeys, ", "))
	}
	if err := req.DecodeConfig(&f); err != nil {
		return f, err
	}
	switch {
	case f.FailTimes < 0:
		return f, pluginsdk.PermanentErrorf("step %q: handler_config fail_times must not be negative, got %d", req.StepName, f.FailTimes)
	case f.SleepMS < 0:
		return f, pluginsdk.PermanentErrorf("step %q: handler_config sleep_ms must not be negative, got %d", req.StepName, f.SleepMS)
	case f.RetryAfterMS < 0:
		return f, pluginsdk.PermanentErrorf("step %q: handler_config retry_after_ms must not be negative, got %d", req.StepName, f.RetryAfterMS)
	case f.RetryAfterMS > 0 && f.FailTimes == 0:
		return f, pluginsdk.PermanentErrorf("step %q: handler_config retry_after_ms has no effect without fail_times", req.StepName)
	}
	return f, nil
}
