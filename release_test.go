package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core/config"
)

// These tests check what a release ships: the goreleaser configuration,
// a snapshot build of this platform (binary, plugins, archive, deb), the
// packaged configuration file and systemd unit, and version stamping.

const goreleaser = "bin/tools/goreleaser"

func requireGoreleaser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(goreleaser); err != nil {
		t.Fatalf("%s is missing: run make goreleaser (make test does) (%v)", goreleaser, err)
	}
}

func TestPackagedConfigLoads(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.Sources{File: "packaging/tasker.yaml", FileRequired: true})
	require.NoError(t, err, "every key of the packaged tasker.yaml must be a tasker setting")
	require.Equal(t, "/var/lib/tasker", cfg.DataDir)
	require.Equal(t, "/usr/lib/tasker/plugins", cfg.PluginsDir)
	require.Equal(t, "/etc/tasker/templates", cfg.TemplatesDir)
	require.Equal(t, "json", cfg.Log.Format)
}

func TestServiceUnit(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("packaging/tasker.service")
	require.NoError(t, err)
	unit := string(raw)
	for _, line := range []string{"User=tasker", "StateDirectory=tasker", "KillMode=mixed", "Restart=on-failure",
		"ExecStart=/usr/bin/tasker serve --config /etc/tasker/tasker.yaml", "WorkingDirectory=/var/lib/tasker"} {
		require.Contains(t, strings.Split(unit, "\n"), line)
	}
	// Hardening that would break the embedded PostgreSQL (shared memory,
	// its own processes) or its JIT must not creep in.
	for _, bad := range []string{"PrivateDevices=yes", "MemoryDenyWriteExecute=yes", "RemoveIPC=yes"} {
		require.NotContains(t, unit, bad)
	}
}

// TestVersionFallsBackToBuildInfo builds tasker with plain go build (no
// -ldflags) and finds the commit of the checkout in `tasker version`.
func TestVersionFallsBackToBuildInfo(t *testing.T) {
	t.Parallel()
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tasker")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	rev := strings.TrimSpace(string(head))
	require.Contains(t, string(out), "(commit "+rev)
	// Since Go 1.24 the main module's version is a pseudo-version of the commit.
	require.Regexp(t, `^tasker v\S+-`+rev[:12], string(out))

	// Stamped by make build: the version and commit given by the Makefile.
	out, err = exec.Command("bin/tasker", "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NotContains(t, string(out), "(devel)")
	require.NotContains(t, string(out), "commit unknown")
	require.Contains(t, string(out), "PostgreSQL 18.")
}

// TestReleaseSnapshot runs goreleaser on the real configuration narrowed to
// linux/amd64 and a temporary dist folder, then checks the archive and the
// deb, and starts the released binary without a network on a fresh data dir.
func TestReleaseSnapshot(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the release snapshot test runs on linux/amd64")
	}
	requireGoreleaser(t)
	out, err := exec.Command(goreleaser, "check").CombinedOutput()
	require.NoError(t, err, "goreleaser check:\n%s", out)

	raw, err := os.ReadFile(".goreleaser.yaml")
	require.NoError(t, err)
	dist := t.TempDir()
	cfg := string(raw)
	for old, repl := range map[string]string{
		"goos: [linux, darwin]":     "goos: [linux]",
		"goarch: [amd64, arm64]":    "goarch: [amd64]",
		`src: "dist/plugin-*`:       `src: "` + dist + `/plugin-*`,
		"formats: [deb, rpm]":       "formats: [deb]",
		"version: 2\n":              "version: 2\ndist: " + dist + "\n",
		"report_sizes: true\n":      "report_sizes: false\n",
		"changelog:\n  sort: asc\n": "changelog:\n  disable: true\n",
		"release:\n  github:\n":     "release:\n  disable: true\n  github:\n",
	} {
		require.Contains(t, cfg, old, ".goreleaser.yaml changed: adapt TestReleaseSnapshot")
		cfg = strings.ReplaceAll(cfg, old, repl)
	}
	cfgFile := filepath.Join(t.TempDir(), "goreleaser.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfg), 0o644))
	cmd := exec.Command(goreleaser, "release", "--snapshot", "--clean", "-f", cfgFile)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "goreleaser release --snapshot:\n%s", out)

	// The archive: binary, plugins in the discovery format, docs, examples, checksums.
	archives, _ := filepath.Glob(filepath.Join(dist, "tasker_*_linux_amd64.tar.gz"))
	require.Len(t, archives, 1, "%s", out)
	list, err := exec.Command("tar", "-tzf", archives[0]).Output()
	require.NoError(t, err)
	top := strings.TrimSuffix(filepath.Base(archives[0]), ".tar.gz") + "/"
	for _, f := range []string{"tasker", "README.md", "LICENSE", "THIRD_PARTY_NOTICES.md", "docs/OPERATIONS.md", "examples/templates/express_order.yaml",
		"plugins/tasker-handler-orders_v1.0.0", "plugins/tasker-handler-patterns_v1.0.0",
		"plugins/tasker-handler-apiintegration_v1.0.0", "packaging/tasker.service", "packaging/tasker.yaml"} {
		require.Contains(t, strings.Split(string(list), "\n"), top+f)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	require.NoError(t, err)
	require.Contains(t, string(sums), filepath.Base(archives[0]))

	checkDeb(t, dist)

	// The binary: stamped, its own PostgreSQL embedded, and serving offline.
	bin := filepath.Join(dist, "tasker_linux_amd64_v1", "tasker")
	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "-snapshot")
	require.Contains(t, string(out), "PostgreSQL 18.")
	require.Contains(t, string(out), "linux/amd64")
	serveOffline(t, bin)
}

