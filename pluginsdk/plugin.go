package pluginsdk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// Handshake is the go-plugin handshake shared by the tasker host and every
// plugin (the same value as wire.Handshake). Serve uses it; handler authors
// rarely need it.
var Handshake = wire.Handshake

// Handler runs one attempt of one step. The returned value is encoded with
// encoding/json as the step's results (nil encodes as JSON null; a
// json.RawMessage is passed through). A returned error fails the attempt:
// mark it with Permanent, Retryable or RetryAfter; unmarked errors are
// retryable. A panic is recovered and reported as a retryable error.
//
// ctx is cancelled when the host gives up on the call (timeout, shutdown);
// long-running handlers should honour it.
type Handler func(ctx context.Context, req Request) (any, error)

// Plugin describes a handler plugin: its identity, its handlers and the
// task templates it ships.
type Plugin struct {
	// Name of the plugin: lowercase letters, digits, '-' and '_'. It must
	// match the <name> in the executable's file name,
	// tasker-handler-<name>_v<version>.
	Name string
	// Version is the plugin's semantic version without a leading "v"
	// (1.0.0, 2.1.0-rc.1). It must match the file name's <version>.
	Version string
	// Handlers maps handler names, as step templates refer to them, to
	// their implementations.
	Handlers map[string]Handler
	// MaxConcurrency caps, per handler name, how many steps of that handler
	// run at once on one tasker node (for an API with a connection limit,
	// say). Handlers not listed are limited only by the node's workers.
	MaxConcurrency map[string]int
	// Templates holds the task template YAML files (*.yaml, *.yml, in any
	// sub-directory) shipped with the plugin, usually an embed.FS narrowed
	// with fs.Sub. May be nil.
	Templates fs.FS
	// Subscriptions are the plugin's durable subscriptions to tasker's
	// events (see Subscribe); tasker delivers the matching events to
	// them, in order, at least once.
	Subscriptions []Subscription
}

// validate checks the plugin's identity and handlers.
func (p Plugin) validate() error {
	var errs []error
	if !wire.ValidName(p.Name) {
		errs = append(errs, fmt.Errorf("plugin name %q must be lowercase letters, digits, '-' and '_'", p.Name))
	}
	if !wire.ValidVersion(p.Version) {
		errs = append(errs, fmt.Errorf("plugin %s: version %q is not a semantic version MAJOR.MINOR.PATCH (without a leading v)", p.Name, p.Version))
	}
	if len(p.Handlers) == 0 && len(p.Subscriptions) == 0 {
		errs = append(errs, fmt.Errorf("plugin %s has no handlers and no subscriptions", p.Name))
	}
	seen := map[string]bool{}
	for _, s := range p.Subscriptions {
		if err := s.validate(p.Name); err != nil {
			errs = append(errs, err)
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("plugin %s: two subscriptions are named %q", p.Name, s.Name))
		}
		seen[s.Name] = true
	}
	for name, h := range p.Handlers {
		if name == "" {
			errs = append(errs, fmt.Errorf("plugin %s: a handler has an empty name", p.Name))
		}
		if h == nil {
			errs = append(errs, fmt.Errorf("plugin %s: handler %q is nil", p.Name, name))
		}
	}
	for name, n := range p.MaxConcurrency {
		if _, ok := p.Handlers[name]; !ok {
			errs = append(errs, fmt.Errorf("plugin %s: MaxConcurrency names handler %q, which it does not have", p.Name, name))
		}
		if n < 1 || n > math.MaxInt32 {
			errs = append(errs, fmt.Errorf("plugin %s: MaxConcurrency of handler %q is %d; it must be at least 1", p.Name, name, n))
		}
	}
	return errors.Join(errs...)
}

// Serve runs the plugin: call it from main() and nothing else. It speaks
// the hashicorp/go-plugin protocol (gRPC only) with the tasker host and
// returns only when the host is done with the plugin. An invalid Plugin
// (bad name or version, neither handlers nor subscriptions, unreadable
// templates, an invalid subscription) is reported on
// stderr and the process exits with status 1. Started by hand rather than
// by the host, the binary says that it is a plugin and exits.
func Serve(p Plugin) {
	srv, err := newServer(p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tasker plugin: %v\n", err)
		os.Exit(1)
	}
	go exitWithParent(os.Getppid(), time.Second)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: wire.VersionedPlugins(srv),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return plugin.DefaultGRPCServer(append(opts, wire.ServerOptions()...))
		},
	})
}

// exitWithParent ends the plugin when the host that started it is gone (the
// plugin is re-parented), so a host killed with SIGKILL leaves no plugin behind.
func exitWithParent(parent int, every time.Duration) {
	for range time.Tick(every) {
		if os.Getppid() != parent {
			fmt.Fprintf(os.Stderr, "tasker plugin: host process %d is gone; exiting\n", parent)
			os.Exit(3)
		}
	}
}
