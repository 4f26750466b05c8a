package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Unit tests of the client commands against a fake API: argument parsing,
// what is sent, and the exit code of each kind of answer.

// fakeAPI answers under /tasker with canned documents and records the requests.
type fakeAPI struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	body []string
}

func newFakeAPI(t *testing.T, routes map[string]func(w http.ResponseWriter, r *http.Request)) *fakeAPI {
	f := &fakeAPI{}
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			f.seen, f.body = append(f.seen, r), append(f.body, string(b))
			f.mu.Unlock()
			h(w, r)
		})
	}
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) url() string { return f.URL + "/tasker" }

func (f *fakeAPI) last() (*http.Request, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[len(f.seen)-1], f.body[len(f.body)-1]
}

func answer(status int, doc string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(doc))
	}
}

func problem(status int, detail string) func(http.ResponseWriter, *http.Request) {
	doc, _ := json.Marshal(map[string]any{"type": "about:blank", "status": status, "detail": detail})
	return answer(status, string(doc))
}

const fakeTask = `{"task_id": 12, "name": "order_process", "namespace": "default", "version": "1.0.0", "status": "complete",
 "context": {"order_id": 1}, "tags": ["x"], "created_at": "2026-01-02T03:04:05Z", "completed_at": "2026-01-02T03:04:06Z",
 "workflow_steps": [{"workflow_step_id": 31, "task_id": 12, "name": "validate_order", "handler": "validate_order",
 "status": "complete", "attempts": 1, "retry_limit": 3, "depends_on": []},
 {"workflow_step_id": 32, "task_id": 12, "name": "process_payment", "handler": "process_payment", "status": "error",
 "attempts": 3, "retry_limit": 3, "depends_on": ["validate_order"], "last_error": "gateway\ndown"}]}`

func TestCLIClientFlagsAfterArgumentsAndToken(t *testing.T) {
	api := newFakeAPI(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /tasker/tasks/12": answer(200, fakeTask),
	})
	code, out, errOut := runCLI("task", "show", "12", "--json", "--server", api.url(), "--token", "tsk_secret")
	require.Equal(t, exitOK, code, errOut)
	req, _ := api.last()
	require.Equal(t, "Bearer tsk_secret", req.Header.Get("Authorization"))
	var doc, want map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.NoError(t, json.Unmarshal([]byte(fakeTask), &want))
	require.Equal(t, want, doc, "--json prints the API's document")
	require.True(t, strings.HasPrefix(out, "{\n  \"task_id\": 12,"), "indented, keys in the server's order: %s", out)

	// The same from the environment, flags before the argument, a table.
	t.Setenv("TASKER_SERVER", strings.TrimPrefix(api.url(), "http://"))
	t.Setenv("TASKER_TOKEN", "jwt.from.env")
	code, out, errOut = runCLI("task", "show", "12")
	require.Equal(t, exitOK, code, errOut)
	req, _ = api.last()
	require.Equal(t, "Bearer jwt.from.env", req.Header.Get("Authorization"))
	require.Contains(t, out, "default/order_process@1.0.0")
	require.Regexp(t, `process_payment\s+process_payment\s+error\s+3/3\s+validate_order\s+gateway down`, out)
}

func TestCLIClientCreateSendsTheRequest(t *testing.T) {
	api := newFakeAPI(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /tasker/tasks": answer(200, fakeTask), // an existing task of the same identity
	})
	file := filepath.Join(t.TempDir(), "ctx.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"order_id": 7}`), 0o644))
	code, out, errOut := runCLI("task", "create", "--server", api.url(), "--name", "order_process", "--context", "@"+file,
		"--tag", "a", "--tag", "b", "--bypass", "s1", "--idempotency-key", "k1", "--reason", "r", "--initiator", "i", "--source-system", "s")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "existing task 12: default/order_process@1.0.0, complete\n", out)
	_, body := api.last()
	require.JSONEq(t, `{"name": "order_process", "namespace": "", "version": "", "context": {"order_id": 7}, "initiator": "i",
		"reason": "r", "source_system": "s", "tags": ["a", "b"], "idempotency_key": "k1", "bypass_steps": ["s1"]}`, body)

	cliStdin = strings.NewReader(` {"order_id": 8} `)
	defer func() { cliStdin = os.Stdin }()
	code, _, errOut = runCLI("task", "create", "--name", "order_process", "--context", "-", "--server", api.url())
	require.Equal(t, exitOK, code, errOut)
	_, body = api.last()
	require.Contains(t, body, `"context":{"order_id":8}`)

	for _, bad := range []string{`{"order_id":`, `[1]`, `@/no/such/file.json`} {
		code, _, errOut = runCLI("task", "create", "--name", "x", "--context", bad, "--server", api.url())
		require.Equal(t, exitUsage, code, bad)
		require.Contains(t, errOut, "--context", bad)
	}
	code, _, errOut = runCLI("task", "create", "--server", api.url())
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--name is required")
}

