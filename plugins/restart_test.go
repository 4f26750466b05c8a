package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// slowHost starts a host on a fresh directory holding only the slow test
// plugin, with the given restart backoff base.
func slowHost(t *testing.T, base time.Duration) (*Host, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, slowBinary, dir, slowFile, 0o755)
	logs := &syncBuffer{}
	h := NewHost(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), dir)
	h.restartBase = base
	t.Cleanup(h.Close)
	require.NoError(t, h.Load(context.Background()))
	require.Len(t, h.Plugins(), 1)
	return h, logs
}

// sleepRequest asks the slow plugin's handler (sleep or crash) to run; sleep
// sleeps ms milliseconds.
func sleepRequest(handler string, ms int) core.StepRequest {
	req := stepRequest(handler, 1, json.RawMessage(`{}`), nil)
	req.HandlerConfig = json.RawMessage(fmt.Sprintf(`{"ms": %d}`, ms))
	return req
}

// waitNoticed waits until the host has noticed that the plugin's current
// process exited.
func waitNoticed(t *testing.T, h *Host, name string) {
	t.Helper()
	p := loadedProc(t, h, name)
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.client.Exited()
	}, 10*time.Second, 5*time.Millisecond)
}

// processesOf lists the running processes started from the executable at
// path (its argv[0]).
func processesOf(t *testing.T, path string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		if argv0, _, _ := bytes.Cut(cmdline, []byte{0}); string(argv0) == path {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestRestartAfterKill(t *testing.T) {
	t.Parallel()
	h, logs := loadedHost(t, nil)
	oldPID, oldSock := running(t, h, "orders")
	handler := h.Handlers()["validate_order"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	require.NoError(t, syscall.Kill(oldPID, syscall.SIGKILL))
	waitNoticed(t, h, "orders")

	out, err := handler.Execute(ctx, stepRequest("validate_order", 1, orderCtx, nil))
	require.NoError(t, err, "the host relaunches the killed plugin")
	require.JSONEq(t, `{"order_id": 42, "valid": true, "amount_cents": 1999}`, string(out))

	newPID, newSock := running(t, h, "orders")
	require.NotEqual(t, oldPID, newPID)
	require.True(t, alive(newPID))
	require.NoDirExists(t, oldSock, "the killed plugin's socket is cleaned up")
	require.DirExists(t, newSock)
	require.Equal(t, 1, h.Plugins()[0].Restarts)
	require.Equal(t, []int{newPID}, processesOf(t, h.Plugins()[0].Path))

	log := logs.String()
	require.Regexp(t, `level=WARN msg="plugin orders v1.0.0 exited unexpectedly; restarting" plugin=orders pid=`+
		strconv.Itoa(oldPID)+` .*crashes=1 restart_in=0s exit="signal: killed"`, log)
	require.Regexp(t, `level=INFO msg="plugin orders v1.0.0 restarted" plugin=orders restarts=1 pid=`+
		strconv.Itoa(newPID)+` crashes=1`, log)

	h.Close()
	require.False(t, alive(newPID), "the relaunched plugin is killed by Close")
	require.NoDirExists(t, newSock)
}

func TestConcurrentExecutesShareOneRestart(t *testing.T) {
	t.Parallel()
	h, logs := loadedHost(t, nil)
	pid, _ := running(t, h, "orders")
	handler := h.Handlers()["validate_order"]
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitNoticed(t, h, "orders")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = handler.Execute(ctx, stepRequest("validate_order", 1, orderCtx, nil))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, h.Plugins()[0].Restarts)
	require.Equal(t, 1, strings.Count(logs.String(), "plugin orders v1.0.0 restarted"))
	require.Len(t, processesOf(t, h.Plugins()[0].Path), 1)
}

func TestKilledMidCall(t *testing.T) {
	t.Parallel()
	h, logs := slowHost(t, defaultRestartBase)
	oldPID, _ := running(t, h, "slow")
	handler := h.Handlers()["sleep"]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	done := make(chan error, 1)
	go func() {
		_, err := handler.Execute(ctx, sleepRequest("sleep", 30_000))
		done <- err
	}()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `msg=sleeping plugin=slow`) },
		10*time.Second, 5*time.Millisecond, "the call reaches the plugin")
	require.NoError(t, syscall.Kill(oldPID, syscall.SIGKILL))

	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a call to a killed plugin must not hang")
	}
	se := requireStepError(t, err, core.Retryable)
	require.Contains(t, se.Message, `plugin slow v1.0.0 failed during the call to handler "sleep"`)
	require.Contains(t, se.Message, "(the plugin process exited; restarting it)")
	require.Zero(t, se.RetryAfter, "the first crash is relaunched at once")

	out, err := handler.Execute(ctx, sleepRequest("sleep", 1))
	require.NoError(t, err)
	require.JSONEq(t, `{"slept_ms": 1}`, string(out))
	newPID, _ := running(t, h, "slow")
	require.NotEqual(t, oldPID, newPID)
}

