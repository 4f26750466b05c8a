package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

// These tests drive the built binary (make build) as a user would: a real
// process with its embedded PostgreSQL and real plugin processes, over HTTP.

const ordersPlugin = "tasker-handler-orders_v1.0.0"

// workdir is a fresh directory holding copies of the binary and the plugins,
// traversable by the unprivileged user tasker switches to when run as root.
func workdir(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"bin/tasker", "bin/plugins/" + ordersPlugin} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run make build first (%v)", p, err)
		}
	}
	dir, err := os.MkdirTemp("", "tasker-e2e-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "plugins"), 0o755))
	copyFile(t, "bin/tasker", filepath.Join(dir, "tasker"))
	plugins, err := os.ReadDir("bin/plugins")
	require.NoError(t, err)
	for _, p := range plugins {
		if strings.HasPrefix(p.Name(), benchPluginPrefix) {
			continue // its 10,000-step template slows every start; bench_e2e_test.go copies it
		}
		copyFile(t, filepath.Join("bin/plugins", p.Name()), filepath.Join(dir, "plugins", p.Name()))
	}
	require.NoError(t, os.CopyFS(filepath.Join(dir, "templates"), os.DirFS("examples/templates")))
	require.NoError(t, os.Chmod(filepath.Join(dir, "templates"), 0o755))
	return dir
}

func copyFile(t *testing.T, src, dst string) {
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, data, 0o755))
}

// node is one running `tasker serve`.
type node struct {
	cmd    *exec.Cmd
	api    *client.Client
	logs   *lockedBuffer
	exited chan struct{}
	err    error
	// embedded is false for a node started with --database-url.
	embedded bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T, dir string, extraArgs ...string) *node {
	t.Helper()
	n, _ := startOn(t, dir, fmt.Sprintf("127.0.0.1:%d", freePort(t)), extraArgs...)
	return n
}

