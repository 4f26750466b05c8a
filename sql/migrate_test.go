package sql_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestMigrateIsIdempotentAndNoticesChangedMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.URL(t)) // already migrated, as every test database
	require.NoError(t, err)
	defer pool.Close()
	logger := slog.New(slog.DiscardHandler)

	require.NoError(t, sql.Migrate(ctx, pool, logger), "a second run applies nothing and succeeds")
	all, err := sql.Migrations()
	require.NoError(t, err)
	var count int
	require.NoError(t, pool.QueryRow(ctx, "select count(*) from tasker.schema_migrations").Scan(&count))
	require.Equal(t, len(all), count)

	_, err = pool.Exec(ctx, "update tasker.schema_migrations set checksum = 'edited' where version = 2")
	require.NoError(t, err)
	err = sql.Migrate(ctx, pool, logger)
	require.ErrorContains(t, err, "migration 0002_orchestration is not the one this tasker embeds")
}

func TestMigrationsAreNumberedInOrder(t *testing.T) {
	t.Parallel()
	all, err := sql.Migrations()
	require.NoError(t, err)
	for i, m := range all {
		require.Equal(t, i+1, m.Version, "migration %s: versions run 1, 2, 3 ... without gaps", m.Name)
		require.Len(t, m.Checksum(), 64)
	}
}
