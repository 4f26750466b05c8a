package plugins

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/hashicorp/go-plugin"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// hostProtocols lists the protocol versions the host speaks; a variable so
// that a test can play a newer host.
var hostProtocols = func() map[int]plugin.PluginSet { return wire.VersionedPlugins(nil) }

// Info describes a loaded plugin.
type Info struct {
	// Name and Version are the plugin's identity (equal to its file name's).
	Name    string `json:"name"`
	Version string `json:"version"`
	// Path is the absolute path of the plugin executable.
	Path string `json:"path"`
	// Handlers are the names of the handlers it provides, sorted.
	Handlers []string `json:"handlers"`
	// Limits are the concurrency limits its handlers declare (see
	// pluginsdk.Plugin.MaxConcurrency); handlers without one are absent.
	Limits map[string]int `json:"limits,omitempty"`
	// Subscriptions are the event subscriptions it declares, sorted by
	// name (see Host.Subscribers).
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
	// Restarts counts the times the host relaunched the plugin after its
	// process exited unexpectedly.
	Restarts int `json:"restarts"`
	// Healthy is false while the plugin's process is down (it crashed and
	// waits for its relaunch, possibly backing off in a crash loop). Its
	// steps wait meanwhile, without using up their attempts.
	Healthy bool `json:"healthy"`
	// Crashes counts its consecutive crashes and failed relaunches.
	Crashes int `json:"crashes"`
}

// Host discovers, launches and owns the handler plugin processes found in
// one directory. Its methods are safe for concurrent use.
type Host struct {
	logger *slog.Logger
	dir    string
	opts   Options // defaults applied

	// ctx is cancelled by Close; relaunches run under it.
	ctx    context.Context
	cancel context.CancelFunc
	// restarts tracks the relaunches in progress; Close waits for them.
	restarts sync.WaitGroup
	// restartBase is the wait before the relaunch that follows a second
	// consecutive crash; it doubles with each further crash (up to
	// maxRestartWait). Tests shorten it.
	restartBase time.Duration

	// mu guards the fields below. It is never held while acquiring a
	// proc's mutex (a proc may acquire it while holding its own).
	mu     sync.Mutex
	closed bool
	procs  []*proc
	// handlers holds, by handler name, the handler of every loaded
	// version of the one plugin that provides it, in load order.
	handlers  map[string][]*pluginHandler
	templates []core.TemplateSource
}

// NewHost returns a host for the plugins in dir with the default Options.
// An empty dir means no plugins. Nothing is started until Load. A nil
// logger discards logs.
func NewHost(logger *slog.Logger, dir string) *Host {
	return NewHostWithOptions(logger, dir, Options{})
}

// Load discovers the plugin executables in the host's directory, launches
// each one, checks its identity with Info() and registers its handlers and
// templates. Several versions of one plugin load side by side, and may
// declare the same handler names. A plugin that fails to start, misreports
// its name or version, declares a handler another loaded plugin (or the
// same version of the same plugin, from another file) already provides is
// logged and skipped (and its process killed). Load returns an error only when the
// directory exists but cannot be read, when ctx ends, or after Close; a
// missing directory loads nothing. Calling Load again loads the plugins
// that appeared since, leaving the running ones alone.
func (h *Host) Load(ctx context.Context) error {
	if h.dir == "" {
		return nil
	}
	cands, err := discover(h.logger, h.dir)
	if err != nil {
		return err
	}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("plugins: loading stopped: %w", err)
		}
		h.mu.Lock()
		closed, loaded := h.closed, h.loadedLocked(c.path)
		h.mu.Unlock()
		if closed {
			return errors.New("plugins: host is closed")
		}
		if loaded {
			continue
		}
		p, err := h.launch(ctx, c)
		if err != nil {
			h.logger.Warn(fmt.Sprintf("skipping plugin %s: %v", c.file, err), slog.String("path", c.path))
			continue
		}
		if err := h.register(p); err != nil {
			p.stop()
			h.logger.Warn(fmt.Sprintf("skipping plugin %s: %v", c.file, err), slog.String("path", c.path))
			continue
		}
		attrs := []any{slog.String("plugin", p.info.Name), slog.String("path", p.info.Path),
			slog.Any("handlers", p.info.Handlers)}
		if p.sum != "" {
			attrs = append(attrs, slog.String("sha256", p.sum))
		}
		h.logger.Info(fmt.Sprintf("loaded plugin %s", p.label), attrs...)
		h.emit("plugin.loaded", map[string]any{"plugin": p.info.Name, "version": p.info.Version,
			"path": p.info.Path, "handlers": p.info.Handlers})
	}
	return nil
}

