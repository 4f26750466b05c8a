// Package embeddb runs the PostgreSQL server that tasker embeds, so a single
// tasker binary works without an external database.
//
// The PostgreSQL binaries are built into the tasker binary as an xz tarball
// (see mkbundle.sh, run by `make build`). [Start] extracts them once per
// bundle version, initialises a data directory on first use, and starts a
// server that listens on 127.0.0.1 only; [DB.URL] hands out a connection
// string and [DB.Stop] shuts the server down.
//
// Everything lives under Config.DataDir:
//
//	pg/                   PostgreSQL data directory (survives restarts)
//	pg-password           password of the "tasker" role (mode 0600)
//	pgbin/<ver>-<sha12>/  extracted binaries, reused by warm restarts
//	run/                  Unix socket and scratch files, wiped at each start
//	pglog/                server log, postgresql-<weekday>.log, kept a week
//
// Logging: initdb's and pg_ctl's output, and the server's own output until its
// logging collector takes over, go to the slog logger given in [Config]
// (Debug level; lines with ERROR, FATAL or PANIC at Warn). Once running, the
// server writes its log to DataDir/pglog.
//
// PostgreSQL refuses to run as root; a process started as root calls
// [DropRootPrivileges] before [Start].
package embeddb
