package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

const (
	// DefaultStartTimeout is Options.StartTimeout when left zero.
	DefaultStartTimeout = 10 * time.Second
	// DefaultMaxPayloadBytes is Options.MaxPayloadBytes when left zero.
	DefaultMaxPayloadBytes = 4 << 20
	// MaxPayloadCeiling is the largest usable Options.MaxPayloadBytes: the
	// gRPC message limit that the host and every plugin built with the
	// pluginsdk agree on (wire.MaxMessageBytes, 64 MiB), less 1 MiB left
	// for the rest of a message (names, ids, protobuf framing). Larger
	// values are lowered to it, with a warning.
	MaxPayloadCeiling = wire.MaxMessageBytes - 1<<20
)

// Options tune a Host. The zero value gives the defaults; each field is
// named after its key in tasker's configuration (plugins.<key>), which the
// error messages mention.
type Options struct {
	// RequireChecksums (plugins.require_checksums) refuses to launch a
	// plugin executable that has no checksum sidecar. Whatever its value,
	// a plugin whose sidecar exists but does not match is refused.
	//
	// The sidecar of <dir>/<file> is <dir>/<file>.sha256, holding the
	// hexadecimal SHA-256 of the executable, either alone or in the format
	// `sha256sum <file> > <file>.sha256` writes ("<hex>  <file>"), in
	// upper or lower case. The executable is hashed before every launch,
	// crash restarts included, so a binary replaced on disk after it was
	// loaded is not relaunched unless its sidecar was updated to match.
	RequireChecksums bool

	// StartTimeout (plugins.start_timeout) bounds the launch of a plugin
	// process up to the end of the go-plugin handshake, and then the Info
	// call that follows it. Zero or negative means DefaultStartTimeout.
	StartTimeout time.Duration

	// CallTimeout (plugins.call_timeout) bounds each Execute, including a
	// wait for the plugin's relaunch; a call that runs out of it fails with
	// a retryable *core.StepError. Zero or negative means no bound besides
	// the step's own deadline (the Execute context's).
	CallTimeout time.Duration

	// MaxPayloadBytes (plugins.max_payload_bytes) bounds the JSON sent to
	// and received from a plugin per call: a request's context, handler
	// config and dependency results (with their step names) together, and
	// a response's results. A step over it fails permanently: the request
	// is not sent, or the results are dropped. Zero or negative means
	// DefaultMaxPayloadBytes; values over MaxPayloadCeiling are lowered to
	// it.
	MaxPayloadBytes int

	// Events, when set, is told of plugin lifecycle events (plugin.loaded,
	// plugin.crashed, plugin.restarted, plugin.unhealthy; see core/events
	// for their payloads). It is called with host locks held: it must not
	// block or call back into the host.
	Events func(name string, payload map[string]any)
}

// emit tells Options.Events of an event, if set.
func (h *Host) emit(name string, payload map[string]any) {
	if h.opts.Events != nil {
		h.opts.Events(name, payload)
	}
}

// withDefaults returns o with its zero (or negative) fields set to the
// defaults and MaxPayloadBytes clamped to MaxPayloadCeiling; it logs the
// clamping.
func (o Options) withDefaults(logger *slog.Logger) Options {
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.CallTimeout < 0 {
		o.CallTimeout = 0
	}
	switch {
	case o.MaxPayloadBytes <= 0:
		o.MaxPayloadBytes = DefaultMaxPayloadBytes
	case o.MaxPayloadBytes > MaxPayloadCeiling:
		logger.Warn(fmt.Sprintf("plugins.max_payload_bytes is %s, more than the plugin gRPC transport carries; using %s",
			formatBytes(o.MaxPayloadBytes), formatBytes(MaxPayloadCeiling)),
			slog.Int("configured", o.MaxPayloadBytes), slog.Int("used", MaxPayloadCeiling))
		o.MaxPayloadBytes = MaxPayloadCeiling
	}
	return o
}

// NewHostWithOptions returns a host for the plugins in dir, tuned by opts
// (see Options for the defaults). An empty dir means no plugins. Nothing is
// started until Load. A nil logger discards logs.
func NewHostWithOptions(logger *slog.Logger, dir string, opts Options) *Host {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Host{
		logger: logger, dir: dir, opts: opts.withDefaults(logger),
		handlers: map[string][]*pluginHandler{},
		ctx:      ctx, cancel: cancel, restartBase: defaultRestartBase,
	}
}

// Options returns the options in effect, defaults applied.
func (h *Host) Options() Options { return h.opts }

// formatBytes renders a size for people: "512 bytes", "1.5 KiB", "5.2 MiB".
func formatBytes(n int) string {
	units := []string{"KiB", "MiB", "GiB"}
	if n < 1<<10 {
		return strconv.Itoa(n) + " bytes"
	}
	v, unit := float64(n)/(1<<10), units[0]
	for _, u := range units[1:] {
		if v < 1<<10 {
			break
		}
		v, unit = v/(1<<10), u
	}
	s := strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
	return s + " " + unit
}

// overLimit says that size is over the payload limit: "5.2 MiB, over the
// plugin payload limit of 4 MiB (plugins.max_payload_bytes)". When the
// rounded sizes read the same, it gives them in bytes.
func overLimit(size, limit int) string {
	s, l := formatBytes(size), formatBytes(limit)
	if s == l {
		s, l = strconv.Itoa(size)+" bytes", strconv.Itoa(limit)+" bytes"
	}
	return fmt.Sprintf("%s, over the plugin payload limit of %s (plugins.max_payload_bytes)", s, l)
}