// loadedLocked reports whether the executable at path is already running.
func (h *Host) loadedLocked(path string) bool {
	return slices.ContainsFunc(h.procs, func(p *proc) bool { return p.info.Path == path })
}

// launch checks the executable against its checksum sidecar, starts the
// plugin process, performs the go-plugin handshake and checks the plugin's
// Info against its file name. On error nothing is left running.
func (h *Host) launch(ctx context.Context, c candidate) (_ *proc, err error) {
	sum, err := verifyChecksum(c, h.opts.RequireChecksums)
	if err != nil {
		return nil, err
	}
	sockDir, err := os.MkdirTemp("", "tasker-plugin-"+c.name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating its socket directory: %w", err)
	}
	cmd := exec.Command(c.path)
	cmd.Env = []string{plugin.EnvUnixSocketDir + "=" + sockDir}
	configureCmd(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: hostProtocols(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     h.opts.StartTimeout,
		Managed:          false,
		Logger:           newHCLogger(h.logger, c.name),
		GRPCDialOptions:  wire.DialOptions(),
	})
	p := &proc{
		host:    h,
		cand:    c,
		info:    Info{Name: c.name, Version: c.version, Path: c.path},
		label:   c.name + " v" + c.version,
		client:  client,
		cmd:     cmd,
		sockDir: sockDir,
		sum:     sum,
	}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	conn, err := client.Client()
	if err != nil {
		return nil, fmt.Errorf("starting it: %w", err)
	}
	raw, err := conn.Dispense(wire.PluginName)
	if err != nil {
		return nil, fmt.Errorf("connecting to it: %w", err)
	}
	rpc, ok := raw.(pluginv1.HandlerPluginClient)
	p.rpc = rpc
	if !ok {
		return nil, fmt.Errorf("connecting to it: unexpected client type %T", raw)
	}
	infoCtx, cancel := context.WithTimeout(ctx, h.opts.StartTimeout)
	defer cancel()
	resp, err := rpc.Info(infoCtx, &pluginv1.InfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("asking for its info: %w", err)
	}
	if resp.GetName() != c.name || resp.GetVersion() != c.version {
		return nil, fmt.Errorf("refused: its file name says plugin %s v%s but it reports itself as plugin %s v%s",
			c.name, c.version, resp.GetName(), resp.GetVersion())
	}
	for _, hi := range resp.GetHandlers() {
		name := hi.GetName()
		if name == "" || slices.Contains(p.info.Handlers, name) {
			return nil, fmt.Errorf("refused: plugin %s declares an empty or duplicate handler name %q", p.label, name)
		}
		p.info.Handlers = append(p.info.Handlers, name)
		if n := hi.GetMaxConcurrency(); n > 0 {
			if p.info.Limits == nil {
				p.info.Limits = map[string]int{}
			}
			p.info.Limits[name] = int(n)
		}
	}
	slices.Sort(p.info.Handlers)
	if p.info.Subscriptions, err = readSubscriptions(p.label, resp.GetSubscriptions()); err != nil {
		return nil, err
	}
	for _, t := range resp.GetTemplates() {
		p.templates = append(p.templates, core.TemplateSource{
			Origin: fmt.Sprintf("plugin %s: %s", p.label, t.GetFileName()),
			YAML:   t.GetYaml(),
		})
	}
	p.started = time.Now()
	return p, nil
}

