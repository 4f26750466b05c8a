package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// TestStepCycleCostDoesNotGrowWithHistory counts the rows that claiming a
// step and recording its success read, on a database with a few steps and
// again once it holds many finished ones. Both run as the engine runs them:
// a connection's generic plans. The count is the work, without the timing
// noise of a shared machine: complete_steps once released a step's children
// through a scan of every step (a hash join its generic plan chose while the
// tables had no statistics yet), so each success cost in proportion to the
// whole history.
func TestStepCycleCostDoesNotGrowWithHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tplID, err := b.store.RegisterTemplate(b.ctx, &core.Template{Namespace: "default", Name: "line", Version: "1.0.0",
		Steps: []core.StepTemplate{
			{Name: "a", Handler: "h"},
			{Name: "b", Handler: "h", DependsOnStep: "a"},
			{Name: "c", Handler: "h", DependsOnStep: "b"},
		}})
	require.NoError(t, err)

	// cycle runs a task of the template to its end and returns the rows
	// that claiming its first step and recording that step's success (which
	// releases the second) read.
	cycle := func(conn *pgx.Conn) (claim, complete int) {
		_, _, err := b.store.CreateTask(b.ctx, store.NewTask{TemplateID: tplID}, core.TaskRequest{Context: json.RawMessage(`{}`)})
		require.NoError(t, err)
		var stepID int64
		claim = rowsRead(t, conn, `select step_id from tasker.claim_steps($1, 1, 60000)`, owner)
		require.NoError(t, conn.QueryRow(b.ctx, `select step_id from tasker.workflow_steps
			where status = 'in_progress' and lease_owner = $1`, owner).Scan(&stepID))
		complete = rowsRead(t, conn, `select * from tasker.complete_steps($1, $2, $3)`,
			[]int64{stepID}, owner, []*string{nil})
		for _, name := range []string{"b", "c"} {
			s := b.claim(t, 1)
			require.Contains(t, s, name)
			b.complete(t, s[name], `{}`)
		}
		return claim, complete
	}
	// A connection's first calls plan the functions' statements, reading
	// the catalogs: each phase measures a connection's fourth cycle.
	measure := func() (claim, complete int) {
		conn := b.genericConn(t)
		for range 3 {
			cycle(conn)
		}
		return cycle(conn)
	}
	fewClaim, fewComplete := measure()

	// The plans change with the statistics, so history grows in steps, each
	// measured before autovacuum would analyse it and after.
	for _, tasks := range []int{300, 3000, 30000} {
		_, err = b.pool.Exec(b.ctx, `
			with t as (
				insert into tasker.tasks (template_id, status, completed_at)
				select $1, 'complete', now() from generate_series(1, $2::int)
				returning task_id
			), s as (
				insert into tasker.workflow_steps (task_id, name, handler, status, attempts, results, completed_at)
				select t.task_id, n, 'h', 'complete', 1, '{}', now()
				from t cross join unnest(array['a', 'b', 'c']) as n
				returning step_id, task_id, name
			)
			insert into tasker.workflow_step_edges (from_step_id, to_step_id)
			select p.step_id, c.step_id from s p join s c on c.task_id = p.task_id
				and (p.name, c.name) in (('a', 'b'), ('b', 'c'))`, tplID, tasks)
		require.NoError(t, err)
		for _, analysed := range []bool{false, true} {
			if analysed {
				for _, table := range []string{"tasks", "workflow_steps", "workflow_step_edges"} {
					_, err = b.pool.Exec(b.ctx, "vacuum analyze tasker."+table)
					require.NoError(t, err)
				}
			}
			claim, complete := measure()
			t.Logf("rows read with %d more finished steps (analysed: %v): claim %d (%d before), complete %d (%d before)",
				3*tasks, analysed, claim, fewClaim, complete, fewComplete)
			require.LessOrEqual(t, claim, 2*fewClaim+10, "claiming a step reads more rows as history grows")
			require.LessOrEqual(t, complete, 2*fewComplete+10, "recording a success reads more rows as history grows")
		}
	}
}

// genericConn is a new connection that plans as the engine's do once a
// statement ran a few times: generic plans.
func (b bundle) genericConn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.ConnectConfig(b.ctx, b.pool.Config().ConnConfig.Copy())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(b.ctx, `set plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)
	return conn
}

// rowsRead runs a statement in a transaction of its own and returns the
// rows of tasker's tables that its scans read, a function's statements
// included (pg_stat_xact_user_tables: the transaction's own counts).
func rowsRead(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	const count = `select coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0)::int
		from pg_stat_xact_user_tables where schemaname = 'tasker'`
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	var before, after int
	require.NoError(t, tx.QueryRow(ctx, count).Scan(&before))
	rows, err := tx.Query(ctx, sql, args...)
	require.NoError(t, err)
	rows.Close()
	require.NoError(t, rows.Err())
	require.NoError(t, tx.QueryRow(ctx, count).Scan(&after))
	require.NoError(t, tx.Commit(ctx))
	return after - before
}
