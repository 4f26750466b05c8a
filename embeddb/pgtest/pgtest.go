// Package pgtest gives each test its own database on one embedded PostgreSQL
// per test binary, with tasker's migrations already applied: real
// PostgreSQL, isolated tests, and no external server to install.
//
// A test package calls Main from TestMain and New from each test.
package pgtest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasker-systems/tasker/embeddb"
	"github.com/tasker-systems/tasker/sql"
)

const templateDB = "tasker_test_template"

var (
	adminURL string
	counter  atomic.Int64
)

// Main starts the shared PostgreSQL, runs the tests and stops it. When the
// tests run as root the whole test binary drops to an unprivileged user
// first, as tasker itself does, because PostgreSQL refuses root.
func Main(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	reapLeftovers()
	base, err := os.MkdirTemp("", "tasker-pgtest-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(base)
	// Reachable by the unprivileged user when the tests run as root.
	if err := os.Chmod(base, 0o755); err != nil {
		return 1, err
	}
	if _, err := embeddb.DropRootPrivileges(nil, "", base); err != nil {
		return 1, err
	}
	ctx := context.Background()
	db, err := embeddb.Start(ctx, embeddb.Config{DataDir: filepath.Join(base, "data")})
	if err != nil {
		return 1, fmt.Errorf("%w (build the bundle first: make build)", err)
	}
	defer db.Stop()
	adminURL = db.URL()
	if err := prepareTemplate(ctx); err != nil {
		return 1, err
	}
	return m.Run(), nil
}

// prepareTemplate migrates a template database once; each test's database is
// a copy of it, which is much faster than migrating per test.
func prepareTemplate(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "create database "+templateDB); err != nil {
		return fmt.Errorf("create template database: %w", err)
	}
	pool, err := pgxpool.New(ctx, withDatabase(adminURL, templateDB))
	if err != nil {
		return err
	}
	defer pool.Close()
	return sql.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
}

// URL returns the connection string of a fresh, migrated database that is
// dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	if adminURL == "" {
		t.Fatal("pgtest: no database; call pgtest.Main(m) from TestMain")
	}
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), counter.Add(1))
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("create database %s template %s", name, templateDB)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if admin, err := pgx.Connect(ctx, adminURL); err == nil {
			_, _ = admin.Exec(ctx, fmt.Sprintf("drop database if exists %s with (force)", name))
			_ = admin.Close(ctx)
		}
	})
	return withDatabase(adminURL, name)
}

// New returns a pool on a fresh, migrated database, closed when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err) // the URL comes from embeddb and is well formed
	}
	u.Path = "/" + db
	return u.String()
}
