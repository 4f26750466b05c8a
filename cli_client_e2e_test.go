package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// The client commands as a script runs them: the built binary as a
// subprocess against one real tasker, checking output and exit codes.

// cliRun runs the tasker binary with args against server (when not empty)
// and returns its exit code, stdout and stderr.
func cliRun(t *testing.T, bin, server string, args ...string) (int, string, string) {
	t.Helper()
	if server != "" {
		args = append(args, "--server", server)
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

var createdRe = regexp.MustCompile(`(?m)^created task (\d+): `)

func createdID(t *testing.T, stdout string) int64 {
	t.Helper()
	m := createdRe.FindStringSubmatch(stdout)
	require.NotNil(t, m, "no task id in %q", stdout)
	id, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	return id
}

func TestCLIClientEndToEnd(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	n := start(t, dir)
	bin, url := filepath.Join(dir, "tasker"), n.api.BaseURL
	ctx := context.Background()
	cli := func(t *testing.T, args ...string) (int, string, string) { return cliRun(t, bin, url, args...) }

	var orderID, failedID int64
	t.Run("create --wait follows the task to the end", func(t *testing.T) {
		code, out, errOut := cli(t, "task", "create", "--name", "order_process", "--context", string(order(42)),
			"--tag", "cli-e2e", "--reason", "cli test", "--wait")
		require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		orderID = createdID(t, out)
		require.Contains(t, out, "default/order_process@1.0.0")
		// The transient failure may come and go between two polls; the retry shows.
		require.Regexp(t, `process_payment\s+complete\s+attempt 2  \{`, out)
		require.Regexp(t, `send_confirmation\s+complete\s+attempt 1  \{`, out)
		require.Contains(t, out, "=> task "+strconv.FormatInt(orderID, 10)+" COMPLETE in ")
	})

	t.Run("--wait on a failing workflow exits 7", func(t *testing.T) {
		code, out, errOut := cli(t, "task", "create", "--namespace", "patterns_faults", "--name", "diamond_permanent", "--wait")
		require.Equal(t, exitTaskFailed, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		failedID = createdID(t, out)
		require.Regexp(t, `left\s+error\s+attempt 1  simulated permanent failure`, out)
		require.Contains(t, errOut, "ended error: step left failed: simulated permanent failure")
	})

	t.Run("list shows the task", func(t *testing.T) {
		code, out, errOut := cli(t, "task", "list", "--tag", "cli-e2e")
		require.Equal(t, exitOK, code, errOut)
		require.Regexp(t, `(?m)^ID\s+TEMPLATE\s+STATUS\s+CREATED\s+TAGS$`, out)
		require.Regexp(t, `(?m)^`+strconv.FormatInt(orderID, 10)+`\s+default/order_process@1\.0\.0\s+complete\s+\S+ ago\s+cli-e2e$`, out)
		require.Contains(t, out, "showing 1–1 of 1")

		code, out, errOut = cli(t, "task", "list", "--json", "--status", "error", "--limit", "5")
		require.Equal(t, exitOK, code, errOut)
		var list struct {
			Tasks []core.Task `json:"tasks"`
			Total int         `json:"total"`
			Limit int         `json:"limit"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &list), out)
		require.Equal(t, 5, list.Limit)
		require.Equal(t, 1, list.Total)
		require.Equal(t, failedID, list.Tasks[0].TaskID)
	})

	t.Run("show lists the steps; --json is the API's document", func(t *testing.T) {
		code, out, errOut := cli(t, "task", "show", strconv.FormatInt(orderID, 10))
		require.Equal(t, exitOK, code, errOut)
		require.Regexp(t, `status\s+complete`, out)
		require.Regexp(t, `tags\s+cli-e2e`, out)
		require.Regexp(t, `(?m)^STEP\s+HANDLER\s+STATUS\s+ATTEMPTS\s+DEPENDS ON\s+LAST ERROR$`, out)
		require.Regexp(t, `(?m)^process_payment\s+process_payment\s+complete\s+2/3\s+validate_order\s`, out)

		code, out, errOut = cli(t, "task", "show", strconv.FormatInt(orderID, 10), "--json")
		require.Equal(t, exitOK, code, errOut)
		raw, _, err := n.api.DoRaw(ctx, http.MethodGet, "/tasks/"+strconv.FormatInt(orderID, 10), nil)
		require.NoError(t, err)
		require.JSONEq(t, string(raw), out)
	})

	t.Run("step resolve by name", func(t *testing.T) {
		code, out, errOut := cli(t, "step", "resolve", strconv.FormatInt(failedID, 10), "left", "--results", `{"sum": 5}`, "--reason", "by hand")
		require.Equal(t, exitOK, code, errOut)
		require.Regexp(t, `^step \d+ \(left\) of task \d+ resolved by hand: now resolved_manually\n$`, out)
		done := waitTask(t, n, failedID)
		require.Equal(t, core.TaskStatusComplete, done.Status)
		var join struct {
			Sum int `json:"sum"`
		}
		require.NoError(t, json.Unmarshal(stepsByName(done)["join"].Results, &join))
		require.Equal(t, 1+5+2, join.Sum, "join saw the results given on the command line")

		code, _, errOut = cli(t, "step", "retry", strconv.FormatInt(failedID, 10), "no_such_step")
		require.Equal(t, exitNotFound, code)
		require.Contains(t, errOut, "its steps: start (")
	})

	t.Run("cancel and retry", func(t *testing.T) {
		code, out, errOut := cli(t, "task", "create", "--namespace", "patterns_faults", "--name", "diamond_permanent", "--wait")
		require.Equal(t, exitTaskFailed, code, errOut)
		id := strconv.FormatInt(createdID(t, out), 10)

		code, out, errOut = cli(t, "step", "retry", id, stepIDOf(t, n, id, "left"), "--reason", "try again")
		require.Equal(t, exitOK, code, errOut)
		require.Regexp(t, `^step \d+ \(left\) of task `+id+` retried: now `, out)
		require.Equal(t, core.TaskStatusError, waitTask(t, n, mustInt(t, id)).Status, "it fails permanently again")

		code, out, errOut = cli(t, "task", "cancel", id, "--reason", "give up")
		require.Equal(t, exitOK, code, errOut)
		require.Equal(t, "task "+id+" cancelled: now cancelled\n", out)
		code, _, errOut = cli(t, "task", "cancel", id)
		require.Equal(t, exitRefused, code, "cancelling twice is a conflict")
		require.Regexp(t, `^tasker: cancel task `+id+`: .* \(HTTP 409\)\n$`, errOut)

		code, out, errOut = cli(t, "task", "retry", id)
		require.Equal(t, exitOK, code, errOut)
		require.Regexp(t, `^task `+id+` retried: now (pending|in_progress|error)\n$`, out)
	})

	t.Run("handlers list and show", func(t *testing.T) {
		code, out, errOut := cli(t, "handlers", "list")
		require.Equal(t, exitOK, code, errOut)
		require.Regexp(t, `(?m)^NAMESPACE\s+TEMPLATES$`, out)
		require.Regexp(t, `(?m)^patterns_faults\s+4$`, out)

		code, out, errOut = cli(t, "handlers", "show", "patterns")
		require.Equal(t, exitOK, code, errOut)
		require.Regexp(t, `(?m)^diamond\s+1\.0\.0\s+Fan out`, out)

		code, out, errOut = cli(t, "handlers", "show", "patterns", "diamond", "--version", "1.0.0")
		require.Equal(t, exitOK, code, errOut)
		require.Contains(t, out, "template  patterns/diamond@1.0.0")
		require.Regexp(t, `(?m)^join\s+work\s+left, right\s+2\s`, out)
		require.Contains(t, out, "  1  left, right\n")
		require.Contains(t, out, "execution order: start -> left -> right -> join")

		code, out, errOut = cli(t, "handlers", "list", "--json")
		require.Equal(t, exitOK, code, errOut)
		namespaces, err := n.api.Namespaces(ctx)
		require.NoError(t, err)
		var doc struct {
			Namespaces json.RawMessage `json:"namespaces"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		want, _ := json.Marshal(namespaces)
		require.JSONEq(t, string(want), string(doc.Namespaces))
	})

	t.Run("exit codes", func(t *testing.T) {
		code, _, errOut := cli(t, "task", "show", "999999")
		require.Equal(t, exitNotFound, code)
		require.Equal(t, "tasker: show task 999999: task 999999 does not exist (HTTP 404)\n", errOut)

		code, _, errOut = cli(t, "task", "create", "--name", "no_such_template")
		require.Equal(t, exitNotFound, code, "a missing template is a 404")
		require.Contains(t, errOut, `no task template named "no_such_template"`)

		code, _, errOut = cli(t, "task", "create", "--name", "order_process", "--context", `{"order_id": "x", "amount_cents": 0}`)
		require.Equal(t, exitRefused, code)
		require.Regexp(t, `^tasker: create task: context does not match the schema .*/context/order_id.* \(HTTP 400\)\n$`, errOut)

		code, _, errOut = cli(t, "task", "list", "--frobnicate")
		require.Equal(t, exitUsage, code)
		require.Contains(t, errOut, "flag provided but not defined: -frobnicate")

		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		code, _, errOut = cliRun(t, bin, closed.URL+"/tasker", "task", "list")
		require.Equal(t, exitUnreachable, code)
		require.Contains(t, errOut, "cannot reach "+closed.URL)
	})
}

func mustInt(t *testing.T, s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return id
}

func stepIDOf(t *testing.T, n *node, taskID, name string) string {
	steps, err := n.api.Steps(context.Background(), mustInt(t, taskID))
	require.NoError(t, err)
	for _, s := range steps {
		if s.Name == name {
			return strconv.FormatInt(s.StepID, 10)
		}
	}
	t.Fatalf("task %s has no step %s", taskID, name)
	return ""
}
