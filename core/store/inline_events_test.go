package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core/store"
)

// TestHotPathEventsAreTheTriggersEvents: claim_steps and complete_steps
// write their events themselves (0015_lean_hot_path.sql) instead of leaving
// them to the transition triggers. Each must be the event the trigger
// writes for the same transition: the test inserts a copy of each of their
// transitions in a rolled-back transaction, where the trigger runs, and
// compares the two events but for the transition id.
func TestHotPathEventsAreTheTriggersEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	taskID := b.newTask(t, diamond(nil))
	for range 10 {
		steps, err := b.store.ClaimSteps(b.ctx, owner, 10, time.Minute)
		require.NoError(t, err)
		if len(steps) == 0 {
			break
		}
		var done []store.Completion
		for _, s := range steps {
			c := store.Completion{StepID: s.StepID, Results: json.RawMessage(`{"ok": 1}`)}
			if s.StepName == "right" {
				c.Results = nil // has_results false
			}
			done = append(done, c)
		}
		_, err = b.store.CompleteSteps(b.ctx, owner, done)
		require.NoError(t, err)
	}

	type event struct {
		Name, Correlation string
		Payload           map[string]any
	}
	type transition struct {
		StepID, TaskID   int64
		From, To, Reason string
		Metadata         []byte
		Event            event
	}
	rows, err := b.pool.Query(b.ctx, `
		select st.step_id, st.task_id, st.from_status, st.to_status, st.reason, st.metadata,
		       e.name, coalesce(e.correlation_id, ''), e.payload
		from tasker.events e
		join tasker.step_transitions st on st.transition_id = (e.payload->>'transition_id')::bigint
		where e.task_id = $1 and e.step_id is not null
		order by e.event_id`, taskID)
	require.NoError(t, err)
	var written []transition
	for rows.Next() {
		var tr transition
		require.NoError(t, rows.Scan(&tr.StepID, &tr.TaskID, &tr.From, &tr.To, &tr.Reason, &tr.Metadata,
			&tr.Event.Name, &tr.Event.Correlation, &tr.Event.Payload))
		written = append(written, tr)
	}
	require.NoError(t, rows.Err())
	names := map[string]int{}
	for _, tr := range written {
		names[tr.Event.Name]++
	}
	require.Equal(t, map[string]int{"step.started": 4, "step.completed": 4}, names)

	for _, tr := range written {
		tx, err := b.pool.BeginTx(b.ctx, pgx.TxOptions{})
		require.NoError(t, err)
		var fromTrigger event
		err = tx.QueryRow(b.ctx, `
			with tr as (
				insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
				values ($1, $2, $3, $4, $5, $6) returning transition_id
			)
			select 1 from tr`, tr.StepID, tr.TaskID, tr.From, tr.To, tr.Reason, tr.Metadata).Scan(new(int))
		require.NoError(t, err)
		require.NoError(t, tx.QueryRow(b.ctx, `
			select name, coalesce(correlation_id, ''), payload from tasker.events
			where step_id = $1 order by event_id desc limit 1`, tr.StepID).
			Scan(&fromTrigger.Name, &fromTrigger.Correlation, &fromTrigger.Payload))
		require.NoError(t, tx.Rollback(b.ctx))

		delete(fromTrigger.Payload, "transition_id")
		delete(tr.Event.Payload, "transition_id")
		require.Equal(t, fromTrigger, tr.Event, "%s of step %d", tr.Event.Name, tr.StepID)
	}

	var started event
	var from, to, reason string
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		select e.name, coalesce(e.correlation_id, ''), e.payload, tr.from_status, tr.to_status, tr.reason
		from tasker.events e
		join tasker.task_transitions tr on tr.transition_id = (e.payload->>'transition_id')::bigint
		where e.task_id = $1 and e.name = 'task.started'`, taskID).
		Scan(&started.Name, &started.Correlation, &started.Payload, &from, &to, &reason))
	tx, err := b.pool.BeginTx(b.ctx, pgx.TxOptions{})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	_, err = tx.Exec(b.ctx, `insert into tasker.task_transitions (task_id, from_status, to_status, reason)
		values ($1, $2, $3, $4)`, taskID, from, to, reason)
	require.NoError(t, err)
	var fromTrigger event
	require.NoError(t, tx.QueryRow(b.ctx, `
		select name, coalesce(correlation_id, ''), payload from tasker.events
		where task_id = $1 and step_id is null order by event_id desc limit 1`, taskID).
		Scan(&fromTrigger.Name, &fromTrigger.Correlation, &fromTrigger.Payload))
	delete(fromTrigger.Payload, "transition_id")
	delete(started.Payload, "transition_id")
	require.Equal(t, fromTrigger, started)
}
