package sql

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
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

// Checksum identifies the migration's text, so that a database migrated by
// a different text of the same version is noticed instead of half-working.
func (m Migration) Checksum() string {
	sum := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(sum[:])
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
			checksum   text,
			applied_at timestamptz not null default now());
		alter table tasker.schema_migrations add column if not exists checksum text`); err != nil {
		return fmt.Errorf("migrate: create bookkeeping table: %w", err)
	}
	applied, err := appliedChecksums(ctx, conn)
	if err != nil {
		return err
	}
	for _, m := range all {
		if sum, done := applied[m.Version]; done {
			if sum != m.Checksum() {
				return fmt.Errorf("migrate: the database's migration %04d_%s is not the one this tasker embeds "+
					"(it changed after it was applied, which only development builds do): use a fresh --data-dir "+
					"or database, or the tasker build that created this one", m.Version, m.Name)
			}
			continue
		}
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "insert into tasker.schema_migrations (version, name, checksum) values ($1, $2, $3)",
				m.Version, m.Name, m.Checksum())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %04d_%s: %w", m.Version, m.Name, err)
		}
		logger.Info("applied database migration", "version", m.Version, "name", m.Name, "duration", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// appliedChecksums maps each applied version to its recorded checksum ("" when
// none was recorded).
func appliedChecksums(ctx context.Context, conn *pgxpool.Conn) (map[int]string, error) {
	rows, err := conn.Query(ctx, "select version, coalesce(checksum, '') from tasker.schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read applied versions: %w", err)
	}
	applied := map[int]string{}
	var v int
	var sum string
	_, err = pgx.ForEachRow(rows, []any{&v, &sum}, func() error {
		applied[v] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: read applied versions: %w", err)
	}
	return applied, nil
}
