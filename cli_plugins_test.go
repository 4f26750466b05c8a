package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/plugins"
)

// runCLI runs the tasker command line in-process.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	code = run(args, &out, &errs)
	return code, out.String(), errs.String()
}

// cliPluginsDir is a plugins directory holding the example plugins built
// by make build, a README, a plugin-named file that is not executable and
// the orders plugin under another plugin's name.
func cliPluginsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{ordersPlugin, patternsPlugin} {
		src := filepath.Join("bin", "plugins", p)
		if _, err := os.Stat(src); err != nil {
			t.Fatalf("%s is missing: run make build first (%v)", src, err)
		}
		copyFile(t, src, filepath.Join(dir, p))
	}
	copyFile(t, filepath.Join(dir, ordersPlugin), filepath.Join(dir, "tasker-handler-other_v2.0.0"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("plugins\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tasker-handler-disabled_v1.0.0"), []byte("#!/bin/sh\n"), 0o644))
	return dir
}

func TestCLIPluginsList(t *testing.T) {
	t.Parallel()
	dir := cliPluginsDir(t)
	code, stdout, stderr := runCLI("plugins", "list", "--plugins-dir", dir, "--json")
	require.Equal(t, 1, code, "a refused plugin makes list fail; stderr:\n%s", stderr)
	var rows []listRow
	require.NoError(t, json.Unmarshal([]byte(stdout), &rows), stdout)

	require.Len(t, rows, 5, stdout)
	patterns := rows[4]
	require.Contains(t, patterns.Templates, "linear.yaml")
	require.Equal(t, []listRow{
		{File: "README.md", Status: "ignored", Reason: "not named tasker-handler-<name>_v<semver>",
			Handlers: []string{}, Templates: []string{}},
		{File: "tasker-handler-disabled_v1.0.0", Name: "disabled", Version: "1.0.0", Status: "ignored",
			Reason: "not executable (its mode is -rw-r--r--)", Handlers: []string{}, Templates: []string{}},
		{File: ordersPlugin, Name: "orders", Version: "1.0.0", Status: "loaded",
			Handlers:  []string{"process_payment", "send_confirmation", "validate_order"},
			Templates: []string{"order_process.yaml"}},
		{File: "tasker-handler-other_v2.0.0", Name: "other", Version: "2.0.0", Status: "refused",
			Reason:   "its file name says plugin other v2.0.0 but it reports itself as plugin orders v1.0.0",
			Handlers: []string{}, Templates: []string{}},
		{File: patternsPlugin, Name: "patterns", Version: "1.0.0", Status: "loaded",
			Handlers: []string{"work"}, Templates: patterns.Templates},
	}, rows)

	// The table has the same rows.
	code, stdout, _ = runCLI("plugins", "list", "--plugins-dir", dir)
	require.Equal(t, 1, code)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 6)
	require.Regexp(t, `^FILE +NAME +VERSION +STATUS +HANDLERS +TEMPLATES$`, lines[0])
	require.Regexp(t, `^tasker-handler-orders_v1.0.0 +orders +1.0.0 +loaded +process_payment, send_confirmation, validate_order +order_process.yaml$`, lines[3])
	require.Contains(t, lines[4], "refused: its file name says plugin other v2.0.0")

	// Without the bad files, every plugin loads.
	require.NoError(t, os.Remove(filepath.Join(dir, "tasker-handler-other_v2.0.0")))
	require.NoError(t, os.Remove(filepath.Join(dir, "tasker-handler-disabled_v1.0.0")))
	code, _, stderr = runCLI("plugins", "list", "--json", "--plugins-dir", dir)
	require.Equal(t, 0, code, stderr)

	code, _, stderr = runCLI("plugins", "list", "--plugins-dir", filepath.Join(dir, "missing"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no such file or directory")
}

func TestCLIPluginsInspect(t *testing.T) {
	t.Parallel()
	dir := cliPluginsDir(t)
	code, stdout, stderr := runCLI("plugins", "inspect", filepath.Join(dir, ordersPlugin))
	require.Equal(t, 0, code, stderr)
	require.Empty(t, stderr)
	require.Contains(t, stdout, "plugin:   orders v1.0.0\n")
	require.Contains(t, stdout, "status:   loaded\n")
	require.Contains(t, stdout, "handlers:\n  process_payment\n  send_confirmation\n  validate_order\n")
	require.Contains(t, stdout, "templates:\n  order_process.yaml: default/order_process@1.0.0\n")

	// Flags may follow the file.
	code, stdout, stderr = runCLI("plugins", "inspect", filepath.Join(dir, ordersPlugin), "--json")
	require.Equal(t, 0, code, stderr)
	var out inspectOutput
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	require.Equal(t, inspectOutput{
		File: ordersPlugin, Path: filepath.Join(dir, ordersPlugin), Name: "orders", Version: "1.0.0", Status: "loaded",
		Handlers: []inspectHandler{{Name: "process_payment"}, {Name: "send_confirmation"}, {Name: "validate_order"}},
		Templates: []inspectTemplate{{File: "order_process.yaml", Namespace: "default", Name: "order_process",
			Version: "1.0.0", Valid: true}},
	}, out)

	// A file not named like a plugin is inspected, with a warning.
	plain := filepath.Join(t.TempDir(), "orders")
	copyFile(t, filepath.Join(dir, ordersPlugin), plain)
	code, stdout, stderr = runCLI("plugins", "inspect", plain)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "plugin:   orders v1.0.0\n")
	require.Contains(t, stdout, "  validate_order\n")
	require.Contains(t, stderr, "warning: tasker would ignore this file: not named tasker-handler-<name>_v<semver> (for this plugin: tasker-handler-orders_v1.0.0)")

	// A misnamed plugin is inspected; the warning says why serve refuses it.
	code, stdout, stderr = runCLI("plugins", "inspect", "--json", filepath.Join(dir, "tasker-handler-other_v2.0.0"))
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "warning: tasker would refuse this plugin: its file name says plugin other v2.0.0")
	out = inspectOutput{}
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	require.Equal(t, "refused", string(out.Status))
	require.Equal(t, "orders", out.Name)
	require.Len(t, out.Handlers, 3)

	code, _, stderr = runCLI("plugins", "inspect", filepath.Join(dir, "tasker-handler-disabled_v1.0.0"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "warning: tasker would ignore this file: not executable")
	code, _, stderr = runCLI("plugins", "inspect", filepath.Join(dir, "missing"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no such file or directory")
}

func TestCLIPluginsUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"plugins"},
		{"plugins", "bogus"},
		{"plugins", "list", "extra"},
		{"plugins", "list", "--nope"},
		{"plugins", "inspect"},
		{"plugins", "inspect", "a", "b"},
		{"plugins", "inspect", "--plugins-dir", "x", "a"},
		{"new"},
		{"new", "widget", "x"},
		{"new", "plugin"},
		{"new", "plugin", "a", "b"},
		{"new", "plugin", "Bad"},
		{"new", "plugin", "x", "--bogus"},
	} {
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 2, code, "%q: stdout %s stderr %s", args, stdout, stderr)
		require.NotEmpty(t, stderr, args)
	}
	for _, args := range [][]string{{"plugins", "list", "-h"}, {"plugins", "inspect", "--help"}, {"new", "plugin", "-h"}} {
		code, _, stderr := runCLI(args...)
		require.Equal(t, 0, code, args)
		require.Contains(t, stderr, "Usage: tasker ", args)
	}
	code, stdout, _ := runCLI("help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "tasker new plugin <name>")
	require.Contains(t, stdout, "tasker plugins list")
	require.Contains(t, stdout, "tasker plugins inspect <file>")
}