func checkDeb(t *testing.T, dist string) {
	t.Helper()
	debs, _ := filepath.Glob(filepath.Join(dist, "tasker_*_amd64.deb"))
	require.Len(t, debs, 1)
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Log("dpkg-deb is not installed: the deb's contents are not inspected")
		return
	}
	contents, err := exec.Command("dpkg-deb", "-c", debs[0]).Output()
	require.NoError(t, err)
	for _, want := range []string{
		"-rwxr-xr-x root/root .* ./usr/bin/tasker$",
		"-rw-r--r-- root/root .* ./lib/systemd/system/tasker.service$",
		"-rw-r----- root/tasker .* ./etc/tasker/tasker.yaml$",
		"drwxr-xr-x root/root .* ./etc/tasker/templates/$",
		"drwxr-xr-x root/root .* ./usr/lib/tasker/plugins/$",
		"-rwxr-xr-x root/root .* ./usr/share/tasker/examples/plugins/tasker-handler-orders_v1.0.0$",
		"-rw-r--r-- root/root .* ./usr/share/tasker/examples/templates/express_order.yaml$",
		"-rw-r--r-- root/root .* ./usr/share/doc/tasker/OPERATIONS.md$",
		"-rw-r--r-- root/root .* ./usr/share/doc/tasker/copyright$",
	} {
		require.Regexp(t, "(?m)^"+strings.ReplaceAll(want, " .* ", `\s+\d+ \S+ \S+ `), string(contents))
	}
	require.NotContains(t, string(contents), "./var/lib/tasker", "the package never owns the data")
	require.NotContains(t, string(contents), "./usr/lib/tasker/plugins/tasker-handler", "the plugins dir is the operator's")

	info, err := exec.Command("dpkg-deb", "-I", debs[0], "conffiles").Output()
	require.NoError(t, err)
	require.Equal(t, "/etc/tasker/tasker.yaml", strings.TrimSpace(string(info)), "the config is a conffile: upgrades keep local changes")
	for script, want := range map[string]string{
		"preinst":  "useradd --system",
		"postinst": "systemctl daemon-reload",
		"prerm":    "systemctl stop tasker.service",
		"postrm":   "daemon-reload",
	} {
		body, err := exec.Command("dpkg-deb", "-I", debs[0], script).Output()
		require.NoError(t, err, script)
		require.Contains(t, string(body), want, script)
		require.NotContains(t, string(body), "rm -rf", script+" never deletes data")
	}

	root := t.TempDir()
	out, err := exec.Command("dpkg-deb", "-x", debs[0], root).CombinedOutput()
	require.NoError(t, err, "%s", out)
	unit := filepath.Join(root, "lib/systemd/system/tasker.service")
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		// The unit as packaged, with ExecStart pointing into the unpacked
		// package (verify checks that the command exists).
		raw, err := os.ReadFile(unit)
		require.NoError(t, err)
		check := filepath.Join(t.TempDir(), "tasker.service")
		require.NoError(t, os.WriteFile(check, []byte(strings.ReplaceAll(string(raw),
			"ExecStart=/usr/bin/tasker", "ExecStart="+filepath.Join(root, "usr/bin/tasker"))), 0o644))
		out, err := exec.Command("systemd-analyze", "verify", "--man=no", check).CombinedOutput()
		require.NoError(t, err, "systemd-analyze verify:\n%s", out)
		require.NotContains(t, string(out), "tasker.service:", "systemd-analyze verify:\n%s", out)
	}
}

// serveOffline starts the binary in a network namespace of its own (only
// loopback) when unshare allows it, and asks health/ready from inside.
func serveOffline(t *testing.T, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tasker-release-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) // traversable by the user tasker drops to as root
	script := `
set -u
"$1" serve --data-dir "$2/data" --listen "127.0.0.1:$3" >"$2/log" 2>&1 &
pid=$!
ready=""
for i in $(seq 1 240); do
	if ready=$(curl -sf "http://127.0.0.1:$3/tasker/health/ready"); then break; fi
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
kill -TERM $pid
wait $pid
status=$?
echo "READY=$ready"
echo "EXIT=$status"
`
	check := filepath.Join(dir, "check.sh")
	require.NoError(t, os.WriteFile(check, []byte(script), 0o755))
	port := fmt.Sprint(freePort(t))
	var cmd *exec.Cmd
	if exec.Command("unshare", "-n", "true").Run() == nil {
		cmd = exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && exec sh "$@"`, "sh", check, bin, dir, port)
	} else {
		t.Log("unshare -n is not permitted here: the binary runs with the host's network")
		cmd = exec.Command("sh", check, bin, dir, port)
	}
	cmd.Dir = dir // no tasker.yaml, plugins or templates: defaults only
	out, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	require.NoError(t, err, "%s\ntasker log:\n%s", out, log)
	require.Contains(t, string(out), "READY={", "health/ready did not answer; tasker log:\n%s", log)
	require.Contains(t, string(out), "EXIT=0", "tasker log:\n%s", log)
	require.Contains(t, string(log), "first start: extracted PostgreSQL 18")
}
