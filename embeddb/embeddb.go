package embeddb

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
	"github.com/jackc/pgx/v5"
)

const (
	roleName     = "tasker"
	databaseName = "tasker"
)

// Config for Start.
type Config struct {
	DataDir      string        // tasker's data dir; PostgreSQL data lives in DataDir/pg
	Logger       *slog.Logger  // nil discards
	Port         uint32        // 0 = choose a free loopback port
	StartTimeout time.Duration // 0 = 60s
}

// DB is a running embedded PostgreSQL server.
type DB struct {
	ep       *embeddedpostgres.EmbeddedPostgres
	log      *slog.Logger
	port     uint32
	password string
	pgDir    string
	logDir   string
	lock     *os.File // held while the server runs; see lockDataDir

	mu      sync.Mutex
	stopped bool
}

// paths are the fixed locations under Config.DataDir (see the package doc).
type paths struct{ data, pg, pgbin, run, log, password string }

func layout(dataDir string) paths {
	return paths{
		data: dataDir, pg: filepath.Join(dataDir, "pg"), pgbin: filepath.Join(dataDir, "pgbin"),
		run: filepath.Join(dataDir, "run"), log: filepath.Join(dataDir, "pglog"),
		password: filepath.Join(dataDir, "pg-password"),
	}
}

// Start extracts the embedded binaries if needed, initialises DataDir/pg on
// first use and starts PostgreSQL on 127.0.0.1. The caller must Stop it.
func Start(ctx context.Context, cfg Config) (*DB, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.DataDir == "" {
		return nil, errors.New("embedded PostgreSQL: no data directory configured")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: data directory %s: %w", cfg.DataDir, err)
	}
	// pg_ctl hands the server options to /bin/sh inside double quotes.
	if strings.ContainsAny(dataDir, "\"$`\\\n") {
		return nil, fmt.Errorf("embedded PostgreSQL: data directory %q must not contain \", $, ` or \\", dataDir)
	}
	if os.Geteuid() == 0 {
		return nil, errors.New("embedded PostgreSQL refuses to run as root: call DropRootPrivileges first or run tasker as an unprivileged user")
	}
	b, err := loadBundle()
	if err != nil {
		return nil, err
	}
	p := layout(dataDir)
	for _, d := range []string{p.data, p.run, p.log} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("embedded PostgreSQL: create %s: %w", d, err)
		}
	}
	lock, err := lockDataDir(p.data)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started && lock != nil {
			lock.Close()
		}
	}()
	fresh, err := checkDataDir(p.pg, b.major())
	if err != nil {
		return nil, err
	}

	t0 := time.Now()
	binDir, extracted, err := b.ensureExtracted(p.pgbin)
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	if extracted {
		log.Info(fmt.Sprintf("first start: extracted PostgreSQL %s in %s", b.display(), since(t0)), "dir", binDir)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := stopLeftover(log, binDir, p.pg, cfg.StartTimeout); err != nil {
		return nil, err
	}
	password, err := loadPassword(p.password, fresh)
	if err != nil {
		return nil, err
	}
	if fresh {
		t0 = time.Now()
		if err := initdb(log, binDir, p, password); err != nil {
			return nil, err
		}
		log.Info(fmt.Sprintf("initialised data directory %s in %s", p.pg, since(t0)))
	}

	socketDir := p.run
	if len(socketDir)+len("/.s.PGSQL.65535") > 107 {
		log.Info("embedded PostgreSQL: data directory path too long for a Unix socket; listening on TCP only", "dir", socketDir)
		socketDir = ""
	}
	db := &DB{log: log, password: password, pgDir: p.pg, logDir: p.log, lock: lock}
	t0 = time.Now()
	// A port chosen free can be taken by another process before PostgreSQL
	// binds it; then another port is chosen, a few times.
	for attempt := 1; ; attempt++ {
		db.port = cfg.Port
		if db.port == 0 {
			if db.port, err = freePort(); err != nil {
				return nil, fmt.Errorf("embedded PostgreSQL: choose a port: %w", err)
			}
		}
		db.ep = embeddedpostgres.NewDatabase(serverConfig(cfg, b, p, binDir, socketDir, db.port, password, log))
		logged := logSizes(p.log)
		err = db.ep.Start()
		if err == nil {
			break
		}
		removeLibraryLogs(p.log)
		said := serverLogSince(p.log, logged)
		if cfg.Port != 0 || attempt == 3 || !portTaken(err, said) {
			if said != "" {
				err = fmt.Errorf("%w\nthe server log ends with:\n%s", err, said)
			}
			return nil, fmt.Errorf("embedded PostgreSQL: start server on 127.0.0.1:%d (server log in %s): %w", db.port, p.log, err)
		}
		log.Info("embedded PostgreSQL: the chosen port was taken meanwhile; choosing another", "port", db.port)
	}
	if err := ensureDatabase(ctx, db.url("postgres")); err != nil {
		return nil, errors.Join(err, db.Stop())
	}
	log.Info(fmt.Sprintf("PostgreSQL ready on 127.0.0.1:%d in %s", db.port, since(t0)), "data", p.pg)
	for _, r := range removeStaleTrees(p.pgbin, b.dirName()) {
		log.Debug("removed binaries of another PostgreSQL bundle", "dir", r)
	}
	started = true
	return db, nil
}

// URL is the connection string for the tasker database.
func (db *DB) URL() string { return db.url(databaseName) }

func (db *DB) url(database string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", roleName, db.password, db.port, database)
}

