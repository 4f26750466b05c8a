package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/pluginsdk"
)

// request is a request for step, with handler_config config (JSON, "" for
// none) and the given dependency results (JSON by step name).
func request(step string, attempt int, config string, deps map[string]string) pluginsdk.Request {
	if config == "" {
		config = "null"
	}
	results := map[string]json.RawMessage{}
	for name, raw := range deps {
		results[name] = json.RawMessage(raw)
	}
	return pluginsdk.Request{
		TaskID: 1, StepID: 2, StepName: step, Handler: "work", Attempt: attempt,
		Context: json.RawMessage("{}"), HandlerConfig: json.RawMessage(config),
		DependencyResults: results,
	}
}

func runWork(t *testing.T, req pluginsdk.Request) (result, error) {
	t.Helper()
	res, err := work(context.Background(), req)
	if err != nil {
		require.Nil(t, res)
		return result{}, err
	}
	b, err := json.Marshal(res)
	require.NoError(t, err)
	var out result
	require.NoError(t, json.Unmarshal(b, &out))
	return out, nil
}

func TestWorkSumsItsInputs(t *testing.T) {
	t.Parallel()
	res, err := runWork(t, request("root", 1, "", nil))
	require.NoError(t, err)
	require.Equal(t, result{Step: "root", Attempt: 1, Inputs: []string{}, Sum: 1}, res)

	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.JSONEq(t, `{"step": "root", "attempt": 1, "inputs": [], "sum": 1}`, string(b), "no inputs is [], not null")

	res, err = runWork(t, request("join", 2, `{}`, map[string]string{
		"right": `{"step": "right", "sum": 2}`,
		"left":  `{"step": "left", "sum": 5}`,
		"other": `null`,
	}))
	require.NoError(t, err)
	require.Equal(t, result{Step: "join", Attempt: 2, Inputs: []string{"left", "other", "right"}, Sum: 8}, res)

	_, err = runWork(t, request("join", 1, "", map[string]string{"left": `"not an object"`}))
	require.ErrorContains(t, err, `decoding the result of dependency step "left"`)
	require.True(t, pluginsdk.IsPermanent(err))
}

func TestWorkFailTimes(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := runWork(t, request("left", attempt, `{"fail_times": 2}`, nil))
		require.EqualError(t, err, fmt.Sprintf("simulated transient failure %d/2", attempt))
		require.False(t, pluginsdk.IsPermanent(err))
		require.Zero(t, pluginsdk.RetryDelay(err))
	}
	res, err := runWork(t, request("left", 3, `{"fail_times": 2}`, map[string]string{"start": `{"sum": 1}`}))
	require.NoError(t, err)
	require.Equal(t, result{Step: "left", Attempt: 3, Inputs: []string{"start"}, Sum: 2}, res)
}

func TestWorkRetryAfter(t *testing.T) {
	t.Parallel()
	_, err := runWork(t, request("b", 1, `{"fail_times": 1, "retry_after_ms": 300}`, nil))
	require.EqualError(t, err, "simulated transient failure 1/1")
	require.False(t, pluginsdk.IsPermanent(err))
	require.Equal(t, 300*time.Millisecond, pluginsdk.RetryDelay(err))

	_, err = runWork(t, request("b", 2, `{"fail_times": 1, "retry_after_ms": 300}`, nil))
	require.NoError(t, err)
}

func TestWorkFailPermanently(t *testing.T) {
	t.Parallel()
	for _, attempt := range []int{1, 2} {
		_, err := runWork(t, request("left", attempt, `{"fail_permanently": true}`, nil))
		require.ErrorContains(t, err, "simulated permanent failure")
		require.True(t, pluginsdk.IsPermanent(err))
	}
	_, err := runWork(t, request("left", 1, `{"fail_permanently": false}`, nil))
	require.NoError(t, err)
}

func TestWorkSleepsAndStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, err := runWork(t, request("s", 1, `{"sleep_ms": 50}`, nil))
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = work(ctx, request("s", 1, `{"sleep_ms": 10000}`, nil))
	require.ErrorContains(t, err, "interrupted after less than 10000 ms")
	require.False(t, pluginsdk.IsPermanent(err))
}

func TestWorkRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for config, msg := range map[string]string{
		`{"fail_time": 2, "retry_after": 5, "fail_times": 1}`: `step "s": unknown handler_config keys: fail_time, retry_after (known: fail_permanently, fail_times, retry_after_ms, sleep_ms)`,
		`{"fail_times": -1}`:                      "fail_times must not be negative",
		`{"sleep_ms": -1}`:                        "sleep_ms must not be negative",
		`{"fail_times": 1, "retry_after_ms": -5}`: "retry_after_ms must not be negative",
		`{"retry_after_ms": 300}`:                 "retry_after_ms has no effect without fail_times",
		`{"fail_times": "2"}`:                     "decoding the handler_config",
		`[1, 2]`:                                  "decoding the handler_config",
	} {
		// Attempt 3 is past any fail_times above: only the config can fail it.
		_, err := runWork(t, request("s", 3, config, nil))
		require.ErrorContains(t, err, msg, config)
		require.True(t, pluginsdk.IsPermanent(err), config)
	}
}

// TestTemplates parses every shipped template as tasker does, then runs it
// through work in dependency order, as the engine would, retrying each step
// up to its retry limit: the plain patterns complete with the sums their
// DAGs imply, and each fault template fails as its description says.
func TestTemplates(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(files, "templates/*.yaml")
	require.NoError(t, err)
	want := map[string]struct {
		namespace string
		attempts  map[string]int    // by step; 1 when absent
		errors    map[string]string // failed steps and their last error
		sums      map[string]int    // of some steps
	}{
		"linear":             {"patterns", nil, nil, map[string]int{"d": 4}},
		"diamond":            {"patterns", nil, nil, map[string]int{"join": 5}},
		"tree":               {"patterns", nil, nil, map[string]int{"leaf_a1": 3, "leaf_b2": 3}},
		"parallel_merge":     {"patterns", nil, nil, map[string]int{"merge": 4}},
		"mixed":              {"patterns", nil, nil, map[string]int{"r": 6, "finish": 9}},
		"diamond_flaky":      {"patterns_faults", map[string]int{"left": 3}, nil, map[string]int{"join": 5}},
		"diamond_exhausted":  {"patterns_faults", map[string]int{"left": 3}, map[string]string{"left": "simulated transient failure 3/5"}, nil},
		"diamond_permanent":  {"patterns_faults", nil, map[string]string{"left": "simulated permanent failure on attempt 1"}, nil},
		"linear_retry_after": {"patterns_faults", map[string]int{"b": 2}, nil, map[string]int{"d": 4}},
	}
	require.Len(t, names, len(want))
	for _, name := range names {
		data, err := fs.ReadFile(files, name)
		require.NoError(t, err)
		tmpl, err := core.ParseTemplate(core.TemplateSource{Origin: name, YAML: data})
		require.NoError(t, err)
		w, ok := want[tmpl.Name]
		require.True(t, ok, "unexpected template %s", tmpl.Name)
		require.Equal(t, tmpl.Name+".yaml", path.Base(name))
		require.Equal(t, w.namespace, tmpl.Namespace, name)
		require.Equal(t, "1.0.0", tmpl.Version, name)

		results := map[string]string{}
		errs := map[string]string{}
		for len(results)+len(errs) < len(tmpl.Steps) {
			progress := false
			for _, st := range tmpl.Steps {
				_, done := results[st.Name]
				if _, failed := errs[st.Name]; done || failed {
					continue
				}
				deps := map[string]string{}
				for _, d := range st.Dependencies() {
					if r, ok := results[d]; ok {
						deps[d] = r
					}
				}
				if len(deps) < len(st.Dependencies()) {
					continue
				}
				require.Equal(t, "work", st.Handler, name)
				require.NotNil(t, st.RetryBackoffMS, name)
				require.Equal(t, 10, *st.RetryBackoffMS, name)
				config, err := json.Marshal(st.HandlerConfig)
				require.NoError(t, err)
				limit := core.DefaultRetryLimit
				if st.RetryLimit != nil {
					limit = *st.RetryLimit
				}
				progress = true
				for attempt := 1; ; attempt++ {
					res, err := runWork(t, request(st.Name, attempt, string(config), deps))
					if err == nil {
						require.Equal(t, max(w.attempts[st.Name], 1), attempt, "%s: attempts of %s", name, st.Name)
						b, _ := json.Marshal(res)
						results[st.Name] = string(b)
						break
					}
					if pluginsdk.IsPermanent(err) || attempt == limit {
						require.Equal(t, max(w.attempts[st.Name], 1), attempt, "%s: attempts of %s", name, st.Name)
						errs[st.Name] = err.Error()
						break
					}
				}
			}
			if !progress {
				break // the rest wait on failed steps
			}
		}
		if w.errors == nil {
			w.errors = map[string]string{}
		}
		require.Equal(t, w.errors, errs, name)
		for step, sum := range w.sums {
			var r result
			require.NoError(t, json.Unmarshal([]byte(results[step]), &r), "%s: %s", name, step)
			require.Equal(t, sum, r.Sum, "%s: sum of %s", name, step)
		}
	}
}