func TestCLIClientExitCodes(t *testing.T) {
	api := newFakeAPI(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /tasker/tasks/1":         problem(404, "task 1 does not exist"),
		"GET /tasker/tasks/2":         problem(401, "missing bearer token"),
		"GET /tasker/tasks/3":         problem(403, "no permission tasker.task:show"),
		"DELETE /tasker/tasks/4":      problem(409, "task 4 is complete"),
		"GET /tasker/tasks/5":         problem(500, "the server could not complete the request"),
		"GET /tasker/tasks/6":         answer(200, `<html>`),
		"GET /tasker/tasks/7":         func(http.ResponseWriter, *http.Request) { time.Sleep(time.Second) },
		"POST /tasker/tasks":          problem(413, "request body too large"),
		"GET /tasker/handlers/nope/x": problem(404, `no task template named "x" in namespace "nope"`),
	})
	t.Setenv("TASKER_TOKEN", "")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"task", "show", "1"}, exitNotFound, "tasker: show task 1: task 1 does not exist (HTTP 404)\n"},
		{[]string{"task", "show", "2"}, exitDenied, "tasker: show task 2: missing bearer token (HTTP 401); give a token with --token or TASKER_TOKEN\n"},
		{[]string{"task", "show", "3", "--token", "t"}, exitDenied, "tasker: show task 3: no permission tasker.task:show (HTTP 403)\n"},
		{[]string{"task", "cancel", "4"}, exitRefused, "tasker: cancel task 4: task 4 is complete (HTTP 409)\n"},
		{[]string{"task", "show", "5"}, exitFailed, "(HTTP 500)"},
		{[]string{"task", "show", "6"}, exitFailed, "tasker: show task 6: unexpected answer (HTTP 200)"},
		{[]string{"task", "show", "7", "--timeout", "100ms"}, exitUnreachable, "tasker: show task 7: no answer from"},
		{[]string{"task", "create", "--name", "x"}, exitRefused, "(HTTP 413)"},
		{[]string{"handlers", "show", "nope", "x"}, exitNotFound, "tasker: show template nope/x: no task template named"},
		{[]string{"task", "show", "x"}, exitUsage, `task id "x" is not a positive integer`},
		{[]string{"task", "show"}, exitUsage, "want one task id, got 0"},
		{[]string{"task", "show", "1", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"task", "frobnicate"}, exitUsage, `tasker task: unknown command "frobnicate"`},
		{[]string{"step", "retry", "1"}, exitUsage, "want a task id and a step"},
		{[]string{"task", "list", "--server", "ftp://x"}, exitUsage, "want an http(s) URL"},
		{[]string{"task", "list", "--limit", "-1"}, exitUsage, "must not be negative"},
	} {
		args := append(tc.args, "--server", api.url())
		if tc.args[len(tc.args)-1] == "ftp://x" {
			args = tc.args
		}
		code, _, errOut := runCLI(args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.msg, tc.args)
	}

	// A closed port: nothing listens.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	code, _, errOut := runCLI("handlers", "list", "--server", closed.URL+"/tasker")
	require.Equal(t, exitUnreachable, code, errOut)
	require.Contains(t, errOut, "tasker: list handlers: cannot reach "+closed.URL)

	// Help is not an error; a group without a command is.
	code, out, _ := runCLI("task", "--help")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "Exit status:")
	code, _, errOut = runCLI("step")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "Usage: tasker step")
	code, _, _ = runCLI("handlers", "show", "-h")
	require.Equal(t, exitOK, code)
}

func TestCLIClientJSONArgAndServerURL(t *testing.T) {
	raw, err := jsonArg("results", `  {"a": [1, 2]} `, false)
	require.NoError(t, err)
	require.Equal(t, `{"a": [1, 2]}`, string(raw))
	raw, err = jsonArg("results", `42`, false)
	require.NoError(t, err)
	require.Equal(t, `42`, string(raw))
	raw, err = jsonArg("results", "", false)
	require.NoError(t, err)
	require.Nil(t, raw)
	_, err = jsonArg("context", `42`, true)
	require.ErrorContains(t, err, "want a JSON object")
	_, err = jsonArg("context", `{} {}`, true)
	require.ErrorContains(t, err, "invalid JSON")

	t.Setenv("TASKER_SERVER", "")
	for given, want := range map[string]string{
		"":                                defaultServer,
		"example.com:9000/tasker/":        "http://example.com:9000/tasker",
		"https://tasker.example.com/api/": "https://tasker.example.com/api",
	} {
		got, err := serverURL(given)
		require.NoError(t, err, given)
		require.Equal(t, want, got, given)
	}
	for _, bad := range []string{"ftp://x/tasker", "http://", "http://x/tasker?a=b"} {
		_, err := serverURL(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "ab…", truncate("abcdef", 3))
	require.Equal(t, "a b c", oneLine("a\n b\tc", 10))
	now := time.Now()
	require.Equal(t, "5m ago", ago(now.Add(-5*time.Minute-time.Second), now))
}
