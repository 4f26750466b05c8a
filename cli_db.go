package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasker-systems/tasker/core/backup"
	"github.com/tasker-systems/tasker/core/config"
	"github.com/tasker-systems/tasker/embeddb"
	"github.com/tasker-systems/tasker/sql"
)

const dbUsage = `Usage:
  tasker db backup --out FILE [flags]   write a backup of tasker's tables to FILE ("-" for stdout);
                                        works while tasker serves (one consistent snapshot)
  tasker db restore FILE [flags]        restore a backup into a data directory or database that tasker
                                        does not serve; --force replaces existing tasker data
  tasker db verify FILE                 check a backup's checksums and print what it holds

Flags of backup and restore (as for serve; read from the config file and TASKER_* too):
  --config FILE        configuration file (default tasker.yaml; optional unless given)
  --data-dir DIR       tasker's data directory (embedded PostgreSQL)
  --database-url URL   an external PostgreSQL instead of the embedded one
  --user NAME          when run as root and tasker is not serving: the user to run PostgreSQL as
`

// runDB implements `tasker db`.
func runDB(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dbUsage)
		return 2
	}
	switch args[0] {
	case "backup", "restore":
		return runDBCommand(args[0], args[1:], stdout, stderr)
	case "verify":
		if len(args) != 2 {
			fmt.Fprint(stderr, "tasker db verify: want one archive file\n\n"+dbUsage)
			return 2
		}
		f, err := os.Open(args[1])
		if err != nil {
			fmt.Fprintf(stderr, "tasker db verify: %v\n", err)
			return 1
		}
		defer f.Close()
		m, err := backup.Verify(f)
		if err != nil {
			fmt.Fprintf(stderr, "tasker db verify: %s: %v\n", args[1], err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n%s", args[1], describe(m))
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, dbUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "tasker db: unknown command %q\n\n%s", args[0], dbUsage)
		return 2
	}
}

func describe(m backup.Manifest) string {
	var b strings.Builder
	var rows int64
	for _, t := range m.Tables {
		rows += t.Rows
	}
	fmt.Fprintf(&b, "  made %s by tasker %s from PostgreSQL %s, schema migration %d\n",
		m.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), m.TaskerVersion, m.PostgresVersion, m.Migration)
	fmt.Fprintf(&b, "  %d tables, %d rows:", len(m.Tables), rows)
	for _, t := range m.Tables {
		fmt.Fprintf(&b, " %s %d", t.Name, t.Rows)
	}
	b.WriteString("\n")
	return b.String()
}

