package pluginsdk

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDependencies guards the rule that pluginsdk, which third-party handler
// authors import, depends on no other package of this module (in particular
// not on core or plugins).
func TestDependencies(t *testing.T) {
	t.Parallel()
	const module = "github.com/tasker-systems/tasker"
	const sdk = module + "/pluginsdk"

	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go tool must be on PATH to list dependencies")
	cmd := exec.Command(goTool, "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)

	var bad []string
	seen := 0
	for _, line := range strings.Split(string(out), "\n") {
		// Test variants print as "pkg [pkg.test]"; test mains as "pkg.test".
		pkg, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pkg = strings.TrimSuffix(pkg, ".test")
		if pkg == "" {
			continue
		}
		seen++
		if pkg != module && !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		if pkg == sdk || strings.HasPrefix(pkg, sdk+"/") {
			continue
		}
		bad = append(bad, pkg)
	}
	require.NotZero(t, seen, "go list returned no packages")
	require.Empty(t, bad, "pluginsdk must not depend on other packages of the module")
}
