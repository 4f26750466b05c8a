package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Telemetry is configured by the standard OTEL_* variables, read by
// core/telemetry; the configuration loader leaves them alone.
func TestOTelVariablesAreNotTaskerSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(Sources{Env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318", "OTEL_SERVICE_NAME=edge-1",
		"OTEL_TRACES_EXPORTER=otlp", "TASKER_ENGINE_WORKERS=3"}})
	require.NoError(t, err)
	require.Equal(t, 3, c.Engine.Workers)
}
