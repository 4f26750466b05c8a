package main

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPprofOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	_, _, err := startPprof("0.0.0.0:0", log)
	require.ErrorContains(t, err, "debug.pprof_listen is 0.0.0.0:0: profiles are served only on a loopback address")

	addr, stop, err := startPprof("127.0.0.1:0", log)
	require.NoError(t, err)
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "goroutine profile:")

	_, stop, err = startPprof("", log)
	require.NoError(t, err, "off by default")
	stop()
}
