package scaffold

import (
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// repoRoot is the directory of tasker's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err, "go env GOMOD")
	mod := strings.TrimSpace(string(out))
	require.NotEmpty(t, mod, "the test must run inside the tasker module")
	return filepath.Dir(mod)
}

// goCmd runs the go tool in dir, failing the test with its output.
func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// -mod=mod lets tidy write go.sum; the replace directive makes tasker
	// itself local, and its dependencies are in the module cache already.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod "+os.Getenv("GOFLAGS"), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s in %s:\n%s", strings.Join(args, " "), dir, out)
}

// TestScaffoldBuilds is the proof that a generated plugin builds and passes
// its tests as generated: go mod tidy, vet, test and build all succeed.
func TestScaffoldBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin module")
	}
	dir := filepath.Join(t.TempDir(), "tasker-handler-greeter")
	got, written, err := Generate(Options{Name: "greeter", Dir: dir, TaskerSource: repoRoot(t)})
	require.NoError(t, err)
	require.Equal(t, dir, got)
	require.ElementsMatch(t, []string{"go.mod", "main.go", "handler.go", "handler_test.go",
		filepath.Join("templates", "greeter.yaml"), "Makefile", "README.md", ".gitignore"}, written)

	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(mod), "module example.com/greeter\n")
	require.Contains(t, string(mod), "replace github.com/tasker-systems/tasker => "+repoRoot(t))

	goCmd(t, dir, "mod", "tidy")
	goCmd(t, dir, "vet", "./...")
	goCmd(t, dir, "test", "-count=1", "./...")
	bin := filepath.Join(dir, "bin", "tasker-handler-greeter_v0.1.0")
	goCmd(t, dir, "build", "-o", bin, ".")
	fi, err := os.Stat(bin)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode().Perm()&0o111, "the plugin must be executable")
}

func TestScaffoldFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "p")
	_, _, err := Generate(Options{Name: "my-plugin_2", Dir: dir, Module: "github.com/acme/my-plugin"})
	require.NoError(t, err)

	// Generated Go is gofmt-formatted.
	for _, f := range []string{"main.go", "handler.go", "handler_test.go"} {
		src, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		formatted, err := format.Source(src)
		require.NoError(t, err, f)
		require.Equal(t, string(formatted), string(src), f)
	}
	main, err := os.ReadFile(filepath.Join(dir, "main.go"))
	require.NoError(t, err)
	require.Contains(t, string(main), `Name    = "my-plugin_2"`)
	require.Contains(t, string(main), `Version = "0.1.0"`)

	// Without --tasker-source: a required version and no replace.
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(mod), "module github.com/acme/my-plugin\n")
	require.Contains(t, string(mod), "require github.com/tasker-systems/tasker "+DefaultTaskerVersion)
	require.NotContains(t, string(mod), "replace")
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	require.Contains(t, string(readme), "go mod edit -replace github.com/tasker-systems/tasker=")
	require.Contains(t, string(readme), "bin/tasker-handler-my-plugin_2_v0.1.0")
	makefile, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	require.NoError(t, err)
	require.Contains(t, string(makefile), "\n\t$(GO) build -trimpath -o $(BIN) .\n")

	// The template is valid and requires name.
	yml, err := os.ReadFile(filepath.Join(dir, "templates", "my-plugin_2.yaml"))
	require.NoError(t, err)
	tpl, err := core.ParseTemplate(core.TemplateSource{Origin: "scaffold", YAML: yml})
	require.NoError(t, err)
	require.Equal(t, "default/my-plugin_2@0.1.0", tpl.Key())
	require.Len(t, tpl.Steps, 1)
	require.Equal(t, "hello", tpl.Steps[0].Handler)
	require.Equal(t, []any{"name"}, tpl.Schema["required"])

	// An existing non-empty directory is refused; an empty one is fine.
	_, _, err = Generate(Options{Name: "again", Dir: dir})
	require.ErrorContains(t, err, "is not empty")
	empty := t.TempDir()
	_, _, err = Generate(Options{Name: "again", Dir: empty})
	require.NoError(t, err)
}

func TestScaffoldRefuses(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "Greeter", "a.b", "-x", "_x", "a b", "../x"} {
		_, _, err := Generate(Options{Name: name, Dir: filepath.Join(t.TempDir(), "p")})
		require.ErrorContains(t, err, "invalid plugin name", name)
	}
	for _, mod := range []string{"a b", "/abs", "x//y", `"q"`} {
		_, _, err := Generate(Options{Name: "ok", Module: mod, Dir: filepath.Join(t.TempDir(), "p")})
		require.ErrorContains(t, err, "invalid module path", mod)
	}
	_, _, err := Generate(Options{Name: "ok", TaskerSource: t.TempDir(), Dir: filepath.Join(t.TempDir(), "p")})
	require.ErrorContains(t, err, "--tasker-source")
	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, _, err = Generate(Options{Name: "ok", Dir: file})
	require.ErrorContains(t, err, "not a directory")
}
