package embeddb

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

// serverConfig is the library's configuration of our server.
func serverConfig(cfg Config, b bundle, p paths, binDir, socketDir string, port uint32, password string, log *slog.Logger) embeddedpostgres.Config {
	return embeddedpostgres.DefaultConfig().
		Version(embeddedpostgres.PostgresVersion(b.version)).
		Port(port).
		// The library creates its database only on its own initdb, which we
		// do ourselves; "postgres" always exists, ensureDatabase does the rest.
		Username(roleName).Password(password).Database("postgres").
		DataPath(p.pg).BinariesPath(binDir).RuntimePath(p.run).CachePath(p.pgbin).
		// Binaries are always extracted before the library looks for them;
		// an unusable URL guarantees it never downloads anything.
		BinaryRepositoryURL("http://127.0.0.1:9/tasker-never-downloads").
		StartTimeout(cfg.StartTimeout).
		Logger(&lineWriter{log: log}).
		StartParameters(map[string]string{
			"listen_addresses":         "127.0.0.1",
			"unix_socket_directories":  socketDir,
			"logging_collector":        "on",
			"log_directory":            p.log,
			"log_filename":             "postgresql-%a.log",
			"log_truncate_on_rotation": "on",
			"log_rotation_age":         "1d",
			"log_rotation_size":        "0",
		})
}

// portTaken reports a start that failed because the port was in use. The
// library's own check says so in its error; a port taken after that check
// shows only in the server's log, because the logging collector gets
// PostgreSQL's complaint, not pg_ctl.
func portTaken(err error, serverLog string) bool {
	msg := err.Error() + "\n" + serverLog
	return strings.Contains(msg, "already listening on port") || strings.Contains(msg, "Address already in use")
}

// logSizes marks how far each server log in dir reaches, so that what a
// failed start wrote can be told from what earlier runs wrote.
func logSizes(dir string) map[string]int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "postgresql-*.log"))
	sizes := make(map[string]int64, len(files))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			sizes[f] = fi.Size()
		}
	}
	return sizes
}

// serverLogSince is the end of what PostgreSQL wrote to its logs in dir
// after before was taken: why it refused to start, which pg_ctl only asks
// the reader to examine.
func serverLogSince(dir string, before map[string]int64) string {
	var said []string
	for f, size := range logSizes(dir) {
		if size <= before[f] {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil || int64(len(raw)) < before[f] {
			continue
		}
		said = append(said, strings.Split(strings.TrimSpace(string(raw[before[f]:])), "\n")...)
	}
	const keep = 8
	if len(said) > keep {
		said = said[len(said)-keep:]
	}
	return strings.Join(said, "\n")
}

// chosenPorts are the ports freePort gave out in this process. Once its
// probe is closed the kernel may hand the same port to the next probe, so
// two servers starting at once would race for it.
var chosenPorts sync.Map

// freePort asks the kernel for a free loopback port, a few times if the one
// it gave is taken on localhost by the time it is checked there, or was
// already given to another server of this process.
func freePort() (uint32, error) {
	lastErr := errors.New("the kernel offered only ports already given to other servers of this process")
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, taken := chosenPorts.LoadOrStore(port, true); taken {
			continue
		}
		l2, err := net.Listen("tcp", net.JoinHostPort("localhost", strconv.Itoa(port)))
		if err != nil {
			lastErr = fmt.Errorf("port %d is free on 127.0.0.1 but not on localhost: %w", port, err)
			continue
		}
		l2.Close()
		return uint32(port), nil
	}
	return 0, lastErr
}