// register adds a launched plugin's handlers and templates, refusing it
// when one of its handler names is taken by another plugin or by the same
// version of the same plugin (other versions of it may share names).
func (h *Host) register(p *proc) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("the host was closed while it started")
	}
	for _, name := range p.info.Handlers {
		for _, other := range h.handlers[name] {
			if other.p.info.Name != p.info.Name || other.p.info.Version == p.info.Version {
				return fmt.Errorf("refused: plugin %s declares handler %q, which plugin %s (%s) already provides",
					p.label, name, other.p.label, other.p.info.Path)
			}
		}
	}
	for _, name := range p.info.Handlers {
		h.handlers[name] = append(h.handlers[name], &pluginHandler{p: p, name: name, limit: p.info.Limits[name]})
	}
	h.templates = append(h.templates, p.templates...)
	h.procs = append(h.procs, p)
	return nil
}

// Handlers returns the handlers of the loaded plugins by handler name,
// each from the highest loaded version of its plugin. Each one calls its
// plugin process. To register every version, use PluginHandlers for each
// plugin of Plugins.
func (h *Host) Handlers() map[string]core.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]core.Handler, len(h.handlers))
	for name, list := range h.handlers {
		best := list[0]
		for _, ph := range list[1:] {
			if compareVersions(ph.p.info.Version, best.p.info.Version) > 0 {
				best = ph
			}
		}
		out[name] = best
	}
	return out
}

// PluginHandlers returns the handlers of version of the loaded plugin
// called name, by handler name; nil when no such plugin version is loaded.
func (h *Host) PluginHandlers(name, version string) map[string]core.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out map[string]core.Handler
	for hname, list := range h.handlers {
		for _, ph := range list {
			if ph.p.info.Name == name && ph.p.info.Version == version {
				if out == nil {
					out = map[string]core.Handler{}
				}
				out[hname] = ph
			}
		}
	}
	return out
}

// PluginTemplates returns the task templates shipped by version of the
// loaded plugin called name.
func (h *Host) PluginTemplates(name, version string) []core.TemplateSource {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.procs {
		if p.info.Name == name && p.info.Version == version {
			return slices.Clone(p.templates)
		}
	}
	return nil
}

// compareVersions orders two plugin versions (semantic versions, as the
// file name check guarantees); an unparsable one sorts first.
func compareVersions(a, b string) int {
	va, errA := semver.StrictNewVersion(a)
	vb, errB := semver.StrictNewVersion(b)
	if errA != nil || errB != nil {
		return cmp.Compare(boolInt(errA == nil), boolInt(errB == nil))
	}
	return va.Compare(vb)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Templates returns the task templates shipped by the loaded plugins, with
// origins like "plugin orders v1.0.0: order_process.yaml".
func (h *Host) Templates() []core.TemplateSource {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.templates)
}

// Plugins describes the loaded plugins, in load (file name) order.
func (h *Host) Plugins() []Info {
	h.mu.Lock()
	procs := slices.Clone(h.procs)
	h.mu.Unlock()
	out := make([]Info, 0, len(procs))
	for _, p := range procs {
		i := p.info
		i.Handlers = slices.Clone(i.Handlers)
		i.Subscriptions = slices.Clone(i.Subscriptions)
		p.mu.Lock()
		i.Restarts, i.Crashes = p.restarts, p.crashes
		i.Healthy = p.down == nil && p.client != nil && !p.client.Exited()
		p.mu.Unlock()
		out = append(out, i)
	}
	return out
}

// Close stops restarting plugins, kills every plugin process and waits
// until they are gone. It is idempotent; afterwards the handlers fail with
// retryable errors saying that the host is shutting down, and Load refuses
// to run.
func (h *Host) Close() {
	h.mu.Lock()
	h.closed = true
	procs := h.procs
	h.procs = nil
	h.mu.Unlock()
	h.cancel()
	h.restarts.Wait() // a relaunch finishing now kills what it started
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.stop)
	}
	wg.Wait()
}
