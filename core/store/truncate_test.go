package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTruncatingTasksEmptiesTheirRows: the run-time tables have no foreign
// keys (0015), so nothing but a trigger stops a TRUNCATE of tasker.tasks
// from leaving steps, edges and transitions of tasks that no longer exist.
func TestTruncatingTasksEmptiesTheirRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.newTask(t, diamond(nil))
	b.claim(t, 1)

	tables := []string{"workflow_steps", "workflow_step_edges", "step_transitions", "task_transitions"}
	count := func(table string) int {
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, "select count(*) from tasker."+table).Scan(&n))
		return n
	}
	for _, table := range tables {
		require.NotZero(t, count(table), "a task and its first claim write %s", table)
	}
	events := count("events")

	_, err := b.pool.Exec(b.ctx, `truncate tasker.tasks`)
	require.NoError(t, err)
	for _, table := range tables {
		require.Zero(t, count(table), "%s after truncate tasker.tasks", table)
	}
	require.Equal(t, events, count("events"), "events stay until prune_events, as when tasks are deleted")

	// A TRUNCATE that names some of those tables too (a restore names them
	// all) is not refused for truncating them twice.
	b.newTask(t, diamond(nil))
	_, err = b.pool.Exec(b.ctx, `truncate tasker.tasks, tasker.step_transitions`)
	require.NoError(t, err)
	for _, table := range tables {
		require.Zero(t, count(table), "%s after truncate tasker.tasks, tasker.step_transitions", table)
	}
}
