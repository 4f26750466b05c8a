package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// optionsHost starts a host with opts on a fresh directory holding whatever
// setup puts there, and returns it with its log and directory.
func optionsHost(t *testing.T, opts Options, setup func(dir string)) (*Host, *syncBuffer, string) {
	t.Helper()
	dir := t.TempDir()
	setup(dir)
	logs := &syncBuffer{}
	h := NewHostWithOptions(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), dir, opts)
	t.Cleanup(h.Close)
	require.NoError(t, h.Load(context.Background()))
	return h, logs, dir
}

// sumOf returns the lower-case hex SHA-256 of the file at path.
func sumOf(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// writeSidecar writes content as the checksum sidecar of dir/file.
func writeSidecar(t *testing.T, dir, file, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, file+".sha256"), []byte(content), 0o644))
}

func TestChecksumSidecarFormatsLoad(t *testing.T) {
	t.Parallel()
	for name, format := range map[string]func(sum string) string{
		"bare hex":           func(sum string) string { return sum },
		"bare upper hex":     func(sum string) string { return strings.ToUpper(sum) + "\n" },
		"sha256sum":          func(sum string) string { return sum + "  " + ordersFile + "\n" },
		"sha256sum binary":   func(sum string) string { return sum + " *" + ordersFile + "\n" },
		"sha256sum pathname": func(sum string) string { return sum + "  /build/out/" + ordersFile + "\n" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, logs, _ := optionsHost(t, Options{}, func(dir string) {
				copyPlugin(t, dir, ordersFile, 0o755)
				writeSidecar(t, dir, ordersFile, format(sumOf(t, ordersBinary)))
			})
			require.Len(t, h.Plugins(), 1, logs.String())
			out := logs.String()
			require.Contains(t, out, `msg="loaded plugin orders v1.0.0"`)
			require.Contains(t, out, " sha256="+sumOf(t, ordersBinary))
			require.NotContains(t, out, "ignoring", "a sidecar is not an ignored file")
		})
	}
}

func TestChecksumMismatchRefused(t *testing.T) {
	t.Parallel()
	wrong := strings.Repeat("ab", 32)
	h, logs, _ := optionsHost(t, Options{}, func(dir string) {
		copyPlugin(t, dir, ordersFile, 0o755)
		writeSidecar(t, dir, ordersFile, wrong+"  "+ordersFile+"\n")
	})
	require.Empty(t, h.Plugins())
	require.Empty(t, processesOf(t, filepath.Join(h.dir, ordersFile)), "never launched")
	require.Contains(t, logs.String(), fmt.Sprintf(
		"skipping plugin %[1]s: refused: checksum mismatch: %[1]s has SHA-256 %[2]s, but %[1]s.sha256 says %[3]s",
		ordersFile, sumOf(t, ordersBinary), wrong))
}

func TestMalformedSidecarRefused(t *testing.T) {
	t.Parallel()
	sum := sumOf(t, ordersBinary)
	for name, content := range map[string]string{
		"empty":      "",
		"short":      sum[:63],
		"not hex":    strings.Repeat("zz", 32),
		"two lines":  sum + "  a\n" + sum + "  b\n",
		"huge":       sum + strings.Repeat(" ", 8<<10),
		"other hash": strings.Repeat("ab", 64),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, logs, _ := optionsHost(t, Options{}, func(dir string) {
				copyPlugin(t, dir, ordersFile, 0o755)
				writeSidecar(t, dir, ordersFile, content)
			})
			require.Empty(t, h.Plugins())
			require.Contains(t, logs.String(), "skipping plugin "+ordersFile+": refused: checksum sidecar "+ordersFile+
				".sha256: it does not hold a SHA-256 checksum")
		})
	}
}

func TestRequireChecksums(t *testing.T) {
	t.Parallel()
	h, logs, _ := optionsHost(t, Options{RequireChecksums: true}, func(dir string) {
		copyPlugin(t, dir, ordersFile, 0o755)
		writeSidecar(t, dir, ordersFile, sumOf(t, ordersBinary)+"  "+ordersFile+"\n")
		copyFile(t, slowBinary, dir, slowFile, 0o755)
	})
	infos := h.Plugins()
	require.Len(t, infos, 1, "the plugin with a sidecar loads")
	require.Equal(t, "orders", infos[0].Name)
	require.Contains(t, logs.String(), fmt.Sprintf(
		"skipping plugin %[1]s: refused: plugins.require_checksums is on and %[1]s has no %[1]s.sha256", slowFile))
	require.NotContains(t, logs.String(), "ignoring")

	// Without the option, a plugin without a sidecar loads.
	h, _, _ = optionsHost(t, Options{}, func(dir string) { copyFile(t, slowBinary, dir, slowFile, 0o755) })
	require.Len(t, h.Plugins(), 1)
}

func TestReplacedBinaryNotRelaunched(t *testing.T) {
	t.Parallel()
	h, logs, dir := optionsHost(t, Options{}, func(dir string) {
		copyFile(t, slowBinary, dir, slowFile, 0o755)
		writeSidecar(t, dir, slowFile, sumOf(t, slowBinary))
	})
	const base = 100 * time.Millisecond
	h.restartBase = base
	path := filepath.Join(dir, slowFile)
	sleep := h.Handlers()["sleep"]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Kill the plugin, then change its executable on disk (after the kill:
	// a running executable may not be writable).
	pid, _ := running(t, h, "slow")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitNoticed(t, h, "slow")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{0})
	require.NoError(t, err)
	require.NoError(t, f.Close())

	_, err = sleep.Execute(ctx, sleepRequest("sleep", 1))
	se := requireStepError(t, err, core.Retryable)
	require.Contains(t, se.Message, fmt.Sprintf(
		"plugin slow v1.0.0 could not be restarted: refused: checksum mismatch: %[1]s has SHA-256 %[2]s, but %[1]s.sha256 says %[3]s; next attempt in ",
		slowFile, sumOf(t, path), sumOf(t, slowBinary)))
	require.Contains(t, se.Message, `handler "sleep" was not called`)
	require.Positive(t, se.RetryAfter)
	require.LessOrEqual(t, se.RetryAfter, base)
	require.Empty(t, processesOf(t, path), "the changed binary is not run")
	require.Contains(t, logs.String(), `level=ERROR msg="plugin slow v1.0.0 restart failed: refused: checksum mismatch: `+slowFile)

	// Once the binary matches its sidecar again, the next attempt succeeds.
	require.NoError(t, os.Truncate(path, int64(len(mustRead(t, slowBinary)))))
	time.Sleep(se.RetryAfter)
	out, err := sleep.Execute(ctx, sleepRequest("sleep", 1))
	require.NoError(t, err)
	require.JSONEq(t, `{"slept_ms": 1}`, string(out))
	require.Equal(t, 1, h.Plugins()[0].Restarts)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

func TestStartTimeout(t *testing.T) {
	t.Parallel()
	const hang = "tasker-handler-hang_v1.0.0"
	start := time.Now()
	h, logs, _ := optionsHost(t, Options{StartTimeout: 300 * time.Millisecond}, func(dir string) {
		script := "#!/bin/sh\nexec sleep 30\n" // never completes the handshake
		require.NoError(t, os.WriteFile(filepath.Join(dir, hang), []byte(script), 0o755))
	})
	require.Less(t, time.Since(start), 5*time.Second)
	require.Empty(t, h.Plugins())
	require.Contains(t, logs.String(), "skipping plugin "+hang+": starting it: timeout while waiting for plugin to start")
}
