//go:build linux

package embeddb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// testBase holds every test's data; it is handed to the unprivileged user
// when the tests run as root.
var testBase string

// TestMain drops root before any test runs: PostgreSQL refuses root, and the
// drop is process-wide, so it cannot happen inside a single test.
func TestMain(m *testing.M) {
	base, err := os.MkdirTemp("", "embeddb-test-")
	if err == nil {
		err = os.Chmod(base, 0o755)
	}
	if err == nil {
		logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
		_, err = DropRootPrivileges(logger, "", base)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "embeddb tests: set up:", err)
		os.Exit(2)
	}
	testBase = base
	code := m.Run()
	os.RemoveAll(base)
	os.Exit(code)
}

func requireBundle(t *testing.T) {
	t.Helper()
	if _, ok := BundleInfo(); !ok {
		t.Fatal("the PostgreSQL bundle is not embedded: run make build first (embeddb/mkbundle.sh embeddb/bundle)")
	}
}

func tempDataDir(t *testing.T) string {
	t.Helper()
	// Short names: the Unix socket path under run/ must stay below 108 bytes.
	dir, err := os.MkdirTemp(testBase, "d")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	w := io.MultiWriter(buf, tWriter{t})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start starts a DB and makes sure it is stopped when the test ends; Stop is
// idempotent, so tests may also stop it themselves.
func start(t *testing.T, cfg Config) *DB {
	t.Helper()
	requireBundle(t)
	db, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Stop() })
	return db
}

