package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/status"

	"github.com/tasker-systems/tasker/pluginsdk"
	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// startTimeout bounds the launch, handshake and Info call, as in the host.
const startTimeout = 10 * time.Second

// Info is what a plugin says about itself.
type Info struct {
	Name    string
	Version string
	// Handlers are the names of its handlers, sorted.
	Handlers []string
	// Limits are the MaxConcurrency its handlers declare; handlers without
	// one are absent.
	Limits map[string]int
	// Templates maps the file name of each task template it ships (relative
	// to its templates file system) to the template's YAML.
	Templates map[string]string
	// Subscriptions maps the name of each event subscription it declares
	// (pluginsdk.Subscribe) to its globs on event names.
	Subscriptions map[string][]string
}

// Plugin is a plugin process started by Start.
type Plugin struct {
	t     testing.TB
	label string
	pid   int
	info  Info
	rpc   pluginv1.HandlerPluginClient
}

// Start launches the plugin executable at path the way the tasker host
// does (the go-plugin handshake, plugin set and gRPC options of package
// wire, gRPC only, AutoMTLS, an environment holding only what go-plugin
// needs) and asks for its Info. Like the host, it refuses (failing the
// test) a file not named tasker-handler-<name>_v<version> or a plugin that
// reports another name or version. The plugin's log lines go to t.Log.
// The process is killed, and waited for, in t.Cleanup.
func Start(t testing.TB, path string) *Plugin {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	file := filepath.Base(abs)
	name, version, ok := wire.ParseFileName(file)
	if !ok {
		t.Fatalf("plugintest: %s: the host only loads executables named %s<name>_v<version> (see plugintest.Build)", abs, wire.FilePrefix)
	}
	p := &Plugin{t: t, label: name + " v" + version}

	sockDir, err := os.MkdirTemp("", "plugintest-"+name+"-")
	if err != nil {
		t.Fatalf("plugintest: creating the socket directory of plugin %s: %v", p.label, err)
	}
	logs := &testLog{t: t}
	cmd := exec.Command(abs)
	cmd.Env = []string{plugin.EnvUnixSocketDir + "=" + sockDir}
	configureCmd(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.VersionedPlugins(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     startTimeout,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "plugin", Output: logs, Level: hclog.Info, DisableTime: true,
		}),
		GRPCDialOptions: wire.DialOptions(),
	})
	t.Cleanup(func() {
		client.Kill() // waits until the process is gone
		_ = os.RemoveAll(sockDir)
		logs.close()
	})

	conn, err := client.Client()
	if err != nil {
		t.Fatalf("plugintest: starting plugin %s (%s): %v", p.label, abs, err)
	}
	if cmd.Process != nil {
		p.pid = cmd.Process.Pid
	}
	raw, err := conn.Dispense(wire.PluginName)
	if err != nil {
		t.Fatalf("plugintest: connecting to plugin %s: %v", p.label, err)
	}
	rpc, ok := raw.(pluginv1.HandlerPluginClient)
	if !ok {
		t.Fatalf("plugintest: connecting to plugin %s: unexpected client type %T", p.label, raw)
	}
	p.rpc = rpc

	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	resp, err := rpc.Info(ctx, &pluginv1.InfoRequest{})
	if err != nil {
		t.Fatalf("plugintest: asking plugin %s for its info: %v", p.label, err)
	}
	if resp.GetName() != name || resp.GetVersion() != version {
		t.Fatalf("plugintest: the host would refuse %s: its file name says plugin %s v%s but it reports itself as plugin %s v%s",
			abs, name, version, resp.GetName(), resp.GetVersion())
	}
	p.info = Info{Name: resp.GetName(), Version: resp.GetVersion(), Templates: map[string]string{}}
	for _, hi := range resp.GetHandlers() {
		h := hi.GetName()
		if h == "" || slices.Contains(p.info.Handlers, h) {
			t.Fatalf("plugintest: the host would refuse plugin %s: empty or duplicate handler name %q", p.label, h)
		}
		p.info.Handlers = append(p.info.Handlers, h)
		if n := hi.GetMaxConcurrency(); n > 0 {
			if p.info.Limits == nil {
				p.info.Limits = map[string]int{}
			}
			p.info.Limits[h] = int(n)
		}
	}
	slices.Sort(p.info.Handlers)
	for _, tmpl := range resp.GetTemplates() {
		p.info.Templates[tmpl.GetFileName()] = string(tmpl.GetYaml())
	}
	for _, sub := range resp.GetSubscriptions() {
		if p.info.Subscriptions == nil {
			p.info.Subscriptions = map[string][]string{}
		}
		if _, dup := p.info.Subscriptions[sub.GetName()]; dup || !wire.ValidName(sub.GetName()) {
			t.Fatalf("plugintest: the host would refuse plugin %s: invalid or duplicate subscription name %q", p.label, sub.GetName())
		}
		p.info.Subscriptions[sub.GetName()] = slices.Clone(sub.GetEvents())
	}
	return p
}

