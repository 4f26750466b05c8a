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
  tasker serve [flags]              start the appliance (embedded PostgreSQL, engine, plugins, REST API)
  tasker version                    print the version
  tasker new plugin <name> [flags]  generate the Go module of a handler plugin (--dir, --module, --tasker-source)
  tasker plugins list [flags]       launch each plugin of a directory and say whether serve would load it
                                    (--plugins-dir, default ./plugins; --json)
  tasker plugins inspect <file>     launch one plugin executable and print its handlers and templates (--json)
  tasker db backup --out FILE       back up tasker's tables while it serves; 'db restore FILE' restores
                                    into a data dir or database it does not serve; 'db verify FILE'
  tasker bench [flags]              measure a tasker with the scenarios of docs/BENCHMARKS.md (--launch starts
                                    its own; --server URL drives a running one; writes --markdown, --json)
  tasker auth new-key --name NAME   make an API key (--permission P, --role R; repeatable): prints the key
                                    once, and the auth.api_keys entry for tasker.yaml (only its SHA-256)

Client commands, against a running tasker (--server URL, --token T, --json; 'tasker task -h'):
  tasker task create|list|show|cancel|retry   create, list, inspect and act on tasks (create --wait follows one)
  tasker step retry|resolve TASK_ID STEP      retry a step, or resolve it by hand (STEP: id or name)
  tasker handlers list|show                   namespaces, task templates and their dependency graphs
  Exit status: 0 ok, 1 failed, 2 usage, 3 not found, 4 auth refused, 5 refused by the server's rules,
  6 server unreachable, 7 --wait ended in error or cancelled.

Run 'tasker <command> -h' for the flags of a command. 'plugins list' and 'plugins inspect' run
the plugins as the current user (unlike serve, they do not switch away from root).
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
	case "new":
		return runNew(args[1:], stdout, stderr)
	case "plugins":
		return runPlugins(args[1:], stdout, stderr)
	case "auth":
		return runAuth(args[1:], stdout, stderr)
	case "task":
		return runTaskCmd(args[1:], stdout, stderr)
	case "step":
		return runStepCmd(args[1:], stdout, stderr)
	case "handlers":
		return runHandlersCmd(args[1:], stdout, stderr)
	case "db":
		return runDB(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
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