func runDBCommand(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("db "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, dbUsage) }
	configFile := fs.String("config", "tasker.yaml", "configuration file (YAML); optional unless given")
	keyOf := map[string]string{"data-dir": "data_dir", "database-url": "database_url", "user": "user"}
	fs.String("data-dir", config.Defaults().DataDir, "tasker's data directory")
	fs.String("database-url", "", "external PostgreSQL (postgres://...)")
	fs.String("user", "", "when root: the unprivileged user to run PostgreSQL as")
	out := fs.String("out", "", `backup: the archive to write ("-" for stdout); it must not exist`)
	force := fs.Bool("force", false, "restore: replace existing tasker data, even with other clients connected")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	given := map[string]any{}
	configGiven := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			configGiven = true
		} else if key, ok := keyOf[f.Name]; ok {
			given[key] = f.Value.String()
		}
	})
	switch {
	case cmd == "backup" && (*out == "" || fs.NArg() != 0):
		fmt.Fprint(stderr, "tasker db backup: want --out FILE and no arguments\n\n"+dbUsage)
		return 2
	case cmd == "restore" && (fs.NArg() != 1 || *out != ""):
		fmt.Fprint(stderr, "tasker db restore: want one archive file (flags go before it)\n\n"+dbUsage)
		return 2
	case cmd == "backup" && *force:
		fmt.Fprint(stderr, "tasker db backup: --force is for restore\n")
		return 2
	}
	cfg, err := config.Load(config.Sources{File: *configFile, FileRequired: configGiven, Env: os.Environ(), Flags: given})
	if err != nil {
		fmt.Fprintf(stderr, "tasker db %s: %v\n", cmd, err)
		return 2
	}
	log, err := newLogger(cfg.Log.Format, cfg.Log.Level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tasker db %s: %v\n", cmd, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cmd == "backup" {
		err = dbBackup(ctx, log, cfg, *out, stdout)
	} else {
		err = dbRestore(ctx, log, cfg, fs.Arg(0), *force, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tasker db %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// dbConn is a connection to tasker's database for one db command, with what
// must happen when it is done (stopping a PostgreSQL started for it).
type dbConn struct {
	url   string
	close func()
}

// connect reaches tasker's database: the external one; the embedded one of
// a tasker serving the data dir, through the port in postmaster.pid and the
// password file (which needs the service's user or root, nothing else); or,
// when none serves it, the embedded PostgreSQL started here for the command.
// Everything that must be opened as root is opened before connect, which may
// drop root privileges for good.
func connect(ctx context.Context, log *slog.Logger, cfg config.Config, whileServing bool) (dbConn, error) {
	if cfg.DatabaseURL != "" {
		return dbConn{url: cfg.DatabaseURL, close: func() {}}, nil
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return dbConn{}, err
	}
	served, pid, err := dataDirServed(dataDir)
	if err != nil {
		return dbConn{}, fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	if served {
		if !whileServing {
			return dbConn{}, fmt.Errorf("tasker (pid %s) is serving data directory %s: stop it first (systemctl stop tasker), restore, then start it again", pid, dataDir)
		}
		url, err := servedURL(dataDir)
		if err != nil {
			return dbConn{}, err
		}
		log.Debug("connecting to the PostgreSQL of the tasker serving the data directory", "pid", pid, "data_dir", dataDir)
		return dbConn{url: url, close: func() {}}, nil
	}
	if whileServing { // a backup: there must be data to back up
		if _, err := os.Stat(filepath.Join(dataDir, "pg", "PG_VERSION")); err != nil {
			return dbConn{}, fmt.Errorf("no tasker database in %s (no pg/PG_VERSION): check --data-dir or --config", dataDir)
		}
	}
	if _, err := embeddb.DropRootPrivileges(log, cfg.User, dataDir); err != nil {
		return dbConn{}, fmt.Errorf("running as root: %w", err)
	}
	db, err := embeddb.Start(ctx, embeddb.Config{DataDir: dataDir, Logger: log.With("component", "postgres")})
	if err != nil {
		return dbConn{}, fmt.Errorf("start embedded PostgreSQL: %w", err)
	}
	return dbConn{url: db.URL(), close: func() {
		if err := db.Stop(); err != nil {
			log.Error("stopping embedded PostgreSQL failed", "error", err)
		}
	}}, nil
}

// servedURL reads the connection string of a running tasker's embedded
// PostgreSQL: line 4 of postmaster.pid is its port, pg-password its password.
func servedURL(dataDir string) (string, error) {
	pidFile := filepath.Join(dataDir, "pg", "postmaster.pid")
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return "", fmt.Errorf("tasker serves %s but its PostgreSQL is not up (%v): wait until it is ready, or run as the user tasker runs as or root", dataDir, err)
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < 4 || strings.TrimSpace(lines[3]) == "" {
		return "", fmt.Errorf("%s names no port yet: wait until tasker is ready", pidFile)
	}
	password, err := os.ReadFile(filepath.Join(dataDir, "pg-password"))
	if err != nil {
		return "", fmt.Errorf("read the database password: %w; run as the user tasker runs as (sudo -u tasker tasker db ...) or as root", err)
	}
	return fmt.Sprintf("postgres://tasker:%s@127.0.0.1:%s/tasker?sslmode=disable",
		strings.TrimSpace(string(password)), strings.TrimSpace(lines[3])), nil
}

func dbBackup(ctx context.Context, log *slog.Logger, cfg config.Config, out string, stdout io.Writer) (err error) {
	// The archive is opened before connect may drop root privileges; it is
	// never overwritten, and removed (or emptied) when the backup fails.
	var w *os.File
	if out == "-" {
		w = os.Stdout
		stdout = os.Stderr // the summary must not mix with the archive
	} else {
		if w, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("create the archive: %w (choose a new file name)", err)
		}
		defer func() {
			// After dropping root the directory may no longer be ours to
			// remove from; the open file still is ours to empty.
			if err != nil && os.Remove(out) != nil {
				_ = w.Truncate(0)
			}
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}()
	}
	c, err := connect(ctx, log, cfg, true)
	if err != nil {
		return err
	}
	defer c.close()
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	v, _, _ := buildVersion()
	m, err := backup.Backup(ctx, conn, w, backup.Options{TaskerVersion: v})
	if err != nil {
		return err
	}
	if out != "-" {
		if err := w.Sync(); err != nil {
			return fmt.Errorf("write the archive: %w", err)
		}
	}
	fmt.Fprintf(stdout, "backup written to %s\n%s", out, describe(m))
	return nil
}

func dbRestore(ctx context.Context, log *slog.Logger, cfg config.Config, file string, force bool, stdout io.Writer) error {
	f, err := os.Open(file) // before connect may drop root privileges
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(f, 0, info.Size())), nil }
	// Fail on a damaged archive before starting anything.
	r, _ := open()
	if _, err := backup.Verify(r); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	all, err := sql.Migrations()
	if err != nil {
		return err
	}
	schema := make([]backup.SchemaMigration, len(all))
	for i, m := range all {
		schema[i] = backup.SchemaMigration{Version: m.Version, Name: m.Name, Checksum: m.Checksum(), SQL: m.SQL}
	}

	c, err := connect(ctx, log, cfg, false)
	if err != nil {
		return err
	}
	defer c.close()
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	m, err := backup.Restore(ctx, conn, open, backup.RestoreOptions{Schema: schema, Force: force})
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	// Bring the restored schema to this tasker's, as serve would.
	pool, err := pgxpool.New(ctx, c.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := sql.Migrate(ctx, pool, log); err != nil {
		return fmt.Errorf("restored, but migrating to this tasker's schema failed: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s\n%s", file, describe(m))
	return nil
}