// Info returns what the plugin said about itself when it started.
func (p *Plugin) Info() Info {
	i := p.info
	i.Handlers = slices.Clone(i.Handlers)
	i.Subscriptions = maps.Clone(i.Subscriptions)
	return i
}

// PID is the plugin's process ID.
func (p *Plugin) PID() int { return p.pid }

// Execute runs one attempt of the plugin's handler named handler over gRPC,
// with the request the host would send, and maps the answer as the host
// does: the handler's failures keep their kind, message and retry delay;
// empty results are JSON null; results that are not valid JSON are a
// permanent failure. When ctx ends first, the result is a retryable failure
// wrapping ctx.Err(). Any other transport error (the plugin crashed, say)
// fails the test. Like t.Fatal, call it from the test's goroutine.
func (p *Plugin) Execute(ctx context.Context, handler string, req Request) Result {
	p.t.Helper()
	in := req.SDK(p.t, handler)
	deps := make(map[string][]byte, len(in.DependencyResults))
	for name, raw := range in.DependencyResults {
		deps[name] = raw
	}
	resp, err := p.rpc.Execute(ctx, &pluginv1.ExecuteRequest{
		TaskId: in.TaskID, StepId: in.StepID, StepName: in.StepName, Handler: handler,
		Namespace: in.Namespace, TaskName: in.TaskName, TaskVersion: in.TaskVersion,
		Attempt:               int32(max(math.MinInt32, min(math.MaxInt32, in.Attempt))),
		ContextJson:           in.Context,
		HandlerConfigJson:     in.HandlerConfig,
		DependencyResultsJson: deps,
		InputsJson:            in.Inputs,
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return newFailure(p.t, handler, pluginsdk.Retryable(
				fmt.Errorf("plugin %s: call to handler %q abandoned: %w", p.label, handler, ctxErr)))
		}
		st := status.Convert(err)
		p.t.Fatalf("plugintest: plugin %s failed during the call to handler %q: %s: %s", p.label, handler, st.Code(), st.Message())
	}
	if e := resp.GetError(); e != nil {
		return fromWire(p.t, handler, e)
	}
	results := resp.GetResultsJson()
	if len(results) == 0 {
		results = []byte("null")
	}
	if !json.Valid(results) {
		return newFailure(p.t, handler, pluginsdk.PermanentErrorf(
			"plugin %s: handler %q returned results that are not valid JSON", p.label, handler))
	}
	var events []pluginsdk.Event
	for _, e := range resp.GetEvents() {
		events = append(events, pluginsdk.Event{Name: e.GetName(), Payload: e.GetPayloadJson()})
	}
	return Result{t: p.t, handler: handler, JSON: results, Events: events}
}

// fromWire rebuilds a handler's failure from the wire, with the pluginsdk
// marks that match its kind (an unspecified kind is retryable).
func fromWire(t testing.TB, handler string, e *pluginv1.StepError) Result {
	err := errors.New(e.GetMessage())
	switch {
	case e.GetKind() == pluginv1.StepError_KIND_PERMANENT:
		err = pluginsdk.Permanent(err)
	case e.GetRetryAfterMs() > 0:
		err = pluginsdk.RetryAfter(time.Duration(e.GetRetryAfterMs())*time.Millisecond, err)
	default:
		err = pluginsdk.Retryable(err)
	}
	return newFailure(t, handler, err)
}

// testLog writes go-plugin's log (including the plugin's stderr) to t.Log
// until close, after which t may be finished and lines are dropped.
type testLog struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// exeSuffix is the suffix of executables on this system.
func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}