func connect(t *testing.T, db *DB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.URL())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartStopRestartKeepsDataAndBinaries(t *testing.T) {
	t.Parallel()
	dir := tempDataDir(t)
	ctx := context.Background()
	logger, logs := testLogger(t)

	db := start(t, Config{DataDir: dir, Logger: logger})
	require.Regexp(t, `^postgres://tasker:[^@]+@127\.0\.0\.1:\d+/tasker\?sslmode=disable$`, db.URL())
	_, err := os.Stat(filepath.Join(dir, "run", fmt.Sprintf(".s.PGSQL.%d", db.port)))
	require.NoError(t, err, "the Unix socket lives in run/")
	conn := connect(t, db)
	var version string
	require.NoError(t, conn.QueryRow(ctx, "select version()").Scan(&version))
	require.Contains(t, version, "PostgreSQL 18")
	_, err = conn.Exec(ctx, "create table kept (v text); insert into kept values ('still here')")
	require.NoError(t, err)
	conn.Close(ctx)
	require.NoError(t, db.Stop())
	require.NoError(t, db.Stop(), "Stop must be idempotent")
	require.Contains(t, logs.String(), "first start: extracted PostgreSQL")
	require.Contains(t, logs.String(), "initialised data directory")

	info, err := os.Stat(filepath.Join(dir, "pg-password"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	binInfo, err := os.Stat(filepath.Join(dir, "pgbin"))
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join(dir, "pgbin"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the current bundle's binaries are kept")
	treeInfo, err := os.Stat(filepath.Join(dir, "pgbin", entries[0].Name()))
	require.NoError(t, err)

	logger2, logs2 := testLogger(t)
	db2 := start(t, Config{DataDir: dir, Logger: logger2})
	require.Equal(t, strings.Split(db.URL(), "@")[0], strings.Split(db2.URL(), "@")[0], "password is reused")
	var v string
	require.NoError(t, connect(t, db2).QueryRow(ctx, "select v from kept").Scan(&v))
	require.Equal(t, "still here", v)
	require.NotContains(t, logs2.String(), "extracted PostgreSQL", "warm start must not re-extract")
	require.NotContains(t, logs2.String(), "initialised data directory")
	binInfo2, err := os.Stat(filepath.Join(dir, "pgbin"))
	require.NoError(t, err)
	treeInfo2, err := os.Stat(filepath.Join(dir, "pgbin", entries[0].Name()))
	require.NoError(t, err)
	require.Equal(t, binInfo.ModTime(), binInfo2.ModTime())
	require.Equal(t, treeInfo.ModTime(), treeInfo2.ModTime())
	require.NoError(t, db2.Stop())
}

func TestPortZeroAvoidsBusyPortsAndTwoServersRunAtOnce(t *testing.T) {
	t.Parallel()
	// Occupy 5432 if nobody does yet, so the "PostgreSQL already there" case
	// is exercised either way.
	if l, err := net.Listen("tcp", "127.0.0.1:5432"); err == nil {
		t.Cleanup(func() { l.Close() })
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	busyPort := uint32(busy.Addr().(*net.TCPAddr).Port)

	dirs := []string{tempDataDir(t), tempDataDir(t)}
	dbs := make([]*DB, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Go(func() {
			logger, _ := testLogger(t)
			dbs[i], errs[i] = Start(context.Background(), Config{DataDir: dirs[i], Logger: logger})
		})
	}
	wg.Wait()
	requireBundle(t)
	for i := range dbs {
		if dbs[i] != nil {
			t.Cleanup(func() { _ = dbs[i].Stop() })
		}
		require.NoError(t, errs[i])
	}
	require.NotEqual(t, dbs[0].port, dbs[1].port)
	for _, db := range dbs {
		require.NotEqual(t, uint32(5432), db.port)
		require.NotEqual(t, busyPort, db.port)
		var one int
		require.NoError(t, connect(t, db).QueryRow(context.Background(), "select 1").Scan(&one))
	}

	// An explicitly configured port that is taken is an error, not a surprise port.
	require.NoError(t, dbs[0].Stop())
	logger, _ := testLogger(t)
	_, err = Start(context.Background(), Config{DataDir: dirs[0], Logger: logger, Port: busyPort})
	require.ErrorContains(t, err, fmt.Sprint(busyPort))
}

func TestLeftoverPostmasterIsStopped(t *testing.T) {
	t.Parallel()
	dir := tempDataDir(t)
	pidFile := filepath.Join(dir, "pg", "postmaster.pid")
	logger, logs := testLogger(t)

	crashed := start(t, Config{DataDir: dir, Logger: logger})
	oldPid, ok := readPid(pidFile)
	require.True(t, ok)
	require.True(t, processAlive(oldPid))

	// While the first server's owner lives, the data directory is taken.
	_, err := Start(context.Background(), Config{DataDir: dir, Logger: logger})
	require.ErrorContains(t, err, "is in use by another tasker")
	require.True(t, processAlive(oldPid), "a refused start leaves the running server alone")

	// No Stop, and the lock gone with its process: as if tasker had been killed.
	require.NoError(t, crashed.lock.Close())
	db := start(t, Config{DataDir: dir, Logger: logger})
	require.Contains(t, logs.String(), "stopped a leftover PostgreSQL server")
	newPid, ok := readPid(pidFile)
	require.True(t, ok)
	require.NotEqual(t, oldPid, newPid)
	require.False(t, processAlive(oldPid), "the old postmaster must be gone")
	require.True(t, processAlive(newPid))
	var one int
	require.NoError(t, connect(t, db).QueryRow(context.Background(), "select 1").Scan(&one))
	_ = crashed // its cleanup Stop fails harmlessly once db is stopped
	require.NoError(t, db.Stop())
	require.Eventually(t, func() bool { return !processAlive(newPid) }, 5*time.Second, 20*time.Millisecond)
}

func TestOtherMajorVersionIsRefusedAndKept(t *testing.T) {
	t.Parallel()
	requireBundle(t)
	dir := tempDataDir(t)
	pg := filepath.Join(dir, "pg")
	require.NoError(t, os.MkdirAll(pg, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(pg, "PG_VERSION"), []byte("17\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(pg, "marker"), []byte("precious"), 0o600))

	_, err := Start(context.Background(), Config{DataDir: dir})
	require.Error(t, err)
	require.Contains(t, err.Error(), "PostgreSQL 17")
	require.Contains(t, err.Error(), "PostgreSQL 18")
	require.Contains(t, err.Error(), "pg_upgrade")
	require.Contains(t, err.Error(), "tasker db backup", "the message says how to move the data")
	got, err := os.ReadFile(filepath.Join(pg, "marker"))
	require.NoError(t, err)
	require.Equal(t, "precious", string(got))
	got, err = os.ReadFile(filepath.Join(pg, "PG_VERSION"))
	require.NoError(t, err)
	require.Equal(t, "17\n", string(got))
}

func TestNonEmptyDataDirWithoutPGVersionIsRefused(t *testing.T) {
	t.Parallel()
	requireBundle(t)
	dir := tempDataDir(t)
	pg := filepath.Join(dir, "pg")
	require.NoError(t, os.MkdirAll(pg, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(pg, "notes.txt"), []byte("mine"), 0o600))

	_, err := Start(context.Background(), Config{DataDir: dir})
	require.ErrorContains(t, err, "no PG_VERSION")
	got, err := os.ReadFile(filepath.Join(pg, "notes.txt"))
	require.NoError(t, err)
	require.Equal(t, "mine", string(got))
}

func TestCheckReachable(t *testing.T) {
	t.Parallel()
	dir := tempDataDir(t)
	require.NoError(t, os.Chmod(dir, 0o755))
	parent := filepath.Join(dir, "parent")
	child := filepath.Join(parent, "child")
	require.NoError(t, os.MkdirAll(child, 0o755))
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(parent, &st))
	stranger := st.Uid + 1000 // neither owner nor root
	strangerGid := st.Gid + 1000

	require.NoError(t, os.Chmod(parent, 0o755))
	require.NoError(t, checkReachable(child, stranger, strangerGid, nil))

	require.NoError(t, os.Chmod(parent, 0o700))
	err := checkReachable(child, stranger, strangerGid, nil)
	require.ErrorContains(t, err, parent)
	require.ErrorContains(t, err, "-rwx------")
	require.ErrorContains(t, err, "/var/lib/tasker")
	require.NoError(t, checkReachable(child, st.Uid, st.Gid, nil), "the owner may pass")

	// Group search bit: allowed through the primary or a supplementary group.
	require.NoError(t, os.Chmod(parent, 0o710))
	require.Error(t, checkReachable(child, stranger, strangerGid, nil))
	require.NoError(t, checkReachable(child, stranger, st.Gid, nil))
	require.NoError(t, checkReachable(child, stranger, strangerGid, []uint32{st.Gid}))

	// Only the first matching class counts: a group member is denied by a
	// group without x even when "other" has it.
	require.NoError(t, os.Chmod(parent, 0o701))
	require.Error(t, checkReachable(child, stranger, st.Gid, nil))
	require.NoError(t, checkReachable(child, stranger, strangerGid, nil))
	require.NoError(t, os.Chmod(parent, 0o755))
}

// TestTimings measures cold and warm starts; it is a measurement, not a
// check, so it runs only on request: EMBEDDB_TIMINGS=1 go test -run Timings.
func TestTimings(t *testing.T) {
	if os.Getenv("EMBEDDB_TIMINGS") == "" {
		t.Skip("set EMBEDDB_TIMINGS=1 to measure start times")
	}
	dir := tempDataDir(t)
	logger, _ := testLogger(t)
	t0 := time.Now()
	db := start(t, Config{DataDir: dir, Logger: logger})
	cold := time.Since(t0)
	require.NoError(t, db.Stop())
	var warm []time.Duration
	for range 3 {
		t0 = time.Now()
		db := start(t, Config{DataDir: dir})
		warm = append(warm, time.Since(t0))
		t0 = time.Now()
		require.NoError(t, db.Stop())
		t.Logf("stop took %s", time.Since(t0))
	}
	slices.Sort(warm)
	t.Logf("first start (extract+initdb+start): %s; warm starts %v, median %s", cold, warm, warm[1])
}
