package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core/auth"
)

func get(t *testing.T, url string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// An API reachable from other machines without authentication is refused
// before anything starts, with the two ways out; the client's TASKER_SERVER
// and TASKER_TOKEN in the environment do not get in the way.
func TestAuthRefusesAnOpenNonLoopbackAPI(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	for _, listen := range []string{fmt.Sprintf("0.0.0.0:%d", freePort(t)), fmt.Sprintf(":%d", freePort(t))} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, filepath.Join(dir, "tasker"), "serve", "--data-dir", filepath.Join(dir, "data"),
			"--listen", listen, "--plugins-dir", filepath.Join(dir, "plugins"))
		cmd.Env = append(os.Environ(), "TASKER_SERVER=http://elsewhere:8080/tasker", "TASKER_TOKEN=tsk_client-token")
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", out)
		require.Equal(t, 1, exit.ExitCode(), "%s", out)
		require.Contains(t, string(out), "refusing to serve the API on "+listen+" without authentication")
		require.Contains(t, string(out), "tasker auth new-key")
		require.Contains(t, string(out), "--insecure-no-auth")
		_, statErr := os.Stat(filepath.Join(dir, "data"))
		require.True(t, os.IsNotExist(statErr), "refused before PostgreSQL was set up")
	}
}

func TestAuthInsecureNoAuthServesOnAllInterfaces(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	n, base := startOn(t, dir, fmt.Sprintf("0.0.0.0:%d", freePort(t)), "--insecure-no-auth")
	require.Contains(t, n.logs.String(), "non-loopback address without authentication")
	require.Equal(t, http.StatusOK, get(t, base+"/tasks", nil).StatusCode)
	n.stop(t)
}

// `tasker auth new-key` prints the key on stdout and a tasker.yaml entry on
// stderr that works as it is pasted; with it, the API wants the key.
func TestAuthAPIKeyFromTheConfigFile(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(dir, "tasker"), "auth", "new-key", "--name", "e2e", "--permission", "tasker.task:index",
		"--permission", "tasker.handler:*")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	key := strings.TrimSpace(stdout.String())
	require.True(t, strings.HasPrefix(key, auth.KeyPrefix), key)
	require.NotContains(t, stderr.String(), key, "the key is printed once, on stdout")
	require.Contains(t, stderr.String(), auth.HashAPIKey(key))
	config := filepath.Join(dir, "tasker.yaml")
	require.NoError(t, os.WriteFile(config, stderr.Bytes(), 0o644))

	n, base := startOn(t, dir, fmt.Sprintf("0.0.0.0:%d", freePort(t)), "--config", config)
	require.Contains(t, n.logs.String(), "authentication is on")
	resp := get(t, base+"/tasks", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, `Bearer realm="tasker"`, resp.Header.Get("WWW-Authenticate"))
	require.Equal(t, http.StatusUnauthorized, get(t, base+"/tasks", map[string]string{"X-API-Key": key + "x"}).StatusCode)
	require.Equal(t, http.StatusOK, get(t, base+"/tasks", map[string]string{"Authorization": "Bearer " + key}).StatusCode)
	require.Equal(t, http.StatusOK, get(t, base+"/handlers", map[string]string{"X-API-Key": key}).StatusCode)
	require.Equal(t, http.StatusForbidden, get(t, base+"/health/status", map[string]string{"X-API-Key": key}).StatusCode)
	require.Equal(t, http.StatusOK, get(t, base+"/health/live", nil).StatusCode)
	require.NotContains(t, n.logs.String(), key, "keys never reach the log")
	n.stop(t)
}

func TestAuthNewKeyChecksItsFlags(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run([]string{"auth", "new-key", "--permission", "tasker.task:destroy"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "--name is required")
	require.Contains(t, stderr.String(), `unknown permission "tasker.task:destroy"`)
	require.Empty(t, stdout.String())

	stderr.Reset()
	require.Equal(t, 2, run([]string{"auth", "new-key", "--name", "x"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "at least one --permission or --role")

	stderr.Reset()
	require.Equal(t, 0, run([]string{"auth", "new-key", "--name", "ops", "--role", "operator", "--permission", "tasker.task:*,tasker.metrics:index"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), `permissions: ["tasker.task:*", "tasker.metrics:index"]`)
	require.Contains(t, stderr.String(), `roles: ["operator"]`)
	require.Contains(t, stderr.String(), `- name: "ops"`)
}
