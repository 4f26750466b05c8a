package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tasker.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestDefaultsWithNothingGiven(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Sources{File: filepath.Join(t.TempDir(), "absent.yaml")})
	require.NoError(t, err)
	require.Equal(t, Defaults(), cfg, "zero configuration works")
}

func TestLayersOverrideInOrder(t *testing.T) {
	t.Parallel()
	f := writeFile(t, `
listen: 0.0.0.0:9000
engine:
  workers: 8
  lease: 45s
plugins:
  require_checksums: true
`)
	cfg, err := Load(Sources{
		File:  f,
		Env:   []string{"PATH=/bin", "TASKER_ENGINE_WORKERS=16", "TASKER_DATA_DIR=/var/lib/tasker"},
		Flags: map[string]any{"engine.lease": "1m"},
	})
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:9000", cfg.Listen, "file over default")
	require.Equal(t, 16, cfg.Engine.Workers, "environment over file")
	require.Equal(t, "/var/lib/tasker", cfg.DataDir)
	require.Equal(t, time.Minute, cfg.Engine.Lease, "flag over file")
	require.True(t, cfg.Plugins.RequireChecksums)
	require.Equal(t, 5*time.Minute, cfg.Engine.StepTimeout, "defaults fill the rest")
}

func TestUnknownKeysAreErrors(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{File: writeFile(t, "engine:\n  wrokers: 3\nlistn: x\n")})
	require.ErrorContains(t, err, "unknown settings engine.wrokers, listn")
	require.ErrorContains(t, err, "known: data_dir")

	_, err = Load(Sources{Env: []string{"TASKER_ENGINE_WROKERS=3"}})
	require.ErrorContains(t, err, "environment variable TASKER_ENGINE_WROKERS is not a tasker setting")

	_, err = Load(Sources{File: filepath.Join(t.TempDir(), "absent.yaml"), FileRequired: true})
	require.ErrorContains(t, err, "absent.yaml")
}

func TestBadValuesAreNamed(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{Env: []string{"TASKER_ENGINE_WORKERS=many"}})
	require.ErrorContains(t, err, "workers")
	_, err = Load(Sources{File: writeFile(t, "engine:\n  workers: 0\n  lease: 10ms\nlog:\n  format: xml\n")})
	require.ErrorContains(t, err, "engine.workers is 0")
	require.ErrorContains(t, err, "engine.lease is 10ms")
	require.ErrorContains(t, err, `log.format "xml"`)
}
