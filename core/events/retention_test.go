package events_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/events"
	"github.com/tasker-systems/tasker/core/store"
)

func count(t *testing.T, e env, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, sql, args...).Scan(&n))
	return n
}

func TestRetentionPrunesWhatItShouldAndNothingElse(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tplID, err := e.st.RegisterTemplate(e.ctx, &core.Template{Namespace: "default", Name: "r", Version: "1.0.0",
		Steps: []core.StepTemplate{{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", DependsOnStep: "a"}}})
	require.NoError(t, err)

	// Tasks through create_task (steps, edges, transitions and events), then
	// aged and finished by hand (the state rules allow pending -> any end).
	mk := func(status string, age time.Duration) int64 {
		id, _, err := e.st.CreateTask(e.ctx, store.NewTask{TemplateID: tplID}, core.TaskRequest{})
		require.NoError(t, err)
		if status != core.TaskStatusPending {
			_, err = e.pool.Exec(e.ctx, `update tasker.tasks set status = $2, completed_at = now() - $3::interval,
				updated_at = now() - $3::interval where task_id = $1`, id, status, age.String())
			require.NoError(t, err)
		} else {
			_, err = e.pool.Exec(e.ctx, `update tasker.tasks set updated_at = now() - $2::interval where task_id = $1`, id, age.String())
			require.NoError(t, err)
		}
		return id
	}
	week := 7 * 24 * time.Hour
	var old []int64
	for _, s := range []string{core.TaskStatusComplete, core.TaskStatusError, core.TaskStatusCancelled, core.TaskStatusResolvedManually} {
		for range 3 {
			old = append(old, mk(s, week+time.Hour))
		}
	}
	keepRecent := mk(core.TaskStatusComplete, time.Hour)
	keepPending := mk(core.TaskStatusPending, 2*week)
	keepRunning := mk(core.TaskStatusInProgress, 2*week)

	// Events: all old but the last two; a durable subscriber has been
	// delivered up to the 5th of the test events.
	require.NoError(t, e.st.EnsureCursor(e.ctx, "sub", false))
	e.publish(t, 8, "test.a")
	_, err = e.pool.Exec(e.ctx, `update tasker.events set created_at = now() - interval '8 days'`)
	require.NoError(t, err)
	e.publish(t, 2, "test.recent")
	var cur store.Cursor
	require.NoError(t, e.pool.QueryRow(e.ctx, `select (txid::text)::bigint, event_id from tasker.events
		where name = 'test.a' order by txid, event_id offset 4 limit 1`).Scan(&cur.TxID, &cur.EventID))
	require.NoError(t, e.st.AdvanceCursor(e.ctx, "sub", cur))
	eventsBefore := count(t, e, `select count(*) from tasker.events`)
	undelivered := count(t, e, `select count(*) from tasker.events where (txid, event_id) > ($1::bigint::text::xid8, $2)`,
		int64(cur.TxID), cur.EventID)

	r := events.NewRetention(e.st, e.log, events.RetentionConfig{Tasks: week, Events: week, Batch: 5})
	tasks, evs, err := r.Prune(e.ctx)
	require.NoError(t, err)
	require.Equal(t, len(old), tasks, "12 old finished tasks, in batches of 5")
	require.Equal(t, eventsBefore-undelivered, evs)

	require.Zero(t, count(t, e, `select count(*) from tasker.tasks where task_id = any($1)`, old))
	require.Zero(t, count(t, e, `select count(*) from tasker.workflow_steps where task_id = any($1)`, old))
	require.Zero(t, count(t, e, `select count(*) from tasker.task_transitions where task_id = any($1)`, old))
	require.Zero(t, count(t, e, `select count(*) from tasker.step_transitions where task_id = any($1)`, old))
	require.Zero(t, count(t, e, `select count(*) from tasker.workflow_step_edges e
		where not exists (select 1 from tasker.workflow_steps s where s.step_id = e.from_step_id)
		   or not exists (select 1 from tasker.workflow_steps s where s.step_id = e.to_step_id)`), "no edge outlives its steps")
	kept := []int64{keepRecent, keepPending, keepRunning}
	require.Equal(t, 3, count(t, e, `select count(*) from tasker.tasks where task_id = any($1)`, kept))
	require.Equal(t, 6, count(t, e, `select count(*) from tasker.workflow_steps where task_id = any($1)`, kept))
	require.Equal(t, 3, count(t, e, `select count(*) from tasker.workflow_step_edges x
		join tasker.workflow_steps s on s.step_id = x.to_step_id where s.task_id = any($1)`, kept))

	// Kept: the recent events and the old ones the subscriber has not had.
	require.Equal(t, undelivered, count(t, e, `select count(*) from tasker.events`))
	require.Equal(t, 2, count(t, e, `select count(*) from tasker.events where name = 'test.recent'`))
	require.Equal(t, 3, count(t, e, `select count(*) from tasker.events where name = 'test.a'`))

	// A second pass finds nothing; zero ages disable.
	tasks, evs, err = r.Prune(e.ctx)
	require.NoError(t, err)
	require.Zero(t, tasks+evs)
	off := events.NewRetention(e.st, e.log, events.RetentionConfig{})
	require.NoError(t, off.Run(e.ctx), "disabled: returns at once")
}
