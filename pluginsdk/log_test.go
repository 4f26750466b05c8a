package pluginsdk

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoggerWritesHCLogJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newJSONLogger(&buf)
	l.Warn("hello", "k", 1)

	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	require.Equal(t, "hello", rec["@message"])
	require.Equal(t, "warn", rec["@level"])
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}`, rec["@timestamp"])
	require.Equal(t, 1.0, rec["k"])
}

func TestLoggerAttachesStep(t *testing.T) {
	t.Parallel()
	require.Same(t, baseLogger, Logger(context.Background()))
	ctx := withStep(context.Background(), Request{TaskID: 4, StepID: 5, StepName: "s", Attempt: 2})
	require.NotSame(t, baseLogger, Logger(ctx))
}
