package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseFileName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, name, version string
		ok                  bool
	}{
		{"tasker-handler-orders_v1.0.0", "orders", "1.0.0", true},
		{"tasker-handler-my-plugin_2_v10.20.30-rc.1+build.5", "my-plugin_2", "10.20.30-rc.1+build.5", true},
		{"tasker-handler-foo_v2_v1.0.0", "foo_v2", "1.0.0", true},
		{"tasker-handler-orders_v1.0", "", "", false},
		{"tasker-handler-orders_1.0.0", "", "", false},
		{"tasker-handler-Orders_v1.0.0", "", "", false},
		{"tasker-handler-_v1.0.0", "", "", false},
		{"tasker-handler-orders_v01.0.0", "", "", false},
		{"tasker-handler-orders_v1.0.0.bak", "", "", false},
		{"README.md", "", "", false},
	} {
		name, version, ok := ParseFileName(tc.file)
		require.Equal(t, tc.ok, ok, tc.file)
		require.Equal(t, tc.name, name, tc.file)
		require.Equal(t, tc.version, version, tc.file)
		if ok {
			require.Equal(t, tc.file, FileName(name, version))
		}
	}
	require.True(t, ValidVersion("0.0.1-alpha"))
	require.False(t, ValidVersion("v1.0.0"))
	require.True(t, ValidName("a-b_c9"))
	require.False(t, ValidName("a.b"))
}
