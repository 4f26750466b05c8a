package store_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// The state machines hold whoever writes: here a raw UPDATE, as an operator's
// psql session would send.
func TestDatabaseRefusesForbiddenTransitions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	b.complete(t, b.claim(t, 1)["start"], `1`)

	for _, tc := range []struct{ sql, want string }{
		{"update tasker.workflow_steps set status = 'pending' where task_id = $1 and name = 'start'",
			"transition complete -> pending is not allowed"},
		{"update tasker.workflow_steps set status = 'complete' where task_id = $1 and name = 'join'",
			"transition pending -> complete is not allowed"},
		{"update tasker.workflow_steps set status = 'bogus' where task_id = $1 and name = 'join'",
			"transition pending -> bogus is not allowed"},
		{"update tasker.tasks set status = 'pending' where task_id = $1",
			"task " + itoa(id) + ": transition in_progress -> pending is not allowed"},
	} {
		_, err := b.pool.Exec(b.ctx, tc.sql, id)
		require.ErrorContains(t, err, tc.want, tc.sql)
	}
	// Allowed transitions and updates that keep the status pass.
	_, err := b.pool.Exec(b.ctx, "update tasker.workflow_steps set status = 'cancelled' where task_id = $1 and name = 'join'", id)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, "update tasker.workflow_steps set updated_at = now() where task_id = $1", id)
	require.NoError(t, err)
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
