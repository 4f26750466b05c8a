package store_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

func TestCreateTaskBypassesSkippableSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tplID, err := b.store.RegisterTemplate(b.ctx, diamond(func(tp *core.Template) { tp.Steps[1].Skippable = true }))
	require.NoError(t, err)

	id, created, err := b.store.CreateTask(b.ctx, store.NewTask{TemplateID: tplID},
		core.TaskRequest{BypassSteps: []string{"left"}, Initiator: "ops"})
	require.NoError(t, err)
	require.True(t, created)
	steps := b.stepStatus(t, id)
	require.Equal(t, core.StepStatusResolvedManually, steps["left"].Status)
	require.Equal(t, 0, steps["left"].Attempts, "a bypassed step never runs")

	b.complete(t, b.claim(t, 1)["start"], `1`)
	require.ElementsMatch(t, []string{"right"}, keys(b.claim(t, 10)), "only the branch that was not bypassed runs")

	// A step that is not skippable refuses the whole request: nothing is created.
	var before int
	require.NoError(t, b.pool.QueryRow(b.ctx, "select count(*) from tasker.tasks").Scan(&before))
	_, _, err = b.store.CreateTask(b.ctx, store.NewTask{TemplateID: tplID}, core.TaskRequest{BypassSteps: []string{"right"}})
	var reqErr *core.RequestError
	require.True(t, errors.As(err, &reqErr), "got %v", err)
	require.Contains(t, reqErr.Message, "right")
	require.Contains(t, reqErr.Message, "not skippable")
	var after int
	require.NoError(t, b.pool.QueryRow(b.ctx, "select count(*) from tasker.tasks").Scan(&after))
	require.Equal(t, before, after)
}
