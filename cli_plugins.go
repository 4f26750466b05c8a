package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/tasker-systems/tasker/plugins"
	"github.com/tasker-systems/tasker/plugins/scaffold"
	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// runNew is `tasker new plugin <name>`: it generates a plugin module.
func runNew(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "plugin" {
		fmt.Fprintf(stderr, "tasker new: want 'tasker new plugin <name> [--dir DIR] [--module PATH] [--tasker-source DIR]'\n")
		return 2
	}
	var o scaffold.Options
	fs := newFlagSet(stderr, "new plugin <name> [flags]", "Generates the Go module of a handler plugin named <name>.")
	fs.StringVar(&o.Dir, "dir", "", "where to write it; must not exist or be empty (default ./tasker-handler-<name>)")
	fs.StringVar(&o.Module, "module", "", "its module path (default example.com/<name>)")
	fs.StringVar(&o.TaskerSource, "tasker-source", "", "a tasker source checkout for go.mod to use (a replace directive)")
	pos, code := parseArgs(fs, args[1:])
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "tasker new plugin: want exactly one plugin name, got %d arguments\n", len(pos))
		return 2
	}
	o.Name = pos[0]
	if err := scaffold.ValidName(o.Name); err != nil {
		fmt.Fprintf(stderr, "tasker new plugin: %v\n", err)
		return 2
	}
	dir, written, err := scaffold.Generate(o)
	if err != nil {
		fmt.Fprintf(stderr, "tasker new plugin: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "created plugin %s in %s:\n", o.Name, dir)
	for _, f := range written {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	if o.TaskerSource == "" {
		fmt.Fprintf(stdout, "\ntasker is not published: first point go.mod at a tasker checkout:\n"+
			"  cd %s && go mod edit -replace github.com/tasker-systems/tasker=/path/to/tasker\n", dir)
	}
	fmt.Fprintf(stdout, "\nnext: cd %s && make tidy test build   # bin/%s\n", dir, wire.FileName(o.Name, scaffold.Version))
	return 0
}

// runPlugins is `tasker plugins list|inspect`.
func runPlugins(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "tasker plugins: want 'list' or 'inspect'\n")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Plugins run as the current user, root included: unlike serve, these
	// commands do not drop privileges.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	switch args[0] {
	case "list":
		return pluginsList(ctx, logger, args[1:], stdout, stderr)
	case "inspect":
		return pluginsInspect(ctx, logger, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "tasker plugins: unknown command %q; want 'list' or 'inspect'\n", args[0])
		return 2
	}
}

// listRow is one row of `tasker plugins list --json`.
type listRow struct {
	File      string         `json:"file"`
	Name      string         `json:"name,omitempty"`
	Version   string         `json:"version,omitempty"`
	Status    plugins.Status `json:"status"`
	Reason    string         `json:"reason,omitempty"`
	Handlers  []string       `json:"handlers"`
	Limits    map[string]int `json:"limits,omitempty"`
	Templates []string       `json:"templates"`
}

func pluginsList(ctx context.Context, logger *slog.Logger, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "plugins list [flags]", "Launches every plugin of the directory, as serve would, and says what serve would do with each\n"+
		"file. Exit status 1 when a file named like a plugin would not load.")
	dir := fs.String("plugins-dir", "./plugins", "the plugins directory")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, code := parseArgs(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "tasker plugins list: unexpected argument %q\n", pos[0])
		return 2
	}
	reports, err := plugins.Survey(ctx, logger, *dir)
	if err != nil {
		fmt.Fprintf(stderr, "tasker plugins list: %v\n", err)
		return 1
	}
	rows := make([]listRow, 0, len(reports))
	code = 0
	for _, r := range reports {
		row := listRow{File: r.File, Name: r.Name, Version: r.Version, Status: r.Status, Reason: r.Reason,
			Handlers: append([]string{}, r.Handlers...), Limits: r.Limits, Templates: []string{}}
		for _, t := range r.Templates {
			row.Templates = append(row.Templates, t.FileName)
		}
		if r.Named && r.Status != plugins.Loaded {
			code = 1
		}
		rows = append(rows, row)
	}
	if *asJSON {
		return printJSON(stdout, stderr, rows, code)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tNAME\tVERSION\tSTATUS\tHANDLERS\tTEMPLATES")
	for _, r := range rows {
		status := string(r.Status)
		if r.Reason != "" {
			status += ": " + r.Reason
		}
		handlers := make([]string, len(r.Handlers))
		for i, h := range r.Handlers {
			handlers[i] = h + limitSuffix(r.Limits[h])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.File, dash(r.Name), dash(r.Version), status,
			dash(strings.Join(handlers, ", ")), dash(strings.Join(r.Templates, ", ")))
	}
	tw.Flush()
	return code
}

