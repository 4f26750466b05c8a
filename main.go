// Command tasker is a workflow orchestration appliance: one executable with an
// embedded PostgreSQL, a DAG engine, a REST API and out-of-process step
// handler plugins. main parses the command line and hands over to serve.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
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
