// Command tasker is a workflow orchestration appliance: one executable with an
// embedded PostgreSQL, a DAG engine, a REST API and out-of-process step
// handler plugins. main parses the command line and hands over to serve.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `tasker: workflow orchestration appliance

Usage:
  tasker serve [flags]    start the appliance (embedded PostgreSQL, engine, plugins, REST API)
  tasker version          print the version

Run 'tasker serve -h' for the flags of serve.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		opts, err := parseServeFlags(args[1:], stderr)
		if err == flag.ErrHelp {
			return 0
		}
		if err != nil {
			return 2
		}
		if err := serve(opts, stderr); err != nil {
			fmt.Fprintf(stderr, "tasker: %v\n", err)
			return 1
		}
		return 0
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tasker: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func parseServeFlags(args []string, stderr io.Writer) (serveOptions, error) {
	var o serveOptions
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data-dir", "./tasker-data", "where tasker keeps its state (PostgreSQL data in <data-dir>/pg)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of the REST API")
	fs.StringVar(&o.pluginsDir, "plugins-dir", "", "directory of handler plugins named tasker-handler-<name>_v<semver> (default ./plugins when it exists)")
	fs.StringVar(&o.templatesDir, "templates-dir", "", "directory of task template YAML files (default ./templates when it exists)")
	fs.StringVar(&o.databaseURL, "database-url", "", "use this PostgreSQL instead of the embedded one (postgres://...)")
	fs.StringVar(&o.prefix, "prefix", "/tasker", "URL prefix of the API")
	fs.IntVar(&o.workers, "workers", 4, "steps this node runs at once")
	fs.DurationVar(&o.lease, "lease", 30*time.Second, "how long a running step stays this node's without renewal; after a crash, other nodes retry its steps this much later")
	fs.DurationVar(&o.stepTimeout, "step-timeout", 5*time.Minute, "a handler's deadline per attempt, unless its step template sets timeout_ms")
	fs.BoolVar(&o.noListen, "no-listen", false, "do not LISTEN for work notifications, only poll (for PostgreSQL behind a transaction pooler)")
	fs.StringVar(&o.user, "user", "", "when started as root: the unprivileged user to run as (default tasker if it exists, else nobody)")
	fs.StringVar(&o.logFormat, "log-format", "auto", "log format: auto (colour on a terminal, JSON otherwise), text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.lease < time.Second {
		fmt.Fprintf(stderr, "tasker serve: --lease %s is too short; it must be at least 1s\n", o.lease)
		return o, fmt.Errorf("bad --lease")
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tasker serve: unexpected argument %q\n", fs.Arg(0))
		return o, fmt.Errorf("unexpected argument")
	}
	return o, nil
}