// startOn starts tasker listening on listen (such as 0.0.0.0:port) and
// waits until it is ready, reaching it through 127.0.0.1.
func startOn(t *testing.T, dir, listen string, extraArgs ...string) (*node, string) {
	t.Helper()
	_, port, _ := strings.Cut(listen, ":")
	base := "http://127.0.0.1:" + port + "/tasker"
	n := &node{logs: &lockedBuffer{}, exited: make(chan struct{}), api: client.New(base),
		embedded: !slices.Contains(extraArgs, "--database-url")}
	n.cmd = exec.Command(filepath.Join(dir, "tasker"), append([]string{"serve", "--data-dir", filepath.Join(dir, "data"),
		"--listen", listen, "--plugins-dir", filepath.Join(dir, "plugins"), "--templates-dir", filepath.Join(dir, "templates")}, extraArgs...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	require.NoError(t, n.cmd.Start())
	go func() { n.err = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		// A test that failed half-way still stops tasker in order, so that
		// its PostgreSQL and plugins do not outlive the test.
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(60 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("tasker log:\n%s", n.logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-n.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	require.NoError(t, n.api.WaitReady(ctx), "tasker log:\n%s", n.logs.String())
	return n, base
}

// stop sends SIGTERM and requires a clean exit.
func (n *node) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-n.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("tasker did not stop within 60s after SIGTERM")
	}
	require.NoError(t, n.err, "tasker exit; log:\n%s", n.logs.String())
	require.Contains(t, n.logs.String(), "plugins stopped")
	if n.embedded {
		require.Contains(t, n.logs.String(), "embedded PostgreSQL stopped")
	}
}

// processesUnder lists live processes whose executable lives under dir:
// tasker, its plugins and the PostgreSQL it extracted all do. Zombies are
// dead already (they wait only for a reaper), so they do not count.
func processesUnder(t *testing.T, dir string) []string {
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, dir+"/") {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if _, after, ok := strings.Cut(string(stat), ") "); err == nil && ok && strings.HasPrefix(after, "Z") {
			continue
		}
		out = append(out, e.Name()+" "+exe)
	}
	return out
}

// requireNoProcessesUnder allows the few milliseconds a process needs to
// exit after it said it stopped (PostgreSQL removes its pid file first).
func requireNoProcessesUnder(t *testing.T, dir, why string) {
	t.Helper()
	var left []string
	require.Eventually(t, func() bool {
		left = processesUnder(t, dir)
		return len(left) == 0
	}, 10*time.Second, 20*time.Millisecond, "%s; still running: %v", why, left)
}

func order(id int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"order_id": %d, "amount_cents": 2500, "customer_email": "ada@example.com"}`, id))
}

func waitTask(t *testing.T, n *node, id int64) *core.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task, err := n.api.WaitTask(ctx, id, nil)
	require.NoError(t, err)
	return task
}

func stepsByName(task *core.Task) map[string]core.Step {
	out := map[string]core.Step{}
	for _, s := range task.Steps {
		out[s.Name] = s
	}
	return out
}

func TestEndToEndOrderWorkflow(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	n := start(t, dir)
	ctx := context.Background()

	created, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Namespace: "default", Version: "1.0.0",
		Context: order(42), Initiator: "e2e", Reason: "test", SourceSystem: "ci", Tags: []string{"e2e"}})
	require.NoError(t, err)
	// The engine may claim the first step before the response is written.
	require.Contains(t, []string{core.TaskStatusPending, core.TaskStatusInProgress}, created.Status)
	require.Len(t, created.Steps, 3)

	task := waitTask(t, n, created.TaskID)
	require.Equal(t, core.TaskStatusComplete, task.Status)
	require.Equal(t, []string{"e2e"}, task.Tags)
	steps := stepsByName(task)
	for _, name := range []string{"validate_order", "process_payment", "send_confirmation"} {
		require.Equal(t, core.StepStatusComplete, steps[name].Status, name)
	}
	require.Equal(t, 1, steps["validate_order"].Attempts)
	require.Equal(t, 2, steps["process_payment"].Attempts, "the payment fails transiently once, then succeeds")
	require.Equal(t, 1, steps["send_confirmation"].Attempts)

	var payment struct {
		PaymentID   string `json:"payment_id"`
		AmountCents int    `json:"amount_cents"`
		Status      string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(steps["process_payment"].Results, &payment))
	require.Equal(t, "pay_42", payment.PaymentID)
	require.Equal(t, 2500, payment.AmountCents)
	require.Equal(t, "captured", payment.Status)
	var confirmation map[string]any
	require.NoError(t, json.Unmarshal(steps["send_confirmation"].Results, &confirmation))
	require.Equal(t, "ada@example.com", confirmation["sent_to"])
	require.Equal(t, "pay_42", confirmation["payment_id"])

	require.JSONEq(t, `{"order_id": 42, "amount_cents": 2500, "customer_email": "ada@example.com", "currency": "EUR"}`,
		string(task.Context), "the schema's default is stored")

	// An idempotency key makes a repeated request return the same task: 200, not 201.
	keyed := core.TaskRequest{Name: "order_process", Context: order(43), IdempotencyKey: "order-43"}
	k1, err := n.api.CreateTask(ctx, keyed)
	require.NoError(t, err)
	k2, err := n.api.CreateTask(ctx, keyed)
	require.NoError(t, err)
	require.Equal(t, k1.TaskID, k2.TaskID)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, k1.TaskID).Status)

	// The same handlers through a file template in another namespace.
	express, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Namespace: "express", Context: order(7)})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, express.TaskID).Status)

	// A permanent failure ends the task at once, without retries.
	bad, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Context: order(-1)})
	require.NoError(t, err)
	failed := waitTask(t, n, bad.TaskID)
	require.Equal(t, core.TaskStatusError, failed.Status)
	v := stepsByName(failed)["validate_order"]
	require.Equal(t, core.StepStatusError, v.Status)
	require.Equal(t, 1, v.Attempts)
	require.Contains(t, *v.LastError, "order_id")

	var list struct {
		Tasks []core.Task `json:"tasks"`
		Total int         `json:"total"`
	}
	require.NoError(t, n.api.Do(ctx, http.MethodGet, "/tasks?status=complete", nil, &list))
	require.Len(t, list.Tasks, 3)
	require.NoError(t, n.api.Do(ctx, http.MethodGet, "/tasks?tags=e2e&namespace=default&limit=1", nil, &list))
	require.Len(t, list.Tasks, 1)
	require.Equal(t, 1, list.Total, "only the first task was tagged e2e")

	n.stop(t)
	requireNoProcessesUnder(t, dir, "no tasker, plugin or PostgreSQL process outlives a SIGTERM")
}

func TestEndToEndBadRequests(t *testing.T) {
	t.Parallel()
	n := start(t, workdir(t))
	url := n.api.BaseURL
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		detail                   string
	}{
		{"malformed JSON", "POST", "/tasks", `{"name": "order_process",`, 400, "malformed JSON"},
		{"unknown field", "POST", "/tasks", `{"name": "order_process", "contxt": {}}`, 400, `unknown field "contxt"`},
		{"wrong type", "POST", "/tasks", `{"name": 5}`, 400, `field "name" must be string`},
		{"context not an object", "POST", "/tasks", `{"name": "order_process", "context": [1]}`, 400, `"context" must be a JSON object`},
		{"missing name", "POST", "/tasks", `{}`, 400, `field "name" is required`},
		{"context fails the schema", "POST", "/tasks", `{"name": "order_process", "context": {"order_id": "x", "amount_cents": 0}}`, 400,
			"context does not match the schema of task template default/order_process@1.0.0"},
		{"unknown template", "POST", "/tasks", `{"name": "no_such_task"}`, 404, `no task template named "no_such_task" in namespace "default"`},
		{"unknown version", "POST", "/tasks", `{"name": "order_process", "version": "9.0.0"}`, 404, "has no version 9.0.0 (available: 1.0.0)"},
		{"unknown task", "GET", "/tasks/999999", "", 404, "task 999999 does not exist"},
		{"bad task id", "GET", "/tasks/abc", "", 400, `task id "abc" is not a positive integer`},
		{"bad limit", "GET", "/tasks?limit=-1", "", 400, "limit"},
		{"bad sort", "GET", "/tasks?sort=name%20desc", "", 400, `sort="name desc": want one of task_id`},
		{"bad status", "GET", "/tasks?status=done", "", 400, `status="done": want one of pending`},
		{"unknown route", "GET", "/nope", "", 404, "no route GET /tasker/nope"},
	} {
		req, err := http.NewRequest(tc.method, url+tc.path, strings.NewReader(tc.body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var p struct {
			Status int    `json:"status"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p), tc.name)
		resp.Body.Close()
		require.Equal(t, tc.status, resp.StatusCode, tc.name)
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), tc.name)
		require.Equal(t, tc.status, p.Status, tc.name)
		require.Contains(t, p.Detail, tc.detail, tc.name)
	}

	// A schema violation lists every failing field.
	resp, err := http.Post(url+"/tasks", "application/json",
		strings.NewReader(`{"name": "order_process", "context": {"order_id": "x", "amount_cents": 0}}`))
	require.NoError(t, err)
	var p struct {
		Errors []core.Violation `json:"errors"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	resp.Body.Close()
	var paths []string
	for _, v := range p.Errors {
		paths = append(paths, v.Path)
	}
	require.ElementsMatch(t, []string{"/context", "/context/amount_cents", "/context/order_id"}, paths, "%+v", p.Errors)

	var list struct {
		Tasks []core.Task `json:"tasks"`
	}
	require.NoError(t, n.api.Do(context.Background(), http.MethodGet, "/tasks", nil, &list))
	require.Empty(t, list.Tasks, "no bad request created anything")

	var live map[string]string
	require.NoError(t, n.api.Do(context.Background(), http.MethodGet, "/health/live", nil, &live))
	require.Equal(t, "live", live["status"])
	n.stop(t)
}

func TestEndToEndSIGKILLLeavesNoPluginAndRestarts(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	ctx := context.Background()
	n := start(t, dir)
	done, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Context: order(3)})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, done.TaskID).Status)

	require.NoError(t, n.cmd.Process.Kill())
	<-n.exited
	plugin := filepath.Join(dir, "plugins", ordersPlugin)
	require.Eventually(t, func() bool {
		for _, p := range processesUnder(t, dir) {
			if strings.HasSuffix(p, plugin) {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "the plugin must die with its host")

	// The PostgreSQL the killed tasker left running is found and stopped.
	n = start(t, dir)
	require.Contains(t, n.logs.String(), "leftover PostgreSQL")
	again, err := n.api.Task(ctx, done.TaskID)
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, again.Status)
	n.stop(t)
	requireNoProcessesUnder(t, dir, "one clean stop leaves nothing behind, leftovers included")
}

func TestEndToEndRestartKeepsTasks(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	ctx := context.Background()

	first := time.Now()
	n := start(t, dir)
	t.Logf("first start (extract + initdb + start): %s", time.Since(first).Round(time.Millisecond))
	done, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Context: order(1)})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, done.TaskID).Status)
	n.stop(t)
	requireNoProcessesUnder(t, dir, "a stop leaves nothing running")

	warm := time.Now()
	n = start(t, dir)
	t.Logf("warm restart: %s", time.Since(warm).Round(time.Millisecond))
	require.NotContains(t, n.logs.String(), "extracted PostgreSQL", "a warm restart does not extract again")
	again, err := n.api.Task(ctx, done.TaskID)
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, again.Status, "the task survived the restart")
	require.Equal(t, 2, stepsByName(again)["process_payment"].Attempts)

	next, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Context: order(2)})
	require.NoError(t, err)
	require.Greater(t, next.TaskID, done.TaskID)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, next.TaskID).Status)
	n.stop(t)
}

// embeddedURL reads the connection string of the PostgreSQL that a running
// tasker embeds, from its data directory.
func embeddedURL(t *testing.T, dir string) string {
	pid, err := os.ReadFile(filepath.Join(dir, "data", "pg", "postmaster.pid"))
	require.NoError(t, err)
	lines := strings.Split(string(pid), "\n")
	require.Greater(t, len(lines), 3, "postmaster.pid: %s", pid)
	password, err := os.ReadFile(filepath.Join(dir, "data", "pg-password"))
	require.NoError(t, err)
	return fmt.Sprintf("postgres://tasker:%s@127.0.0.1:%s/tasker?sslmode=disable",
		strings.TrimSpace(string(password)), strings.TrimSpace(lines[3]))
}

func TestEndToEndExternalDatabaseSharedByTwoNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dirA := workdir(t)
	a := start(t, dirA)
	dirB := workdir(t)
	b := start(t, dirB, "--database-url", embeddedURL(t, dirA))
	require.Contains(t, b.logs.String(), "using external PostgreSQL; the embedded one is not started")
	require.NoDirExists(t, filepath.Join(dirB, "data", "pg"), "no embedded PostgreSQL for a node with --database-url")

	var ids []int64
	for i := range 6 {
		node := []*node{a, b}[i%2]
		task, err := node.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Context: order(100 + i)})
		require.NoError(t, err)
		ids = append(ids, task.TaskID)
	}
	for _, id := range ids {
		task := waitTask(t, b, id)
		require.Equal(t, core.TaskStatusComplete, task.Status)
		steps := stepsByName(task)
		require.Equal(t, 1, steps["validate_order"].Attempts, "task %d: no step runs twice", id)
		require.Equal(t, 2, steps["process_payment"].Attempts, "task %d", id)
		require.Equal(t, 1, steps["send_confirmation"].Attempts, "task %d", id)
		fromA, err := a.api.Task(ctx, id)
		require.NoError(t, err)
		require.Equal(t, core.TaskStatusComplete, fromA.Status, "both nodes see one database")
	}
	b.stop(t)
	a.stop(t)
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"version"}, &out, &errOut))
	require.Contains(t, out.String(), "tasker ")
	require.Equal(t, 2, run([]string{"bogus"}, &out, &errOut))
	require.Contains(t, errOut.String(), `unknown command "bogus"`)
}

func TestServeRefusesUnknownSettings(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	cfg := filepath.Join(dir, "tasker.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("engine:\n  wrokers: 2\n"), 0o644))
	out, err := exec.Command(filepath.Join(dir, "tasker"), "serve", "--config", cfg, "--data-dir", filepath.Join(dir, "data")).CombinedOutput()
	require.Error(t, err, "tasker must not start with a misspelt setting")
	require.Contains(t, string(out), "unknown settings engine.wrokers")
	require.NoDirExists(t, filepath.Join(dir, "data", "pg"), "nothing started")

	cmd := exec.Command(filepath.Join(dir, "tasker"), "serve", "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "TASKER_ENGINE_LEASE=10ms")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "engine.lease is 10ms; it must be at least 1s")
}

func TestServeRequiresChecksumsWhenConfigured(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	// Only the orders plugin gets a matching sidecar.
	orders := filepath.Join(dir, "plugins", ordersPlugin)
	data, err := os.ReadFile(orders)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	require.NoError(t, os.WriteFile(orders+".sha256", []byte(hex.EncodeToString(sum[:])+"  "+ordersPlugin+"\n"), 0o644))

	n := start(t, dir, "--require-checksums")
	var status struct {
		Plugins []struct {
			Name string `json:"name"`
		} `json:"plugins"`
	}
	require.NoError(t, n.api.Do(context.Background(), http.MethodGet, "/health/status", nil, &status))
	require.Len(t, status.Plugins, 1, "only the plugin with a matching sidecar loads")
	require.Equal(t, "orders", status.Plugins[0].Name)
	require.Contains(t, n.logs.String(), "plugins.require_checksums is on and tasker-handler-patterns_v1.0.0 has no tasker-handler-patterns_v1.0.0.sha256")
	n.stop(t)
}
