package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/backup"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func intp(i int) *int { return &i }

func schema(t *testing.T) []backup.SchemaMigration {
	all, err := sql.Migrations()
	require.NoError(t, err)
	var out []backup.SchemaMigration
	for _, m := range all {
		out = append(out, backup.SchemaMigration{Version: m.Version, Name: m.Name, Checksum: m.Checksum(), SQL: m.SQL})
	}
	return out
}

// populate runs a few tasks through claim, completion, failure and
// cancellation so that every table holds rows.
func populate(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	st := store.New(pool)
	tpl := &core.Template{Namespace: "shop", Name: "order", Version: "1.0.0", Steps: []core.StepTemplate{
		{Name: "a", Handler: "h", RetryBackoffMS: intp(0)},
		{Name: "b", Handler: "h", DependsOnStep: "a", RetryBackoffMS: intp(0)},
		{Name: "c", Handler: "h", DependsOnStep: "a", RetryBackoffMS: intp(0)},
	}}
	tplID, err := st.RegisterTemplate(ctx, tpl)
	require.NoError(t, err)
	var ids []int64
	for i := range 5 {
		id, _, err := st.CreateTask(ctx, store.NewTask{TemplateID: tplID},
			core.TaskRequest{Context: json.RawMessage(`{"n": ` + string(rune('0'+i)) + `, "text": "tab\there \\ back\nline é"}`), Initiator: "test", Tags: []string{"x", "y"}})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	reqs, err := st.ClaimSteps(ctx, "node", 10, time.Minute)
	require.NoError(t, err)
	require.NotEmpty(t, reqs)
	for i, r := range reqs {
		if i%2 == 0 {
			_, err = st.CompleteStep(ctx, r.StepID, "node", json.RawMessage(`{"ok": true}`))
		} else {
			_, err = st.FailStep(ctx, r.StepID, "node", &core.StepError{Message: "boom"})
		}
		require.NoError(t, err)
	}
	_, err = st.CancelTask(ctx, ids[len(ids)-1], "no longer wanted", "tester")
	require.NoError(t, err)
}

// dump renders every tasker table as JSON, ordered, for comparison.
func dump(t *testing.T, ctx context.Context, pool *pgxpool.Pool) map[string]string {
	rows, err := pool.Query(ctx, `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where n.nspname = 'tasker' and c.relkind = 'r' and c.relname <> 'schema_migrations'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	out := map[string]string{}
	for _, tb := range tables {
		var s string
		// Event transaction ids are reset by a restore (they mean nothing in another database).
		require.NoError(t, pool.QueryRow(ctx, `select coalesce(jsonb_agg(to_jsonb(x) - 'txid' - 'last_txid' order by (to_jsonb(x) - 'txid' - 'last_txid')::text)::text, '[]') from tasker.`+
			pgx.Identifier{tb}.Sanitize()+` x`).Scan(&s))
		out[tb] = s
	}
	return out
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := pgtest.New(t)
	populate(t, ctx, src)
	want := dump(t, ctx, src)
	require.NotEqual(t, "[]", want["step_transitions"])

	conn, err := src.Acquire(ctx)
	require.NoError(t, err)
	var archive bytes.Buffer
	m, err := backup.Backup(ctx, conn.Conn(), &archive, backup.Options{TaskerVersion: "test", TempDir: t.TempDir()})
	conn.Release()
	require.NoError(t, err)
	require.Equal(t, schema(t)[len(schema(t))-1].Version, m.Migration)
	names := map[string]int64{}
	for _, tb := range m.Tables {
		names[tb.Name] = tb.Rows
	}
	require.Equal(t, int64(5), names["tasks"])
	// Parents come before children, for every foreign key of the schema.
	pos := map[string]int{}
	for i, tb := range m.Tables {
		pos[tb.Name] = i
	}
	rows, err := src.Query(ctx, `select c.conrelid::regclass::text, c.confrelid::regclass::text from pg_constraint c
		where c.contype = 'f' and c.connamespace = 'tasker'::regnamespace and c.conrelid <> c.confrelid`)
	require.NoError(t, err)
	fks := 0
	var child, parent string
	_, err = pgx.ForEachRow(rows, []any{&child, &parent}, func() error {
		child, parent = strings.TrimPrefix(child, "tasker."), strings.TrimPrefix(parent, "tasker.")
		require.Less(t, pos[parent], pos[child], "%s references %s", child, parent)
		fks++
		return nil
	})
	require.NoError(t, err)
	require.Positive(t, fks)

	verified, err := backup.Verify(bytes.NewReader(archive.Bytes()))
	require.NoError(t, err)
	require.Equal(t, m.Tables, verified.Tables)

	// Into a database without tasker's schema, as a fresh data dir has.
	dst := pgtest.New(t)
	_, err = dst.Exec(ctx, "drop schema tasker cascade")
	require.NoError(t, err)
	restore(t, ctx, dst, archive.Bytes(), false)
	require.Equal(t, want, dump(t, ctx, dst))

	// The identity sequences continue after the restored rows.
	var maxID, nextID int64
	require.NoError(t, dst.QueryRow(ctx, "select max(task_id) from tasker.tasks").Scan(&maxID))
	// A pool of its own, closed before the next restore: the store notifies
	// after commits on another connection, and a restore refuses to run
	// while other sessions are connected.
	other, err := pgxpool.New(ctx, dst.Config().ConnString())
	require.NoError(t, err)
	st := store.New(other)
	tplID, err := st.RegisterTemplate(ctx, &core.Template{Namespace: "shop", Name: "order2", Version: "1.0.0",
		Steps: []core.StepTemplate{{Name: "a", Handler: "h"}}})
	require.NoError(t, err)
	nextID, _, err = st.CreateTask(ctx, store.NewTask{TemplateID: tplID}, core.TaskRequest{Context: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Greater(t, nextID, maxID)
	other.Close()
	require.Eventually(t, func() bool { // a closed connection's server process exits a moment later
		var n int
		err := dst.QueryRow(ctx, `select count(*) from pg_stat_activity
			where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`).Scan(&n)
		return err == nil && n == 0
	}, 10*time.Second, 10*time.Millisecond)

	// A database holding data is replaced only when forced.
	conn2, err := dst.Acquire(ctx)
	require.NoError(t, err)
	_, err = backup.Restore(ctx, conn2.Conn(), opener(archive.Bytes()), backup.RestoreOptions{Schema: schema(t)})
	conn2.Release()
	require.ErrorIs(t, err, backup.ErrNotEmpty)
	restore(t, ctx, dst, archive.Bytes(), true)
	require.Equal(t, want, dump(t, ctx, dst))

	// An empty, migrated database (tasker started once, nothing else) is no obstacle.
	empty := pgtest.New(t)
	restore(t, ctx, empty, archive.Bytes(), false)
	require.Equal(t, want, dump(t, ctx, empty))
}

func restore(t *testing.T, ctx context.Context, pool *pgxpool.Pool, archive []byte, force bool) {
	t.Helper()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = backup.Restore(ctx, conn.Conn(), opener(archive), backup.RestoreOptions{Schema: schema(t), Force: force})
	require.NoError(t, err)
	require.NoError(t, sql.Migrate(ctx, pool, slog.New(slog.DiscardHandler)))
	// Pooled connections cached plans of the replaced tables.
	pool.Reset()
}

func TestRestoreRefusesDamagedAndNewerArchives(t *testing.T) {
	ctx := context.Background()
	src := pgtest.New(t)
	populate(t, ctx, src)
	conn, err := src.Acquire(ctx)
	require.NoError(t, err)
	var archive bytes.Buffer
	_, err = backup.Backup(ctx, conn.Conn(), &archive, backup.Options{TaskerVersion: "test"})
	conn.Release()
	require.NoError(t, err)

	// A flipped byte anywhere fails the gzip CRC or a checksum.
	damaged := bytes.Clone(archive.Bytes())
	damaged[len(damaged)/2] ^= 0xff
	_, err = backup.Verify(bytes.NewReader(damaged))
	require.Error(t, err)
	_, err = backup.Verify(bytes.NewReader(archive.Bytes()[:archive.Len()-100]))
	require.Error(t, err)
	_, err = backup.Verify(bytes.NewReader([]byte("not an archive")))
	require.ErrorContains(t, err, "not a tasker backup")

	dst := pgtest.New(t)
	dconn, err := dst.Acquire(ctx)
	require.NoError(t, err)
	defer dconn.Release()
	_, err = backup.Restore(ctx, dconn.Conn(), opener(damaged), backup.RestoreOptions{Schema: schema(t)})
	require.Error(t, err)

	// This tasker knowing fewer migrations than the archive's database had.
	older := schema(t)
	older = older[:len(older)-1]
	_, err = backup.Restore(ctx, dconn.Conn(), opener(archive.Bytes()), backup.RestoreOptions{Schema: older})
	require.ErrorContains(t, err, "newer tasker")

	// A migration whose text differs from the one embedded.
	changed := schema(t)
	changed[0].Checksum = "0000"
	_, err = backup.Restore(ctx, dconn.Conn(), opener(archive.Bytes()), backup.RestoreOptions{Schema: changed})
	require.ErrorContains(t, err, "differs")

	// Nothing of the refused restores reached the database.
	var n int
	require.NoError(t, dst.QueryRow(ctx, "select count(*) from tasker.schema_migrations").Scan(&n))
	require.Equal(t, len(schema(t)), n)
}
