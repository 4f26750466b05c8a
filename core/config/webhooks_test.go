package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWebhooksFromTheFile(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Sources{File: writeFile(t, `events:
  webhooks:
    - name: orders
      url: https://example.com/hook
      events: ["task.*", "step.failed"]
      task_namespaces: [shop]
      secret: 0123456789abcdef0123
      timeout: 3s
      max_attempts: 4
      backoff_base: 500ms
      backoff_max: 1m
`)})
	require.NoError(t, err)
	require.Len(t, cfg.Events.Webhooks, 1)
	w := cfg.Events.Webhooks[0]
	require.Equal(t, "orders", w.Name)
	require.Equal(t, []string{"task.*", "step.failed"}, w.Events)
	require.Equal(t, []string{"shop"}, w.TaskNamespaces)
	require.Equal(t, 3*time.Second, w.Timeout)
	require.Equal(t, 4, w.MaxAttempts)
	require.Equal(t, 500*time.Millisecond, w.BackoffBase)
	require.Equal(t, time.Minute, w.BackoffMax)

	_, err = Load(Sources{File: writeFile(t, "events:\n  webhooks:\n    - name: x\n      url: https://e.com\n      secret: short\n")})
	require.ErrorContains(t, err, "at least 16")
	_, err = Load(Sources{File: writeFile(t, "events:\n  webhooks:\n    - name: x\n      urll: https://e.com\n")})
	require.ErrorContains(t, err, "urll")
	_, err = Load(Sources{Env: []string{"TASKER_EVENTS_WEBHOOKS=x"}})
	require.ErrorContains(t, err, "not a tasker setting", "lists only in the file")
}
