package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

func TestStepDetail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	start := b.claim(t, 1)["start"]
	b.complete(t, start, `{"ok": true}`)

	d, err := b.store.Step(b.ctx, id, start.StepID)
	require.NoError(t, err)
	require.Equal(t, "start", d.Name)
	require.Equal(t, core.StepStatusComplete, d.Status)
	require.Empty(t, d.DependsOn)
	require.Equal(t, []string{"left", "right"}, d.Children)
	require.JSONEq(t, `{"ok": true}`, string(d.Results))
	var path []string
	for _, tr := range d.Transitions {
		path = append(path, tr.To)
	}
	require.Equal(t, []string{"pending", "in_progress", "complete"}, path)
	require.Equal(t, "claimed", *d.Transitions[1].Reason)

	_, err = b.store.Step(b.ctx, id+1, start.StepID)
	require.ErrorIs(t, err, core.ErrNotFound, "a step is looked up within its task")
}
