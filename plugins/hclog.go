package plugins

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter is an hclog.Logger that writes into an slog.Logger, adding
// plugin=<name>. go-plugin logs through it, both its own messages and the
// plugin's stderr lines (which the pluginsdk writes in hclog's JSON shape,
// so they keep their level and attributes).
type hclogAdapter struct {
	l    *slog.Logger
	name string
	args []any // implied args, hclog style
}

var _ hclog.Logger = (*hclogAdapter)(nil)

// newHCLogger returns an hclog.Logger writing to l with the attribute
// plugin=<plugin>.
func newHCLogger(l *slog.Logger, plugin string) hclog.Logger {
	return &hclogAdapter{l: l.With(slog.String("plugin", plugin))}
}

// slogLevel maps an hclog level to slog.
func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error, hclog.Off:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Log writes one record; args are hclog key/value pairs.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lvl := slogLevel(level)
	ctx := context.Background()
	if !a.l.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, (len(a.args)+len(args))/2+1)
	if a.name != "" {
		attrs = append(attrs, slog.String("logger", a.name))
	}
	attrs = appendPairs(attrs, a.args)
	attrs = appendPairs(attrs, args)
	a.l.LogAttrs(ctx, lvl, msg, attrs...)
}

// appendPairs converts hclog key/value pairs into slog attributes. The
// "timestamp" go-plugin adds to forwarded plugin lines is dropped (the
// host's handler stamps its own time), and go-plugin's "plugin" (the
// executable's path) becomes "plugin_path" so as not to clash with ours.
func appendPairs(attrs []slog.Attr, kv []any) []slog.Attr {
	for i := 0; i < len(kv); i += 2 {
		if i+1 == len(kv) {
			attrs = append(attrs, slog.Any("EXTRA_VALUE_AT_END", kv[i]))
			break
		}
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		switch key {
		case "timestamp":
			continue
		case "plugin":
			key = "plugin_path"
		}
		switch v := kv[i+1].(type) {
		case error:
			attrs = append(attrs, slog.String(key, v.Error()))
		case hclog.Format:
			if len(v) == 0 {
				attrs = append(attrs, slog.String(key, ""))
				continue
			}
			attrs = append(attrs, slog.String(key, fmt.Sprintf(fmt.Sprint(v[0]), v[1:]...)))
		default:
			attrs = append(attrs, slog.Any(key, v))
		}
	}
	return attrs
}

// Trace logs at hclog's Trace level (slog Debug-4).
func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }

// Debug logs at Debug level.
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }

// Info logs at Info level.
func (a *hclogAdapter) Info(msg string, args ...any) { a.Log(hclog.Info, msg, args...) }

// Warn logs at Warn level.
func (a *hclogAdapter) Warn(msg string, args ...any) { a.Log(hclog.Warn, msg, args...) }

// Error logs at Error level.
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	return a.l.Enabled(context.Background(), slogLevel(level))
}

// IsTrace reports whether Trace records are written.
func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }

// IsDebug reports whether Debug records are written.
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }

// IsInfo reports whether Info records are written.
func (a *hclogAdapter) IsInfo() bool { return a.enabled(hclog.Info) }

// IsWarn reports whether Warn records are written.
func (a *hclogAdapter) IsWarn() bool { return a.enabled(hclog.Warn) }

// IsError reports whether Error records are written.
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

// ImpliedArgs returns the pairs added with With.
func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

// With returns a logger that adds the key/value pairs to every record.
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), args...)
	return &c
}

// Name returns the logger's name.
func (a *hclogAdapter) Name() string { return a.name }

// Named returns a logger whose name has name appended.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

// ResetNamed returns a logger named exactly name.
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel does nothing: the level belongs to the slog handler.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel returns the lowest hclog level the slog handler writes.
func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

// StandardLogger returns a *log.Logger writing into this logger.
func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that logs each line it is given, at
// opts.ForceLevel when set and at Info otherwise.
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return lineWriter(func(line string) { a.Log(level, line) })
}

// lineWriter logs every complete or partial line written to it.
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
			w(line)
		}
	}
	return len(p), nil
}