// TestCLINewPlugin changes directory, so it does not run in parallel. That
// the generated plugin builds and passes its tests is TestScaffoldBuilds'
// job (plugins/scaffold).
func TestCLINewPlugin(t *testing.T) {
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "greeter")
	code, stdout, stderr := runCLI("new", "plugin", "greeter", "--dir", dir, "--module", "example.org/greeter", "--tasker-source", ".")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "created plugin greeter in "+dir)
	require.NotContains(t, stdout, "go mod edit -replace")
	for _, f := range []string{"go.mod", "main.go", "handler.go", "handler_test.go", "templates/greeter.yaml", "Makefile", "README.md"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(mod), "module example.org/greeter\n")
	require.Contains(t, string(mod), "replace github.com/tasker-systems/tasker => "+root+"\n")

	// An existing, non-empty directory is refused.
	code, _, stderr = runCLI("new", "plugin", "greeter", "--dir", dir)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "is not empty")

	// The default directory is ./tasker-handler-<name>; --tasker-source is optional.
	t.Chdir(t.TempDir())
	code, stdout, stderr = runCLI("new", "plugin", "hi")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "go mod edit -replace github.com/tasker-systems/tasker=")
	require.FileExists(t, filepath.Join("tasker-handler-hi", "main.go"))
}

func TestCLIDescribeTemplate(t *testing.T) {
	t.Parallel()
	got := describeTemplate(plugins.ShippedTemplate{FileName: "bad.yaml", YAML: []byte("name: b\nversion: 1.0.0\nstep_templates: []\n")})
	require.Equal(t, "default", got.Namespace)
	require.Equal(t, "b", got.Name)
	require.False(t, got.Valid)
	require.Contains(t, got.Error, "step_templates is empty")
}
