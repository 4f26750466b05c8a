package plugins

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// versionedHost loads a host on a fresh directory holding the given builds
// of testdata/versioned.
func versionedHost(t *testing.T, files ...string) (*Host, *syncBuffer, string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		copyFile(t, versionedBinaries[f], dir, f, 0o755)
	}
	logs := &syncBuffer{}
	h := NewHost(slog.New(slog.NewTextHandler(logs, nil)), dir)
	t.Cleanup(h.Close)
	require.NoError(t, h.Load(context.Background()))
	return h, logs, dir
}

func TestVersionsLoadSideBySide(t *testing.T) {
	t.Parallel()
	h, logs, dir := versionedHost(t, "tasker-handler-versioned_v1.1.0", "tasker-handler-versioned_v1.0.0")
	infos := h.Plugins()
	require.Len(t, infos, 2, logs.String())
	require.Equal(t, "1.0.0", infos[0].Version, "file name order")
	require.Equal(t, "1.1.0", infos[1].Version)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		hs := h.PluginHandlers("versioned", v)
		require.Len(t, hs, 1)
		out, err := hs["version"].Execute(ctx, stepRequest("version", 1, nil, nil))
		require.NoError(t, err)
		require.JSONEq(t, `{"plugin": "versioned", "version": "`+v+`"}`, string(out))
		require.Len(t, h.PluginTemplates("versioned", v), 1)
		require.Equal(t, "plugin versioned v"+v+": stamp.yaml", h.PluginTemplates("versioned", v)[0].Origin)
	}
	require.Nil(t, h.PluginHandlers("versioned", "2.0.0"))
	require.Len(t, h.Templates(), 2)

	// Handlers picks the highest version.
	out, err := h.Handlers()["version"].Execute(ctx, stepRequest("version", 1, nil, nil))
	require.NoError(t, err)
	require.JSONEq(t, `{"plugin": "versioned", "version": "1.1.0"}`, string(out))

	// Another plugin declaring the same handler is still refused.
	copyFile(t, versionedBinaries["tasker-handler-clash_v1.0.0"], dir, "tasker-handler-clash_v1.0.0", 0o755)
	require.NoError(t, h.Load(ctx))
	require.Len(t, h.Plugins(), 2)
	require.Regexp(t, `skipping plugin tasker-handler-clash_v1.0.0: refused: plugin clash v1.0.0 declares handler \\"version\\", which plugin versioned v1.\d.0 \(.+\) already provides`, logs.String())
}

func TestLoadAgainAddsNewVersion(t *testing.T) {
	t.Parallel()
	h, _, dir := versionedHost(t, "tasker-handler-versioned_v1.0.0")
	require.Len(t, h.Plugins(), 1)
	copyFile(t, versionedBinaries["tasker-handler-versioned_v1.1.0"], dir, "tasker-handler-versioned_v1.1.0", 0o755)
	require.NoError(t, h.Load(context.Background()))
	require.Len(t, h.Plugins(), 2)
	require.Len(t, h.PluginHandlers("versioned", "1.1.0"), 1)
}
