package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// Status is what tasker serve does with one file of its plugins directory.
type Status string

// The statuses of a Report.
const (
	Loaded  Status = "loaded"
	Ignored Status = "ignored"
	Refused Status = "refused"
)

// Report describes one file of a plugins directory, as tasker serve would
// treat it, and what the plugin said about itself when it could be asked.
type Report struct {
	// File is the file name; Path its absolute path.
	File string
	Path string
	// Named reports whether File follows tasker-handler-<name>_v<semver>.
	Named bool
	// Name and Version are the plugin's identity: its file name's when the
	// file is named like a plugin, otherwise (after Inspect) the identity the
	// plugin reported.
	Name    string
	Version string
	// Status and Reason: why a file is ignored or refused (empty when loaded).
	Status Status
	Reason string
	// Launched reports whether the plugin answered Info; the fields below
	// are filled only then.
	Launched bool
	// Handlers are the plugin's handler names, sorted; Limits their
	// concurrency limits (handlers without one are absent).
	Handlers []string
	Limits   map[string]int
	// Templates are the task templates it ships.
	Templates []ShippedTemplate
}

// ShippedTemplate is one task template file shipped by a plugin.
type ShippedTemplate struct {
	FileName string
	YAML     []byte
}

// Parse parses the template as tasker serve does (core.ParseTemplate).
// When it is invalid, the template returned with the error is read
// leniently, so that its identity can still be shown; it is nil when even
// that fails.
func (t ShippedTemplate) Parse() (*core.Template, error) {
	tpl, err := core.ParseTemplate(core.TemplateSource{Origin: t.FileName, YAML: t.YAML})
	if err == nil {
		return tpl, nil
	}
	var loose core.Template
	if yaml.Unmarshal(t.YAML, &loose) != nil {
		return nil, err
	}
	if loose.Namespace == "" {
		loose.Namespace = core.DefaultNamespace
	}
	return &loose, err
}

// Survey reports on every entry of dir, in file name order, as Host.Load
// would treat it: each plugin is launched, asked for its Info and checked
// against its file name and against the handlers of the plugins before it;
// then every process is stopped. Only a missing or unreadable dir is an
// error. A nil logger discards logs (plugins' stderr goes there).
func Survey(ctx context.Context, logger *slog.Logger, dir string) ([]Report, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("plugins: resolving %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("plugins: reading plugins directory: %w", err)
	}
	why := &ignoreReasons{}
	cands, err := discover(slog.New(why), abs)
	if err != nil {
		return nil, err
	}
	h := NewHost(logger, abs)
	defer h.Close()
	reports := make([]Report, 0, len(entries))
	for _, e := range entries {
		r := Report{File: e.Name(), Path: filepath.Join(abs, e.Name())}
		r.Name, r.Version, r.Named = wire.ParseFileName(r.File)
		i := slices.IndexFunc(cands, func(c candidate) bool { return c.file == r.File })
		if i < 0 {
			r.Status, r.Reason = Ignored, why.get(r.File)
			reports = append(reports, r)
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("plugins: survey stopped: %w", err)
		}
		p, err := h.launch(ctx, cands[i])
		if err == nil {
			r.fill(p)
			if err = h.register(p); err != nil {
				p.stop()
			}
		}
		if err != nil {
			r.Status, r.Reason = Refused, strings.TrimPrefix(err.Error(), "refused: ")
		} else {
			r.Status = Loaded
		}
		reports = append(reports, r)
	}
	return reports, nil
}

// Inspect launches the plugin executable at path, asks for its Info and
// stops it. Status and Reason say how tasker serve would treat the file
// (judged alone, without the other plugins of its directory). Unlike
// tasker serve, Inspect also launches a file that is not named like a
// plugin, or whose name does not match the identity the plugin reports;
// Name and Version are then the reported ones. The error is non-nil when
// the file cannot be found or the plugin could not be asked for its Info.
func Inspect(ctx context.Context, logger *slog.Logger, path string) (Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Report{}, fmt.Errorf("plugins: resolving %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return Report{}, fmt.Errorf("plugins: %w", err)
	}
	r := Report{File: filepath.Base(abs), Path: abs}
	r.Name, r.Version, r.Named = wire.ParseFileName(r.File)
	why := &ignoreReasons{}
	cands, err := discover(slog.New(why), filepath.Dir(abs))
	if err != nil {
		return r, err
	}
	if !slices.ContainsFunc(cands, func(c candidate) bool { return c.file == r.File }) {
		r.Status, r.Reason = Ignored, why.get(r.File)
	}
	h := NewHost(logger, "")
	defer h.Close()
	c := candidate{path: abs, file: r.File, name: r.Name, version: r.Version}
	p, err := h.launch(ctx, c)
	if m := mismatchRE.FindStringSubmatch(errString(err)); m != nil && wire.ValidName(m[1]) {
		// launch insists on the identity in the file name. Relaunch with
		// the identity the plugin reported, to read the rest of its Info.
		if r.Status == "" {
			r.Status, r.Reason = Refused, strings.TrimPrefix(err.Error(), "refused: ")
		}
		c.name, c.version = m[1], m[2]
		p, err = h.launch(ctx, c)
	}
	if err != nil {
		if r.Status == "" {
			r.Status, r.Reason = Refused, strings.TrimPrefix(err.Error(), "refused: ")
		}
		return r, fmt.Errorf("plugins: inspecting %s: %w", r.File, err)
	}
	defer p.stop()
	r.Name, r.Version = c.name, c.version
	r.fill(p)
	if r.Status == "" {
		r.Status = Loaded
	}
	return r, nil
}

// mismatchRE matches launch's error for a plugin whose reported identity
// differs from its file name's, capturing the reported name and version.
var mismatchRE = regexp.MustCompile(`its file name says plugin .* but it reports itself as plugin (\S*) v(\S*)$`)

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fill copies a launched plugin's Info into r.
func (r *Report) fill(p *proc) {
	r.Launched = true
	r.Handlers = slices.Clone(p.info.Handlers)
	if len(p.info.Limits) > 0 {
		r.Limits = make(map[string]int, len(p.info.Limits))
		for k, v := range p.info.Limits {
			r.Limits[k] = v
		}
	}
	prefix := "plugin " + p.label + ": "
	for _, t := range p.templates {
		r.Templates = append(r.Templates, ShippedTemplate{
			FileName: strings.TrimPrefix(t.Origin, prefix),
			YAML:     t.YAML,
		})
	}
}

// ignoreReasons is a slog.Handler that collects discover's "ignoring
// <file>: <why>" lines, so that reports say why a file is skipped in the
// very words tasker serve logs.
type ignoreReasons struct {
	mu    sync.Mutex
	lines []string
}

func (h *ignoreReasons) Enabled(context.Context, slog.Level) bool { return true }
func (h *ignoreReasons) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *ignoreReasons) WithGroup(string) slog.Handler            { return h }

func (h *ignoreReasons) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, r.Message)
	return nil
}

// get returns why discover ignored file.
func (h *ignoreReasons) get(file string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.lines {
		if why, ok := strings.CutPrefix(l, "ignoring "+file+": "); ok {
			return why
		}
	}
	if isSidecar(file) {
		return "a checksum sidecar, read when its executable is launched"
	}
	return "not a plugin executable"
}

var _ slog.Handler = (*ignoreReasons)(nil)
