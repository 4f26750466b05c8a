package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
)

const (
	// defaultRestartBase is the wait before relaunching a plugin that
	// crashed twice in a row; it doubles with every further crash.
	defaultRestartBase = time.Second
	// maxRestartWait caps the wait between relaunches.
	maxRestartWait = 60 * time.Second
	// stableUptime is how long a plugin must stay up for its next crash to
	// count as the first one again.
	stableUptime = 60 * time.Second
	// exitGrace bounds how long a call that failed in transit waits for
	// go-plugin to notice that the process exited.
	exitGrace = 2 * time.Second
)

// proc is one plugin: its identity, which never changes, and its current
// process, which the host replaces when the process exits unexpectedly.
//
// A process that exited is noticed by the next Execute (or by the call it
// broke). The first crash is relaunched at once; each further consecutive
// crash (or failed relaunch) waits restartBase, then twice that, ... up to
// maxRestartWait, and meanwhile Execute fails fast with a retryable error
// whose RetryAfter is the time left. One relaunch at a time runs per
// plugin, in its own goroutine; concurrent Executes wait for it.
type proc struct {
	host  *Host
	cand  candidate
	info  Info
	label string // "orders v1.0.0"
	// templates are the task templates the plugin shipped when loaded.
	templates []core.TemplateSource

	mu     sync.Mutex // guards the fields below
	client *plugin.Client
	rpc    pluginv1.HandlerPluginClient
	cmd    *exec.Cmd
	// sockDir holds the plugin's Unix socket; removed by stop, so that a
	// plugin killed by a signal leaves no socket file behind.
	sockDir string
	// sum is the SHA-256 the executable was verified against when the
	// current process was launched; "" when it has no sidecar.
	sum string
	// started is when the current process was launched.
	started time.Time
	// down is the exited client whose crash has been counted; nil while
	// the current process runs or its exit was not noticed yet.
	down *plugin.Client
	// crashes counts consecutive crashes and failed relaunches.
	crashes int
	// retryAt is the earliest time of the next relaunch.
	retryAt time.Time
	// relaunching is closed when the relaunch in progress ends; nil when
	// none is.
	relaunching chan struct{}
	// restarts counts successful relaunches.
	restarts int
	// relaunchErr is why the last relaunch failed (a refused checksum,
	// say); nil after a successful one. Calls failing during the wait
	// that follows repeat it.
	relaunchErr error
}

// stop kills the plugin process, waits for it to exit and removes its
// socket directory. It may be called more than once.
func (p *proc) stop() {
	p.mu.Lock()
	client, sockDir := p.client, p.sockDir
	p.mu.Unlock()
	client.Kill()
	_ = os.RemoveAll(sockDir)
}

// acquire returns the client of a running plugin process, relaunching the
// process (or waiting for the relaunch in progress) when it has exited. It
// fails with a retryable *core.StepError when the host is closed or the
// relaunch must wait, and with an error wrapping ctx.Err() when ctx ends
// first.
func (p *proc) acquire(ctx context.Context, handler string) (*plugin.Client, pluginv1.HandlerPluginClient, error) {
	for {
		p.mu.Lock()
		if p.host.isClosed() {
			p.mu.Unlock()
			return nil, nil, p.shuttingDown(handler)
		}
		if ch := p.relaunching; ch != nil {
			p.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("plugin %s: handler %q not called while the plugin restarts: %w", p.label, handler, ctx.Err())
			}
		}
		if !p.client.Exited() {
			client, rpc := p.client, p.rpc
			p.mu.Unlock()
			return client, rpc, nil
		}
		p.noteExitLocked(p.client)
		if wait := time.Until(p.retryAt); wait > 0 {
			crashes, why := p.crashes, p.relaunchErr
			p.mu.Unlock()
			return nil, nil, p.waitError(wait, crashes, why, handler)
		}
		started := p.relaunchLocked()
		p.mu.Unlock()
		if !started {
			return nil, nil, p.shuttingDown(handler)
		}
	}
}

// brokenCall explains a call that failed in transit. When the process
// exited (go-plugin may take a moment to notice), the crash is counted and
// the relaunch started unless it must wait; the returned error then says
// so and carries the wait as RetryAfter.
func (p *proc) brokenCall(ctx context.Context, client *plugin.Client, code codes.Code, msg string) *core.StepError {
	if code == codes.Unavailable || code == codes.Canceled || code == codes.Unknown {
		waitExited(ctx, client, exitGrace)
	}
	if !client.Exited() {
		return &core.StepError{Kind: core.Retryable, Message: msg}
	}
	p.mu.Lock()
	p.noteExitLocked(client)
	crashes, wait := p.crashes, time.Until(p.retryAt)
	if wait <= 0 && p.client == client && p.relaunching == nil {
		p.relaunchLocked()
	}
	p.mu.Unlock()
	if wait <= 0 {
		return &core.StepError{Kind: core.Retryable, Message: msg + " (the plugin process exited; restarting it)"}
	}
	wait = roundWait(wait)
	return &core.StepError{
		Kind:       core.Retryable,
		Message:    fmt.Sprintf("%s (the plugin process exited; crashed %d times in a row; restarting in %s)", msg, crashes, wait),
		RetryAfter: wait,
	}
}

