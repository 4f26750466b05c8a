package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

const (
	ordersFile = "tasker-handler-orders_v1.0.0"
	slowFile   = "tasker-handler-slow_v1.0.0"
)

// ordersBinary is the example plugin and slowBinary the test plugin of
// testdata/slowplugin, built once by TestMain.
var ordersBinary, slowBinary string

// versionedBinaries are builds of testdata/versioned by file name: versions
// 1.0.0 and 1.1.0 of plugin "versioned", and plugin "clash" v1.0.0, which
// declares the same handler.
var versionedBinaries = map[string]string{}

var versionedBuilds = map[string]string{
	"tasker-handler-versioned_v1.0.0": "-X main.version=1.0.0",
	"tasker-handler-versioned_v1.1.0": "-X main.version=1.1.0",
	"tasker-handler-clash_v1.0.0":     "-X main.name=clash -X main.version=1.0.0",
}

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tasker-plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o755)
	ordersBinary = filepath.Join(dir, ordersFile)
	slowBinary = filepath.Join(dir, slowFile)
	builds := map[string][]string{
		ordersBinary: {"github.com/tasker-systems/tasker/examples/orders"},
		slowBinary:   {"github.com/tasker-systems/tasker/plugins/testdata/slowplugin"},
	}
	for file, ldflags := range versionedBuilds {
		bin := filepath.Join(dir, file)
		versionedBinaries[file] = bin
		builds[bin] = []string{"-ldflags", ldflags, "github.com/tasker-systems/tasker/plugins/testdata/versioned"}
	}
	for bin, args := range builds {
		pkg := args[len(args)-1]
		cmd := exec.Command("go", append([]string{"build", "-o", bin}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building plugin", pkg+":", err)
			return 1
		}
	}
	return m.Run()
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// copyPlugin copies the example plugin into dir under the given name.
func copyPlugin(t *testing.T, dir, name string, mode os.FileMode) {
	t.Helper()
	copyFile(t, ordersBinary, dir, name, mode)
}

// copyFile copies the file src into dir under the given name.
func copyFile(t *testing.T, src, dir, name string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	dst, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	require.NoError(t, err)
	_, err = io.Copy(dst, in)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

// loadedHost starts a host on a fresh directory holding the orders plugin
// plus whatever extra() puts there, and returns it with its log.
func loadedHost(t *testing.T, extra func(dir string)) (*Host, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	copyPlugin(t, dir, ordersFile, 0o755)
	if extra != nil {
		extra(dir)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := NewHost(logger, dir)
	t.Cleanup(h.Close)
	require.NoError(t, h.Load(context.Background()))
	return h, logs
}

// loadedProc returns the loaded plugin called name.
func loadedProc(t *testing.T, h *Host, name string) *proc {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.procs {
		if p.info.Name == name {
			return p
		}
	}
	t.Fatalf("plugin %s not loaded", name)
	return nil
}

// running returns the loaded plugin's current PID and socket directory.
func running(t *testing.T, h *Host, name string) (pid int, sockDir string) {
	t.Helper()
	p := loadedProc(t, h, name)
	p.mu.Lock()
	defer p.mu.Unlock()
	rc := p.client.ReattachConfig()
	require.NotNil(t, rc)
	return rc.Pid, p.sockDir
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

var orderCtx = json.RawMessage(`{"order_id": 42, "amount_cents": 1999, "customer_email": "ada@example.com"}`)

func stepRequest(handler string, attempt int, ctx json.RawMessage, deps map[string]json.RawMessage) core.StepRequest {
	return core.StepRequest{
		TaskID: 1, StepID: 2, StepName: handler, Handler: handler,
		Namespace: "default", TaskName: "order_process", TaskVersion: "1.0.0",
		Attempt: attempt, Context: ctx, HandlerConfig: json.RawMessage("null"),
		DependencyResults: deps,
	}
}

func requireStepError(t *testing.T, err error, kind core.ErrorKind) *core.StepError {
	t.Helper()
	var se *core.StepError
	require.True(t, errors.As(err, &se), "want *core.StepError, got %T: %v", err, err)
	require.Equal(t, kind, se.Kind, se.Message)
	return se
}

func TestLoad(t *testing.T) {
	t.Parallel()
	h, _ := loadedHost(t, nil)

	infos := h.Plugins()
	require.Len(t, infos, 1)
	require.Equal(t, "orders", infos[0].Name)
	require.Equal(t, "1.0.0", infos[0].Version)
	require.Equal(t, ordersFile, filepath.Base(infos[0].Path))
	require.True(t, filepath.IsAbs(infos[0].Path))
	require.Equal(t, []string{"process_payment", "send_confirmation", "validate_order"}, infos[0].Handlers)

	require.Len(t, h.Handlers(), 3)
	require.Contains(t, h.Handlers(), "process_payment")

	templates := h.Templates()
	require.Len(t, templates, 1)
	require.Equal(t, "plugin orders v1.0.0: order_process.yaml", templates[0].Origin)
	require.Contains(t, string(templates[0].YAML), "name: order_process")
}

func TestExecute(t *testing.T) {
	t.Parallel()
	h, logs := loadedHost(t, nil)
	handlers := h.Handlers()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	validated, err := handlers["validate_order"].Execute(ctx, stepRequest("validate_order", 1, orderCtx, nil))
	require.NoError(t, err)
	require.JSONEq(t, `{"order_id": 42, "valid": true, "amount_cents": 1999}`, string(validated))
	// The plugin's log line reaches the host's slog, at its level, tagged
	// with the plugin and the step.
	require.Eventually(t, func() bool {
		line := regexp.MustCompile(`(?m)^.*level=INFO msg="order validated" plugin=orders .*$`).FindString(logs.String())
		return strings.Contains(line, " task_id=1") && strings.Contains(line, " step_id=2")
	}, 5*time.Second, 20*time.Millisecond, logs.String())

	deps := map[string]json.RawMessage{"validate_order": validated}
	_, err = handlers["process_payment"].Execute(ctx, stepRequest("process_payment", 1, orderCtx, deps))
	se := requireStepError(t, err, core.Retryable)
	require.Equal(t, "payment gateway timed out (simulated transient failure on first attempt)", se.Message)
	require.Zero(t, se.RetryAfter)

	paid, err := handlers["process_payment"].Execute(ctx, stepRequest("process_payment", 2, orderCtx, deps))
	require.NoError(t, err)
	require.JSONEq(t, `{"payment_id": "pay_42", "amount_cents": 1999, "status": "captured"}`, string(paid))

	confirmed, err := handlers["send_confirmation"].Execute(ctx, stepRequest("send_confirmation", 1, orderCtx,
		map[string]json.RawMessage{"process_payment": paid}))
	require.NoError(t, err)
	require.Contains(t, string(confirmed), `"sent_to":"ada@example.com"`)

	_, err = handlers["validate_order"].Execute(ctx, stepRequest("validate_order", 1, json.RawMessage(`{"order_id": -1, "amount_cents": 5}`), nil))
	se = requireStepError(t, err, core.Permanent)
	require.Contains(t, se.Message, "order_id must be positive")
}

func TestExecuteHonoursCancellation(t *testing.T) {
	t.Parallel()
	h, _ := loadedHost(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Handlers()["validate_order"].Execute(ctx, stepRequest("validate_order", 1, orderCtx, nil))
	require.ErrorIs(t, err, context.Canceled)
}

func TestIgnoredFiles(t *testing.T) {
	t.Parallel()
	h, logs := loadedHost(t, func(dir string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("hi"), 0o644))
		copyPlugin(t, dir, "tasker-handler-x_v1.0.0", 0o644)
		require.NoError(t, os.Mkdir(filepath.Join(dir, "tasker-handler-d_v1.0.0"), 0o755))
	})
	require.Len(t, h.Plugins(), 1)
	out := logs.String()
	require.Contains(t, out, "ignoring README.md: not named tasker-handler-<name>_v<semver>")
	require.Contains(t, out, "ignoring tasker-handler-x_v1.0.0: not executable")
	require.Contains(t, out, "ignoring tasker-handler-d_v1.0.0: not a regular file")
}

func TestNameMismatchRefused(t *testing.T) {
	t.Parallel()
	h, logs := loadedHost(t, func(dir string) {
		copyPlugin(t, dir, "tasker-handler-other_v2.0.0", 0o755)
	})
	infos := h.Plugins()
	require.Len(t, infos, 1, "the mismatched copy is refused, the real one loads")
	require.Equal(t, "orders", infos[0].Name)
	require.Contains(t, logs.String(),
		"skipping plugin tasker-handler-other_v2.0.0: refused: its file name says plugin other v2.0.0 but it reports itself as plugin orders v1.0.0")
}

func TestDuplicateHandlersRefused(t *testing.T) {
	t.Parallel()
	// A second copy of the orders plugin, in another directory that the
	// same host then loads, declares the same handlers.
	h, logs := loadedHost(t, func(dir string) {
		sub := filepath.Join(dir, "other")
		require.NoError(t, os.Mkdir(sub, 0o755))
		copyPlugin(t, sub, ordersFile, 0o755)
	})
	require.Len(t, h.Plugins(), 1)

	h.dir = filepath.Join(filepath.Dir(h.Plugins()[0].Path), "other")
	require.NoError(t, h.Load(context.Background()))
	require.Len(t, h.Plugins(), 1)
	require.Regexp(t, `refused: plugin orders v1.0.0 declares handler \\"\w+\\", which plugin orders v1.0.0 \(.+\) already provides`, logs.String())
}

func TestMissingAndEmptyDir(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	h := NewHost(slog.New(slog.NewTextHandler(logs, nil)), filepath.Join(t.TempDir(), "nope"))
	require.NoError(t, h.Load(context.Background()))
	require.Empty(t, h.Plugins())
	require.Contains(t, logs.String(), "plugins directory does not exist")

	h = NewHost(nil, "")
	require.NoError(t, h.Load(context.Background()))
	require.Empty(t, h.Handlers())
	h.Close()
}

func TestCloseLeavesNoProcess(t *testing.T) {
	t.Parallel()
	h, _ := loadedHost(t, nil)
	p, sockDir := running(t, h, "orders")
	require.True(t, alive(p))
	require.DirExists(t, sockDir)
	handler := h.Handlers()["validate_order"]

	h.Close()
	require.False(t, alive(p), "plugin process %d still running after Close", p)
	require.NoDirExists(t, sockDir)
	h.Close() // idempotent
	require.Empty(t, h.Plugins())

	_, err := handler.Execute(context.Background(), stepRequest("validate_order", 1, orderCtx, nil))
	se := requireStepError(t, err, core.Retryable)
	require.Contains(t, se.Message, "plugin orders v1.0.0")
	require.Error(t, h.Load(context.Background()))
}
