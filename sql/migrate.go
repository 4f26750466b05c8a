package sql

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// lockKey is the advisory lock that serialises migrations across nodes
// ("tasker" in ASCII, so it is recognisable in pg_locks).
const lockKey = 0x7461736b6572

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in the order they apply.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: file name must be <number>_<name>.sql", e.Name())
		}
		body, err := migrations.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate brings the database up to the newest embedded migration. Each
// migration runs in its own transaction with its bookkeeping row, so a
// failure leaves the database at the last good version.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	all, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()

	// A session lock (not a transaction lock) because it must span several transactions.
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		// Background: the lock must be released even when ctx was cancelled.
		_, _ = conn.Exec(context.Background(), "select pg_advisory_unlock($1)", lockKey)
	}()

	if _, err := conn.Exec(ctx, `create schema if not exists tasker;
		create table if not exists tasker.schema_migrations (
			version    integer primary key,
			name       text not null,
			applied_at timestamptz not null default now())`); err != nil {
		return fmt.Errorf("migrate: create bookkeeping table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "select version from tasker.schema_migrations")
	if err != nil {
		return fmt.Errorf("migrate: read applied versions: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("migrate: read applied versions: %w", err)
	}
	for _, v := range versions {
		applied[v] = true
	}
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "insert into tasker.schema_migrations (version, name) values ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %04d_%s: %w", m.Version, m.Name, err)
		}
		logger.Info("applied database migration", "version", m.Version, "name", m.Name, "duration", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}
