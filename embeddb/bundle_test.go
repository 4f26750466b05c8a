package embeddb

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A binary embeds its own platform's bundle and nothing of the others
// (embeddb/bundle holds all four after make bundles).
func TestBundleEmbedsOnlyThisPlatform(t *testing.T) {
	var files []string
	require.NoError(t, fs.WalkDir(bundleFS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, path)
		}
		return nil
	}))
	if !bundleSupported {
		require.Empty(t, files)
		_, err := loadBundle()
		require.ErrorContains(t, err, "--database-url")
		return
	}
	require.NotEmpty(t, files, "the committed README.md and .gitignore at least")
	for _, f := range files {
		require.True(t, strings.HasPrefix(f, "bundle/"+platform()+"/"), "%s is not this platform's", f)
	}
	_, ok := BundleInfo()
	require.True(t, ok, "run make build first (embeddb/mkbundle.sh embeddb/bundle)")
	b, err := loadBundle()
	require.NoError(t, err)
	require.NoError(t, b.verify())
	require.Equal(t, "18", b.major())
}