// inspectOutput is what `tasker plugins inspect` prints.
type inspectOutput struct {
	File      string            `json:"file"`
	Path      string            `json:"path"`
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	Status    plugins.Status    `json:"status"`
	Reason    string            `json:"reason,omitempty"`
	Warning   string            `json:"warning,omitempty"`
	Handlers  []inspectHandler  `json:"handlers"`
	Templates []inspectTemplate `json:"templates"`
}

type inspectHandler struct {
	Name           string `json:"name"`
	MaxConcurrency int    `json:"max_concurrency,omitempty"`
}

type inspectTemplate struct {
	File      string `json:"file"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Version   string `json:"version,omitempty"`
	Valid     bool   `json:"valid"`
	Error     string `json:"error,omitempty"`
}

func pluginsInspect(ctx context.Context, logger *slog.Logger, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "plugins inspect [--json] <file>", "Launches the plugin executable, prints its name, version, handlers and templates, and stops it.")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, code := parseArgs(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "tasker plugins inspect: want exactly one plugin file, got %d arguments\n", len(pos))
		return 2
	}
	r, err := plugins.Inspect(ctx, logger, pos[0])
	if err != nil {
		if r.Status == plugins.Ignored {
			fmt.Fprintf(stderr, "warning: tasker would ignore this file: %s\n", r.Reason)
		}
		fmt.Fprintf(stderr, "tasker plugins inspect: %v\n", err)
		return 1
	}
	out := inspectOutput{File: r.File, Path: r.Path, Name: r.Name, Version: r.Version, Status: r.Status, Reason: r.Reason,
		Handlers: []inspectHandler{}, Templates: []inspectTemplate{}}
	switch {
	case r.Status == plugins.Ignored && !r.Named:
		out.Warning = fmt.Sprintf("tasker would ignore this file: %s (for this plugin: %s)", r.Reason, wire.FileName(r.Name, r.Version))
	case r.Status == plugins.Ignored:
		out.Warning = "tasker would ignore this file: " + r.Reason
	case r.Status == plugins.Refused:
		out.Warning = "tasker would refuse this plugin: " + r.Reason
	}
	for _, h := range r.Handlers {
		out.Handlers = append(out.Handlers, inspectHandler{Name: h, MaxConcurrency: r.Limits[h]})
	}
	for _, t := range r.Templates {
		out.Templates = append(out.Templates, describeTemplate(t))
	}
	if out.Warning != "" {
		fmt.Fprintf(stderr, "warning: %s\n", out.Warning)
	}
	if *asJSON {
		return printJSON(stdout, stderr, out, 0)
	}
	fmt.Fprintf(stdout, "file:     %s\nplugin:   %s v%s\nstatus:   %s\n", out.Path, out.Name, out.Version, out.Status)
	fmt.Fprintf(stdout, "handlers:\n")
	for _, h := range out.Handlers {
		fmt.Fprintf(stdout, "  %s%s\n", h.Name, limitSuffix(h.MaxConcurrency))
	}
	fmt.Fprintf(stdout, "templates:\n")
	for _, t := range out.Templates {
		id := t.Namespace + "/" + t.Name + "@" + t.Version
		if t.Valid {
			fmt.Fprintf(stdout, "  %s: %s\n", t.File, id)
			continue
		}
		if t.Name == "" {
			id = "?"
		}
		fmt.Fprintf(stdout, "  %s: %s (invalid)\n", t.File, id)
		for _, line := range strings.Split(t.Error, "\n") {
			fmt.Fprintf(stdout, "      %s\n", line)
		}
	}
	return 0
}

// describeTemplate parses a shipped template as serve would.
func describeTemplate(t plugins.ShippedTemplate) inspectTemplate {
	out := inspectTemplate{File: t.FileName, Valid: true}
	tpl, err := t.Parse()
	if err != nil {
		out.Valid, out.Error = false, err.Error()
	}
	if tpl != nil {
		out.Namespace, out.Name, out.Version = tpl.Namespace, tpl.Name, tpl.Version
	}
	return out
}

// newFlagSet returns a flag set whose -h prints synopsis, about and the flags.
func newFlagSet(stderr io.Writer, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(synopsis, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tasker %s\n\n%s\n\n", synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags that may come before or after the positional
// arguments. It returns the positional arguments and -1, or the exit code
// when parsing ends the command (0 for -h, 2 for a usage error).
func parseArgs(fs *flag.FlagSet, args []string) ([]string, int) {
	var pos []string
	for {
		if err := fs.Parse(args); err == flag.ErrHelp {
			return nil, 0
		} else if err != nil {
			return nil, 2
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, -1
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func printJSON(stdout, stderr io.Writer, v any, code int) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "tasker: %v\n", err)
		return 1
	}
	return code
}

func limitSuffix(n int) string {
	if n <= 0 {
		return ""
	}
	return " (max " + strconv.Itoa(n) + " at once)"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
