package plugintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// Build compiles the main package pkg (an import path, or a directory such
// as "." for the package under test) with "go build" into t.TempDir(),
// naming the executable as the host's discovery expects,
// tasker-handler-<name>_v<version>, and returns its path. name and version
// must be the plugin's (pluginsdk.Plugin.Name and Version). A failed build
// fails the test with the compiler's output.
//
// The go command must be on PATH (or in $GOROOT/bin). The build runs in the
// test's working directory and environment, so it uses the test's module;
// the go build cache keeps repeated builds fast.
func Build(t testing.TB, pkg, name, version string) string {
	t.Helper()
	if !wire.ValidName(name) {
		t.Fatalf("plugintest: Build: plugin name %q must be lowercase letters, digits, '-' and '_'", name)
	}
	if !wire.ValidVersion(version) {
		t.Fatalf("plugintest: Build: plugin version %q is not a semantic version MAJOR.MINOR.PATCH (without a leading v)", version)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go"+exeSuffix())
		if _, statErr := os.Stat(goTool); os.Getenv("GOROOT") == "" || statErr != nil {
			t.Fatalf("plugintest: Build: the go command is needed: %v", err)
		}
	}
	out := filepath.Join(t.TempDir(), wire.FileName(name, version)+exeSuffix())
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", out, pkg)
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: go build -o %s %s: %v\n%s", out, pkg, err, output)
	}
	return out
}
