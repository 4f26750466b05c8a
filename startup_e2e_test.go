package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServeRefusesABusyPortBeforeStartingPostgreSQL: the API's address is
// taken first, so a port in use fails the start at once, naming it, before
// PostgreSQL is extracted and started.
func TestServeRefusesABusyPortBeforeStartingPostgreSQL(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	addr := busy.Addr().String()
	out, err := exec.Command(filepath.Join(dir, "tasker"), "serve", "--data-dir", filepath.Join(dir, "data"),
		"--listen", addr, "--plugins-dir", filepath.Join(dir, "plugins")).CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "listen on "+addr)
	require.Contains(t, string(out), "address already in use")
	require.NotContains(t, string(out), "extracted PostgreSQL", "nothing of the database started")
	require.NotContains(t, string(out), "PostgreSQL ready")
}

// TestServeAnswers503WhileStarting: from the moment its port is open until
// the API is ready (PostgreSQL extracted, migrated, plugins loaded) every
// request gets 503 with a problem document that says tasker is starting.
func TestServeAnswers503WhileStarting(t *testing.T) {
	t.Parallel()
	dir := workdir(t)
	port := freePort(t)
	first := make(chan *http.Response, 1)
	stopPolling := make(chan struct{})
	defer close(stopPolling)
	go func() {
		for {
			select {
			case <-stopPolling:
				return
			case <-time.After(5 * time.Millisecond):
			}
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/tasker/health/live", port))
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				resp.Body = io.NopCloser(bytes.NewReader(body))
				first <- resp
				return
			}
		}
	}()
	startOn(t, dir, fmt.Sprintf("127.0.0.1:%d", port))
	var resp *http.Response
	select {
	case resp = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer while starting")
	}
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a first start takes seconds: the first answer is the starting one")
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	body, _ := io.ReadAll(resp.Body)
	require.JSONEq(t, `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"tasker is starting",
		"instance":"/tasker/health/live"}`, string(body))
}