// waitExited polls until client's process is known to have exited, for at
// most grace or until ctx ends.
func waitExited(ctx context.Context, client *plugin.Client, grace time.Duration) {
	for end := time.Now().Add(grace); !client.Exited() && time.Now().Before(end) && ctx.Err() == nil; {
		time.Sleep(5 * time.Millisecond)
	}
}

// noteExitLocked counts the exit of client, the current process, as a
// crash (once) and schedules the relaunch. p.mu is held.
func (p *proc) noteExitLocked(client *plugin.Client) {
	if p.client != client || p.down == client {
		return
	}
	p.down = client
	now := time.Now()
	uptime := now.Sub(p.started)
	if uptime >= stableUptime {
		p.crashes = 0
	}
	p.crashes++
	wait := p.host.restartWait(p.crashes)
	p.retryAt = now.Add(wait)
	attrs := []any{
		slog.String("plugin", p.info.Name), slog.Int("pid", pidOf(client)),
		slog.Duration("uptime", uptime.Round(time.Millisecond)),
		slog.Int("crashes", p.crashes), slog.Duration("restart_in", wait),
	}
	if ps := p.cmd.ProcessState; ps != nil { // set once Exited() is true
		attrs = append(attrs, slog.String("exit", ps.String()))
	}
	p.host.logger.Warn(fmt.Sprintf("plugin %s exited unexpectedly; restarting", p.label), attrs...)
	reason := "exited unexpectedly"
	if ps := p.cmd.ProcessState; ps != nil {
		reason += ": " + ps.String()
	}
	p.host.emit("plugin.crashed", map[string]any{"plugin": p.info.Name, "version": p.info.Version, "error": reason})
}

// relaunchLocked starts relaunching the plugin in the background, unless
// the host is closed. p.mu is held.
func (p *proc) relaunchLocked() bool {
	h := p.host
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	h.restarts.Add(1)
	h.mu.Unlock()
	p.relaunching = make(chan struct{})
	go p.relaunch(p.relaunching, p.client, p.sockDir)
	return true
}

// relaunch cleans up after the exited process, launches a new one the way
// Load did and swaps it in. On failure it counts one more crash.
func (p *proc) relaunch(done chan struct{}, old *plugin.Client, oldSock string) {
	h := p.host
	defer h.restarts.Done()
	defer close(done)
	old.Kill()
	_ = os.RemoveAll(oldSock)

	n, err := h.launch(h.ctx, p.cand)
	if err == nil && !slices.Equal(n.info.Handlers, p.info.Handlers) {
		err = fmt.Errorf("refused: it now declares handlers %v instead of %v", n.info.Handlers, p.info.Handlers)
		n.stop()
	}
	if err == nil && !slices.EqualFunc(n.info.Subscriptions, p.info.Subscriptions, func(a, b Subscription) bool {
		return a.Name == b.Name && slices.Equal(a.Events, b.Events)
	}) {
		err = fmt.Errorf("refused: it now declares subscriptions %v instead of %v", n.info.Subscriptions, p.info.Subscriptions)
		n.stop()
	}
	if !p.swapIn(n, err) && err == nil {
		n.stop() // the host was closed meanwhile
	}
}

// swapIn records the outcome of a relaunch: the new process n, or the
// error. It reports false, taking nothing, when the host was closed.
func (p *proc) swapIn(n *proc, err error) bool {
	h := p.host
	p.mu.Lock()
	defer p.mu.Unlock()
	p.relaunching = nil
	if h.isClosed() {
		return false
	}
	if err != nil {
		p.relaunchErr = err
		p.crashes++
		wait := h.restartWait(p.crashes)
		p.retryAt = time.Now().Add(wait)
		h.logger.Error(fmt.Sprintf("plugin %s restart failed: %v", p.label, err),
			slog.String("plugin", p.info.Name), slog.String("path", p.info.Path),
			slog.Int("crashes", p.crashes), slog.Duration("restart_in", wait))
		h.emit("plugin.unhealthy", map[string]any{"plugin": p.info.Name, "version": p.info.Version,
			"error": err.Error(), "retry_in_ms": wait.Milliseconds()})
		return true
	}
	p.client, p.rpc, p.cmd, p.sockDir = n.client, n.rpc, n.cmd, n.sockDir
	p.started, p.down, p.sum, p.relaunchErr = n.started, nil, n.sum, nil
	p.restarts++
	h.logger.Info(fmt.Sprintf("plugin %s restarted", p.label),
		slog.String("plugin", p.info.Name), slog.Int("restarts", p.restarts),
		slog.Int("pid", pidOf(n.client)), slog.Int("crashes", p.crashes))
	h.emit("plugin.restarted", map[string]any{"plugin": p.info.Name, "version": p.info.Version, "restarts": p.restarts})
	return true
}

// restartWait is the wait before relaunching after the given number of
// consecutive crashes: none after the first, then restartBase, doubling,
// capped at maxRestartWait.
func (h *Host) restartWait(crashes int) time.Duration {
	if crashes <= 1 {
		return 0
	}
	wait := h.restartBase
	for i := 2; i < crashes && wait < maxRestartWait; i++ {
		wait *= 2
	}
	return min(wait, maxRestartWait)
}

// isClosed reports whether Close was called.
func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// pidOf returns the process id of client's plugin, or 0 if unknown.
func pidOf(client *plugin.Client) int {
	if rc := client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}
