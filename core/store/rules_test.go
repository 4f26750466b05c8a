package store_test

import (
	"strconv"
	"testing"
	"time"

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
			`value for domain step_status violates check constraint "step_status_is_one_of_the_seven"`},
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

func TestExtendLeases(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.newTask(t, diamond(nil))
	steps, err := b.store.ClaimSteps(b.ctx, owner, 1, time.Second)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	held := steps[0].StepID

	lost, err := b.store.ExtendLeases(b.ctx, owner, []int64{held, 424242}, time.Hour)
	require.NoError(t, err)
	require.Equal(t, []int64{424242}, lost, "a step this owner does not hold is reported lost")
	var left time.Duration
	require.NoError(t, b.pool.QueryRow(b.ctx, "select lease_expires_at - now() from tasker.workflow_steps where step_id = $1", held).Scan(&left))
	require.Greater(t, left, 59*time.Minute, "the lease was renewed")

	lost, err = b.store.ExtendLeases(b.ctx, "other-node", []int64{held}, time.Hour)
	require.NoError(t, err)
	require.Equal(t, []int64{held}, lost, "another node cannot renew a lease it does not hold")
}