// Stop shuts the server down with pg_ctl's fast mode (rolls back open
// transactions, no waiting for clients). Calling it again is a no-op.
func (db *DB) Stop() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.stopped {
		return nil
	}
	if err := db.ep.Stop(); err != nil {
		return fmt.Errorf("embedded PostgreSQL: stop server in %s: %w", db.pgDir, err)
	}
	db.stopped = true
	if db.lock != nil {
		db.lock.Close()
	}
	removeLibraryLogs(db.logDir)
	db.log.Info("PostgreSQL stopped", "data", db.pgDir)
	return nil
}

// checkDataDir decides whether pg/ needs initdb. It refuses anything the
// library would otherwise wipe: it deletes a data directory whose PG_VERSION
// does not match the binaries.
func checkDataDir(pgDir, major string) (fresh bool, err error) {
	entries, err := os.ReadDir(pgDir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("embedded PostgreSQL: read data directory: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(pgDir, "PG_VERSION"))
	if errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("embedded PostgreSQL: data directory %s is not empty but has no PG_VERSION file, "+
			"so it is not a PostgreSQL data directory; tasker will not touch it: move it away or pick another --data-dir", pgDir)
	}
	if err != nil {
		return false, fmt.Errorf("embedded PostgreSQL: read PG_VERSION: %w", err)
	}
	if have := strings.TrimSpace(string(raw)); have != major {
		return false, fmt.Errorf("embedded PostgreSQL: data directory %s was created by PostgreSQL %s; this tasker embeds PostgreSQL %s. "+
			"Nothing was changed. To move the data: 'tasker db backup' with the older tasker that embeds PostgreSQL %s, "+
			"then 'tasker db restore' with this one into a new --data-dir (docs/OPERATIONS.md); or upgrade it with pg_upgrade (PostgreSQL %s binaries)",
			pgDir, have, major, have, major)
	}
	return false, nil
}

// removeLibraryLogs deletes the temp files the library creates in
// os.TempDir at every start and never removes. Ours are recognised by the
// server's first lines, which name this data directory's log directory; they
// can only go after Stop, which reads the current one back by name.
func removeLibraryLogs(logDir string) {
	files, _ := filepath.Glob(filepath.Join(os.TempDir(), "embedded_postgres_log*"))
	needle := []byte(strconv.Quote(logDir))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		head := make([]byte, 4096)
		n, _ := io.ReadFull(fh, head)
		fh.Close()
		if bytes.Contains(head[:n], needle) {
			_ = os.Remove(f)
		}
	}
}

// loadPassword reuses the password chosen at initdb; only a fresh data
// directory may get a new one, anything else could never log in again.
func loadPassword(path string, fresh bool) (string, error) {
	raw, err := os.ReadFile(path)
	if err == nil && len(bytes.TrimSpace(raw)) > 0 {
		return string(bytes.TrimSpace(raw)), nil
	}
	if !fresh {
		return "", fmt.Errorf("embedded PostgreSQL: password file %s is missing or empty but the data directory already exists; restore the file from a backup", path)
	}
	password := rand.Text()
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // leftover of a crash between write and rename
	if err := writeSynced(tmp, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("embedded PostgreSQL: write password file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	return password, nil
}

// initdb runs into a temporary sibling renamed to pg/ when done, so a crash
// mid-initdb leaves no half-made data directory that would look valid.
func initdb(log *slog.Logger, binDir string, p paths, password string) error {
	tmp := p.pg + ".initdb-tmp"
	pwfile := filepath.Join(p.run, "initdb-pwfile")
	defer os.RemoveAll(tmp)
	defer os.Remove(pwfile)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("embedded PostgreSQL: remove %s: %w", tmp, err)
	}
	if err := os.WriteFile(pwfile, []byte(password), 0o600); err != nil {
		return fmt.Errorf("embedded PostgreSQL: write initdb password file: %w", err)
	}
	// Same arguments the library would use, so its start logic accepts the result.
	cmd := exec.Command(filepath.Join(binDir, "bin", "initdb"), "-A", "password", "-U", roleName, "-D", tmp,
		"--pwfile="+pwfile, "--locale=C", "--encoding=UTF8")
	out, err := cmd.CombinedOutput()
	(&lineWriter{log: log}).Write(out)
	if err != nil {
		return fmt.Errorf("embedded PostgreSQL: initdb failed: %w\n%s", err, out)
	}
	if err := os.Remove(p.pg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	if err := os.Rename(tmp, p.pg); err != nil {
		return fmt.Errorf("embedded PostgreSQL: move initialised data directory into place: %w", err)
	}
	return nil
}

func ensureDatabase(ctx context.Context, adminURL string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("embedded PostgreSQL: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "select exists(select 1 from pg_database where datname = $1)", databaseName).Scan(&exists); err != nil {
		return fmt.Errorf("embedded PostgreSQL: look for database %s: %w", databaseName, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{databaseName}.Sanitize()); err != nil {
			return fmt.Errorf("embedded PostgreSQL: create database %s: %w", databaseName, err)
		}
	}
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

// lineWriter turns PostgreSQL's output into one slog record per line.
type lineWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		line, rest, ok := bytes.Cut(w.buf, []byte("\n"))
		if !ok {
			return len(p), nil
		}
		w.buf = rest
		s := strings.TrimSpace(string(line))
		level := slog.LevelDebug
		if strings.Contains(s, "ERROR:") || strings.Contains(s, "FATAL:") || strings.Contains(s, "PANIC:") {
			level = slog.LevelWarn
		}
		if s != "" {
			w.log.Log(context.Background(), level, s, "source", "postgres")
		}
	}
}
