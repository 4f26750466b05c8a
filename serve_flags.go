package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tasker-systems/tasker/core/config"
)

// parseServeFlags builds the configuration of `tasker serve`: defaults, then
// the config file, then TASKER_* variables, then the flags actually given.
func parseServeFlags(args []string, stderr io.Writer) (config.Config, error) {
	d := config.Defaults()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "tasker.yaml", "configuration file (YAML); optional unless given")
	// Each flag names the setting it overrides; only flags given on the command line count.
	keyOf := map[string]string{}
	str := func(name, key, def, usage string) { fs.String(name, def, usage); keyOf[name] = key }
	str("data-dir", "data_dir", d.DataDir, "where tasker keeps its state (PostgreSQL data in <data-dir>/pg)")
	str("listen", "listen", d.Listen, "address of the REST API")
	str("plugins-dir", "plugins_dir", "", "directory of handler plugins named tasker-handler-<name>_v<semver> (default ./plugins when it exists)")
	str("templates-dir", "templates_dir", "", "directory of task template YAML files (default ./templates when it exists)")
	str("database-url", "database_url", "", "use this PostgreSQL instead of the embedded one (postgres://...)")
	str("prefix", "prefix", d.Prefix, "URL prefix of the API")
	str("user", "user", "", "when started as root: the unprivileged user to run as (default tasker if it exists, else nobody)")
	str("log-format", "log.format", d.Log.Format, "log format: auto (colour on a terminal, JSON otherwise), text or json")
	str("log-level", "log.level", d.Log.Level, "log level: debug, info, warn or error")
	str("pprof", "debug.pprof_listen", "", "serve Go profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060")
	fs.Int("workers", d.Engine.Workers, "steps this node runs at once")
	keyOf["workers"] = "engine.workers"
	fs.Duration("lease", d.Engine.Lease, "how long a running step stays this node's without renewal; after a crash, other nodes retry its steps this much later")
	keyOf["lease"] = "engine.lease"
	fs.Duration("step-timeout", d.Engine.StepTimeout, "a handler's deadline per attempt, unless its step template sets timeout_ms")
	keyOf["step-timeout"] = "engine.step_timeout"
	fs.Bool("no-listen", false, "do not LISTEN for work notifications, only poll (for PostgreSQL behind a transaction pooler)")
	keyOf["no-listen"] = "engine.no_listen"
	fs.Bool("synchronous-commit", d.Database.SynchronousCommit, "wait for each commit to reach the disk; false trades the last moments of acknowledged changes in a crash of PostgreSQL or the machine for speed (docs/OPERATIONS.md)")
	keyOf["synchronous-commit"] = "database.synchronous_commit"
	fs.Bool("require-checksums", false, "refuse plugins without a matching <binary>.sha256 file")
	keyOf["require-checksums"] = "plugins.require_checksums"
	fs.Bool("insecure-no-auth", false, "serve the API on a non-loopback address without authentication (configure auth in tasker.yaml instead)")
	keyOf["insecure-no-auth"] = "insecure_no_auth"

	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tasker serve: unexpected argument %q\n", fs.Arg(0))
		return config.Config{}, errors.New("unexpected argument")
	}
	given := map[string]any{}
	configGiven := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			configGiven = true
		} else {
			given[keyOf[f.Name]] = f.Value.String()
		}
	})
	cfg, err := config.Load(config.Sources{File: *configFile, FileRequired: configGiven, Env: os.Environ(), Flags: given})
	if err != nil {
		fmt.Fprintf(stderr, "tasker serve: %v\n", err)
		return config.Config{}, err
	}
	return cfg, nil
}
