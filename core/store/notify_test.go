package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// TestHotPathNotifiesAfterCommit: creation, claims and recorded batches
// leave their notifications out of their transactions (so that their
// commits do not queue on PostgreSQL's NOTIFY lock) and the store sends
// them after the commit: listeners still hear of new work and new events.
func TestHotPathNotifiesAfterCommit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	work := b.listen(t, store.ChannelWork)
	events := b.listen(t, store.ChannelEvents)

	b.newTask(t, diamond(nil))
	require.Contains(t, notes(t, work), "", "a new task is work for every node")
	require.NotEmpty(t, notes(t, events), "task.created")

	root := b.claim(t, 10)["start"]
	require.Empty(t, notes(t, work))
	require.NotEmpty(t, notes(t, events), "step.started")

	// Recording the root with a claim of one: the claim comes back full
	// (left or right stays ready), so the other nodes are told, by name.
	_, claimed, err := b.store.CompleteAndClaim(b.ctx, owner,
		[]store.Completion{{StepID: root.StepID, Results: json.RawMessage(`{}`)}}, 1, time.Minute, nil)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, []string{owner}, notes(t, work))
	require.NotEmpty(t, notes(t, events), "step.completed, step.started")

	// The last branch and the join: the claim finds less than it may take, so nobody needs waking.
	rest := b.claim(t, 10)
	require.Len(t, rest, 1)
	notes(t, work)
	notes(t, events)
	var other int64
	for _, s := range rest {
		other = s.StepID
	}
	var join []core.StepRequest
	for _, id := range []int64{claimed[0].StepID, other} {
		_, join, err = b.store.CompleteAndClaim(b.ctx, owner, []store.Completion{{StepID: id}}, 2, time.Minute, nil)
		require.NoError(t, err)
	}
	require.Len(t, join, 1)
	require.Equal(t, "join", join[0].StepName)
	require.Empty(t, notes(t, work), "the join was claimed with the batch that made it ready")
	require.NotEmpty(t, notes(t, events))
}
