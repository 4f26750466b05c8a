package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

// TestEventReadsFollowTheOrderIndex checks the plans of the queries that
// read the event outbox, as a connection runs them after a few executions:
// generic plans (pgx prepares every statement). Dispatchers run them
// continually, so a plan that sorts or scans the table costs in proportion
// to every event ever kept: an unqualified ORDER BY txid once named the
// output column (txid::text)::bigint, and each read sorted the table (a
// parallel scan, 400 ms with 230,000 events, during a burn-down).
func TestEventReadsFollowTheOrderIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	_, err := pool.Exec(ctx, `insert into tasker.events (name, task_id, payload)
		select 'custom.tick', g % 200 + 1, '{}' from generate_series(1, 20000) g`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `analyze tasker.events`)
	require.NoError(t, err)

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `set plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)

	for _, tc := range []struct{ file, args string }{
		{"events_after", "(100, 500, 100, '{step.%}')"},
		{"events_after_task", "(100, 500, 100, 7)"},
		{"events_end", ""},
		{"events_task_start", "(7)"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			sql, err := os.ReadFile("queries/" + tc.file + ".sql")
			require.NoError(t, err)
			_, err = conn.Exec(ctx, "prepare "+tc.file+" as "+string(sql))
			require.NoError(t, err)
			rows, err := conn.Query(ctx, "explain (format text) execute "+tc.file+tc.args)
			require.NoError(t, err)
			var lines []string
			for rows.Next() {
				var line string
				require.NoError(t, rows.Scan(&line))
				lines = append(lines, line)
			}
			require.NoError(t, rows.Err())
			text := strings.Join(lines, "\n")
			require.Contains(t, text, "Index", "plan:\n%s", text)
			require.NotContains(t, text, "Sort", "plan:\n%s", text)
			require.NotContains(t, text, "Seq Scan", "plan:\n%s", text)
		})
	}
}
