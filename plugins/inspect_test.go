package plugins

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSurvey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyPlugin(t, dir, ordersFile, 0o755)
	copyPlugin(t, dir, "tasker-handler-other_v2.0.0", 0o755)  // orders under another name
	copyPlugin(t, dir, "tasker-handler-orders_v1.1.0", 0o644) // not executable
	copyFile(t, slowBinary, dir, slowFile, 0o755)             // loads, with a limit
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("hi"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md.sha256"), []byte("0"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "tasker-handler-dir_v1.0.0"), 0o755))

	reports, err := Survey(context.Background(), nil, dir)
	require.NoError(t, err)
	byFile := map[string]Report{}
	var order []string
	for _, r := range reports {
		byFile[r.File] = r
		order = append(order, r.File)
	}
	require.Equal(t, []string{"README.md", "README.md.sha256", "tasker-handler-dir_v1.0.0", ordersFile,
		"tasker-handler-orders_v1.1.0", "tasker-handler-other_v2.0.0", slowFile}, order)

	readme := byFile["README.md"]
	require.Equal(t, Ignored, readme.Status)
	require.False(t, readme.Named)
	require.Equal(t, "not named tasker-handler-<name>_v<semver>", readme.Reason)
	require.Equal(t, "a checksum sidecar, read when its executable is launched", byFile["README.md.sha256"].Reason)
	require.Equal(t, "not a regular file", byFile["tasker-handler-dir_v1.0.0"].Reason)
	nx := byFile["tasker-handler-orders_v1.1.0"]
	require.Equal(t, Ignored, nx.Status)
	require.True(t, nx.Named)
	require.Contains(t, nx.Reason, "not executable")

	orders := byFile[ordersFile]
	require.Equal(t, Loaded, orders.Status, orders.Reason)
	require.Equal(t, []string{"process_payment", "send_confirmation", "validate_order"}, orders.Handlers)
	require.Len(t, orders.Templates, 1)
	require.Equal(t, "order_process.yaml", orders.Templates[0].FileName)
	require.Contains(t, string(orders.Templates[0].YAML), "name: order_process")

	other := byFile["tasker-handler-other_v2.0.0"]
	require.Equal(t, Refused, other.Status)
	require.Equal(t, "its file name says plugin other v2.0.0 but it reports itself as plugin orders v1.0.0", other.Reason)

	slow := byFile[slowFile]
	require.Equal(t, Loaded, slow.Status, slow.Reason)
	require.Equal(t, map[string]int{"sleep": 3}, slow.Limits)

	_, err = Survey(context.Background(), nil, filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestInspect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyPlugin(t, dir, ordersFile, 0o755)
	copyPlugin(t, dir, "orders", 0o755)
	copyPlugin(t, dir, "tasker-handler-other_v2.0.0", 0o755)
	copyPlugin(t, dir, "tasker-handler-orders_v1.1.0", 0o644)

	r, err := Inspect(context.Background(), nil, filepath.Join(dir, ordersFile))
	require.NoError(t, err)
	require.Equal(t, Loaded, r.Status)
	require.Equal(t, "orders", r.Name)
	require.Equal(t, "1.0.0", r.Version)
	require.Len(t, r.Handlers, 3)
	require.Len(t, r.Templates, 1)

	// Not named like a plugin: still inspected, with the reported identity.
	r, err = Inspect(context.Background(), nil, filepath.Join(dir, "orders"))
	require.NoError(t, err)
	require.Equal(t, Ignored, r.Status)
	require.False(t, r.Named)
	require.Equal(t, "orders", r.Name)
	require.Equal(t, "1.0.0", r.Version)
	require.Len(t, r.Handlers, 3)

	// Misnamed: refused, but its Info is read all the same.
	r, err = Inspect(context.Background(), nil, filepath.Join(dir, "tasker-handler-other_v2.0.0"))
	require.NoError(t, err)
	require.Equal(t, Refused, r.Status)
	require.Contains(t, r.Reason, "reports itself as plugin orders v1.0.0")
	require.Equal(t, "orders", r.Name)
	require.Len(t, r.Handlers, 3)

	// Not executable: ignored, and it cannot be launched.
	r, err = Inspect(context.Background(), nil, filepath.Join(dir, "tasker-handler-orders_v1.1.0"))
	require.Error(t, err)
	require.Equal(t, Ignored, r.Status)
	require.False(t, r.Launched)

	_, err = Inspect(context.Background(), nil, filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestShippedTemplateParse(t *testing.T) {
	t.Parallel()
	tpl, err := ShippedTemplate{FileName: "ok.yaml", YAML: []byte("name: a\nversion: 1.0.0\nstep_templates: [{name: s, handler: h}]\n")}.Parse()
	require.NoError(t, err)
	require.Equal(t, "default/a@1.0.0", tpl.Key())

	// Invalid: the error says why, and the identity is still read.
	tpl, err = ShippedTemplate{FileName: "bad.yaml", YAML: []byte("name: b\nnamespace_name: ns\nversion: 1.0\nstep_templates: []\n")}.Parse()
	require.ErrorContains(t, err, "template bad.yaml: ")
	require.ErrorContains(t, err, `version "1.0" is not a semantic version`)
	require.ErrorContains(t, err, "step_templates is empty")
	require.Equal(t, "ns/b@1.0", tpl.Key())

	tpl, err = ShippedTemplate{FileName: "junk.yaml", YAML: []byte(": : :\n\t-")}.Parse()
	require.ErrorContains(t, err, "invalid YAML")
	require.Nil(t, tpl)
}