func TestCrashLoopBacksOff(t *testing.T) {
	t.Parallel()
	const base = 200 * time.Millisecond
	h, logs := slowHost(t, base)
	crash, sleep := h.Handlers()["crash"], h.Handlers()["sleep"]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The first crash is relaunched at once: no wait.
	_, err := crash.Execute(ctx, sleepRequest("crash", 0))
	se := requireStepError(t, err, core.Retryable)
	require.Contains(t, se.Message, "(the plugin process exited; restarting it)")
	require.Zero(t, se.RetryAfter)

	want := base
	for crashes := 2; crashes <= 4; crashes++ {
		// The call crashes the relaunched plugin; the next relaunch waits.
		_, err = crash.Execute(ctx, sleepRequest("crash", 0))
		se = requireStepError(t, err, core.Retryable)
		require.Contains(t, se.Message, fmt.Sprintf("the plugin process exited; crashed %d times in a row; restarting in ", crashes))
		require.False(t, se.NotRun, "the handler did run (and crashed): that attempt counts")
		require.Greater(t, se.RetryAfter, want/2, se.Message)
		require.LessOrEqual(t, se.RetryAfter, want, se.Message)

		// Meanwhile calls fail fast, telling when to come back.
		start := time.Now()
		_, err = sleep.Execute(ctx, sleepRequest("sleep", 1))
		require.Less(t, time.Since(start), base/2, "no relaunch before the wait is over")
		se = requireStepError(t, err, core.Retryable)
		require.Regexp(t, fmt.Sprintf(`^plugin slow v1.0.0 crashed %d times in a row; restarting in \d+ms; handler "sleep" was not called$`, crashes), se.Message)
		require.True(t, se.NotRun, "a call refused while the plugin restarts costs the step no attempt")
		require.False(t, h.Plugins()[0].Healthy, "down while it backs off")
		require.Equal(t, crashes, h.Plugins()[0].Crashes)
		require.Greater(t, se.RetryAfter, time.Duration(0))
		require.LessOrEqual(t, se.RetryAfter, want)
		time.Sleep(se.RetryAfter)
		want *= 2
	}

	out, err := sleep.Execute(ctx, sleepRequest("sleep", 1))
	require.NoError(t, err)
	require.JSONEq(t, `{"slept_ms": 1}`, string(out))
	require.Equal(t, 4, h.Plugins()[0].Restarts)
	require.True(t, h.Plugins()[0].Healthy, "running again")
	require.Contains(t, logs.String(), `level=WARN msg="plugin slow v1.0.0 exited unexpectedly; restarting" plugin=slow`)
	require.Contains(t, logs.String(), `crashes=4 restart_in=800ms exit="exit status 1"`)
}

func TestCloseDuringBackoff(t *testing.T) {
	t.Parallel()
	h, _ := slowHost(t, time.Second)
	path := h.Plugins()[0].Path
	crash := h.Handlers()["crash"]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for range 2 {
		_, err := crash.Execute(ctx, sleepRequest("crash", 0))
		requireStepError(t, err, core.Retryable)
	}
	_, err := crash.Execute(ctx, sleepRequest("crash", 0))
	se := requireStepError(t, err, core.Retryable)
	require.Contains(t, se.Message, "crashed 2 times in a row; restarting in 1s")
	require.Equal(t, time.Second, se.RetryAfter)
	_, sockDir := running(t, h, "slow")

	h.Close()
	require.Empty(t, processesOf(t, path))
	require.NoDirExists(t, sockDir)
	_, err = crash.Execute(ctx, sleepRequest("crash", 0))
	se = requireStepError(t, err, core.Retryable)
	require.Equal(t, `plugin slow v1.0.0: the host is shutting down; handler "crash" was not called`, se.Message)

	// Once the wait is over, nothing relaunches the plugin either.
	time.Sleep(1200 * time.Millisecond)
	_, err = h.Handlers()["sleep"].Execute(ctx, sleepRequest("sleep", 1))
	se = requireStepError(t, err, core.Retryable)
	require.Contains(t, se.Message, "the host is shutting down")
	require.Empty(t, processesOf(t, path))
}

func TestRestartWait(t *testing.T) {
	t.Parallel()
	h := NewHost(nil, "")
	for crashes, want := range map[int]time.Duration{
		0: 0, 1: 0, 2: time.Second, 3: 2 * time.Second, 4: 4 * time.Second,
		7: 32 * time.Second, 8: time.Minute, 1000: time.Minute,
	} {
		require.Equal(t, want, h.restartWait(crashes), "after %d crashes", crashes)
	}
}

func TestStableUptimeResetsCrashCount(t *testing.T) {
	t.Parallel()
	h, _ := slowHost(t, time.Minute)
	crash, sleep := h.Handlers()["crash"], h.Handlers()["sleep"]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, err := crash.Execute(ctx, sleepRequest("crash", 0))
	require.Contains(t, requireStepError(t, err, core.Retryable).Message, "restarting it")
	_, err = sleep.Execute(ctx, sleepRequest("sleep", 1))
	require.NoError(t, err)

	// The relaunched plugin has been up for longer than stableUptime: its
	// next crash counts as a first one, relaunched at once.
	p := loadedProc(t, h, "slow")
	p.mu.Lock()
	p.started = p.started.Add(-stableUptime)
	p.mu.Unlock()
	_, err = crash.Execute(ctx, sleepRequest("crash", 0))
	se := requireStepError(t, err, core.Retryable)
	require.Contains(t, se.Message, "(the plugin process exited; restarting it)")
	require.Zero(t, se.RetryAfter)
	_, err = sleep.Execute(ctx, sleepRequest("sleep", 1))
	require.NoError(t, err)
	require.Equal(t, 2, h.Plugins()[0].Restarts)
}
