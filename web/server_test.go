package web_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/web"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ready(t *testing.T, h http.Handler) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tasker/health/ready", nil))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	return rec.Code, body
}

// Readiness follows the node's life: not ready while it loads, ready, not
// ready again once it begins to stop, so load balancers move away first.
func TestReadinessFollowsTheNodesLife(t *testing.T) {
	t.Parallel()
	s := web.New(web.Config{Store: store.New(pgtest.New(t)), Registry: registry.New(), Logger: slog.New(slog.DiscardHandler)})

	code, body := ready(t, s)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "loading", body["checks"].(map[string]any)["plugins"])

	s.MarkReady()
	code, body = ready(t, s)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready", body["status"])

	s.MarkStopping()
	code, body = ready(t, s)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "shutting down", body["checks"].(map[string]any)["node"])
}

func TestPrefixIsConfigurable(t *testing.T) {
	t.Parallel()
	s := web.New(web.Config{Prefix: "/api/", Store: store.New(pgtest.New(t)), Registry: registry.New(), Logger: slog.New(slog.DiscardHandler)})
	for path, want := range map[string]int{"/api/health/live": http.StatusOK, "/tasker/health/live": http.StatusNotFound} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, want, rec.Code, path)
	}
}
