//go:build linux

package embeddb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A server that refuses to start says why only in its own log (the logging
// collector has its stderr by then); the error must carry that reason rather
// than pg_ctl's "Examine the log output".
func TestStartFailureQuotesTheServerLog(t *testing.T) {
	t.Parallel()
	dir := tempDataDir(t)
	logger, _ := testLogger(t)
	require.NoError(t, start(t, Config{DataDir: dir, Logger: logger}).Stop())

	wal, err := filepath.Glob(filepath.Join(dir, "pg", "pg_wal", "0000*"))
	require.NoError(t, err)
	require.NotEmpty(t, wal)
	for _, f := range wal {
		require.NoError(t, os.Remove(f))
	}

	_, err = Start(context.Background(), Config{DataDir: dir, Logger: logger})
	require.Error(t, err)
	require.ErrorContains(t, err, "could not locate a valid checkpoint record")
	require.ErrorContains(t, err, filepath.Join(dir, "pglog"))
}

// The library checks that a chosen port is free, but another process can
// take it before PostgreSQL binds it. That failure reaches the server log
// only, and Start must recognise it there to choose another port.
func TestPortTakenAfterTheCheckIsFoundInTheServerLog(t *testing.T) {
	t.Parallel()
	dir := tempDataDir(t)
	logger, _ := testLogger(t)
	require.NoError(t, start(t, Config{DataDir: dir, Logger: logger}).Stop())
	bins, err := filepath.Glob(filepath.Join(dir, "pgbin", "*", "bin", "pg_ctl"))
	require.NoError(t, err)
	require.Len(t, bins, 1)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	port := busy.Addr().(*net.TCPAddr).Port

	p := layout(dir)
	before := logSizes(p.log)
	out, err := exec.Command(bins[0], "start", "-w", "-t", "30", "-D", p.pg, "-o",
		fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c logging_collector=on -c log_directory=%s", port, p.log),
	).CombinedOutput()
	if err == nil {
		_ = exec.Command(bins[0], "stop", "-D", p.pg, "-m", "fast").Run()
		t.Fatalf("PostgreSQL started on port %d, which the test holds", port)
	}
	pgCtl := errors.New(string(out))
	require.False(t, portTaken(pgCtl, ""), "pg_ctl's own output names the port problem; this test no longer covers the server log:\n%s", out)

	said := serverLogSince(p.log, before)
	require.Contains(t, said, "Address already in use")
	require.True(t, portTaken(pgCtl, said))
}
