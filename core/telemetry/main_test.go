package telemetry_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

// slowDir holds the plugins package's test plugin, built before pgtest
// drops root privileges (the Go build cache is root's). Its path is fixed
// per user, so that runs replace it instead of leaving copies behind, and a
// run by another user does not meet a folder it may not write.
var slowDir = filepath.Join(os.TempDir(), fmt.Sprintf("tasker-telemetry-test-plugins-%d", os.Getuid()))

func TestMain(m *testing.M) {
	if err := os.MkdirAll(slowDir, 0o755); err == nil {
		_ = os.Chmod(slowDir, 0o755)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(slowDir, "tasker-handler-slow_v1.0.0"),
		"github.com/tasker-systems/tasker/plugins/testdata/slowplugin")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test plugin:", err)
		os.Exit(1)
	}
	pgtest.Main(m)
}
