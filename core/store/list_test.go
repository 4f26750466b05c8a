package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

func TestListTasksFiltersSortsAndCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tplID, err := b.store.RegisterTemplate(b.ctx, diamond(nil))
	require.NoError(t, err)
	other := diamond(nil)
	other.Name, other.Version = "other", "2.0.0"
	otherID, err := b.store.RegisterTemplate(b.ctx, other)
	require.NoError(t, err)
	mk := func(tpl int64, tags ...string) int64 {
		id, _, err := b.store.CreateTask(b.ctx, store.NewTask{TemplateID: tpl}, core.TaskRequest{Tags: tags})
		require.NoError(t, err)
		return id
	}
	a := mk(tplID, "orders", "eu")
	c := mk(tplID, "orders")
	d := mk(otherID, "eu")

	ids := func(f store.TaskFilter) ([]int64, int64) {
		if f.Limit == 0 {
			f.Limit = 10
		}
		tasks, total, err := b.store.ListTasks(b.ctx, f)
		require.NoError(t, err)
		var out []int64
		for _, t := range tasks {
			out = append(out, t.TaskID)
		}
		return out, total
	}
	got, total := ids(store.TaskFilter{Tags: []string{"orders", "eu"}})
	require.Equal(t, []int64{a}, got, "every tag must be present")
	require.EqualValues(t, 1, total)
	got, _ = ids(store.TaskFilter{Name: "other", Version: "2.0.0"})
	require.Equal(t, []int64{d}, got)
	got, _ = ids(store.TaskFilter{Version: "1.0.0", Sort: "task_id"})
	require.Equal(t, []int64{a, c}, got, "oldest first when asked")
	got, total = ids(store.TaskFilter{Sort: "-task_id", Limit: 1, Offset: 1})
	require.Equal(t, []int64{c}, got)
	require.EqualValues(t, 3, total, "total counts every match, not the page")
	got, total = ids(store.TaskFilter{Offset: 10})
	require.Empty(t, got)
	require.EqualValues(t, 3, total, "even past the last page")
}
