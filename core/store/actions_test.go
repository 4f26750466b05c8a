package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

const actor = "ops@example.com"

// listen returns a dedicated connection listening on channel.
func (b bundle) listen(t *testing.T, channel string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(b.ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(b.ctx) })
	_, err = conn.Exec(b.ctx, "listen "+channel)
	require.NoError(t, err)
	return conn
}

// notes returns the payloads conn received until none came for a while.
func notes(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	var out []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			return out
		}
		out = append(out, n.Payload)
	}
}

type transition struct {
	From, To, Reason string
	Meta             map[string]any
}

// transitions returns the transitions of a step ("steps", id) or task
// ("tasks", id), oldest first.
func (b bundle) transitions(t *testing.T, table string, id int64) []transition {
	t.Helper()
	q := "select coalesce(from_status, ''), to_status, coalesce(reason, ''), coalesce(metadata, '{}') from tasker.step_transitions where step_id = $1 order by transition_id"
	if table == "tasks" {
		q = "select coalesce(from_status, ''), to_status, coalesce(reason, ''), coalesce(metadata, '{}') from tasker.task_transitions where task_id = $1 order by transition_id"
	}
	rows, err := b.pool.Query(b.ctx, q, id)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (transition, error) {
		var tr transition
		return tr, r.Scan(&tr.From, &tr.To, &tr.Reason, &tr.Meta)
	})
	require.NoError(t, err)
	return out
}

func last(trs []transition) transition { return trs[len(trs)-1] }

func (b bundle) taskStatus(t *testing.T, id int64) string {
	t.Helper()
	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	return task.Status
}

// deps returns remaining_deps by step name.
func (b bundle) deps(t *testing.T, taskID int64) map[string]int {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, "select name, remaining_deps from tasker.workflow_steps where task_id = $1", taskID)
	require.NoError(t, err)
	out := map[string]int{}
	var name string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error { out[name] = n; return nil })
	require.NoError(t, err)
	return out
}

// statuses returns step statuses by name.
func (b bundle) statuses(t *testing.T, taskID int64) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, s := range b.stepStatus(t, taskID) {
		out[name] = s.Status
	}
	return out
}

// runAll claims and completes steps until none is ready; returns the task's
// status after the last completion.
func (b bundle) runAll(t *testing.T) string {
	t.Helper()
	status := ""
	for {
		ready := b.claim(t, 10)
		if len(ready) == 0 {
			return status
		}
		for _, s := range ready {
			status = b.complete(t, s, `"ok"`)
		}
	}
}

func TestCancelRunningTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	start := b.claim(t, 1)["start"]
	cancels := b.listen(t, store.ChannelCancel)

	n, err := b.store.CancelTask(b.ctx, id, "customer withdrew", actor)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Equal(t, []string{"task:" + fmt.Sprint(id)}, notes(t, cancels))

	require.Equal(t, map[string]string{"start": "cancelled", "left": "cancelled", "right": "cancelled", "join": "cancelled"},
		b.statuses(t, id))
	var leaseOwner *string
	var leaseExpires *time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, "select lease_owner, lease_expires_at from tasker.workflow_steps where step_id = $1",
		start.StepID).Scan(&leaseOwner, &leaseExpires))
	require.Nil(t, leaseOwner)
	require.Nil(t, leaseExpires)
	task, err := b.store.GetTask(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusCancelled, task.Status)
	require.NotNil(t, task.CompletedAt)

	tr := last(b.transitions(t, "steps", start.StepID))
	require.Equal(t, transition{From: "in_progress", To: "cancelled", Reason: "customer withdrew",
		Meta: map[string]any{"actor": actor, "task_cancelled": true, "lease_owner": owner}}, tr)
	tr = last(b.transitions(t, "tasks", id))
	require.Equal(t, transition{From: "in_progress", To: "cancelled", Reason: "customer withdrew",
		Meta: map[string]any{"actor": actor, "steps_cancelled": float64(4)}}, tr)

	// The old owner finishing changes nothing; nothing can be claimed.
	status, err := b.store.CompleteStep(b.ctx, start.StepID, owner, json.RawMessage(`1`))
	require.NoError(t, err)
	require.Empty(t, status)
	f, err := b.store.FailStep(b.ctx, start.StepID, owner, &core.StepError{Message: "x"})
	require.NoError(t, err)
	require.Equal(t, store.Failure{}, f)
	lost, err := b.store.ExtendLeases(b.ctx, owner, []int64{start.StepID}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int64{start.StepID}, lost)
	require.Empty(t, b.claim(t, 10))
	require.Equal(t, core.StepStatusCancelled, b.stepStatus(t, id)["start"].Status)

	_, err = b.store.CancelTask(b.ctx, id, "again", actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "task "+fmt.Sprint(id)+" is cancelled")
	_, err = b.store.CancelTask(b.ctx, 424242, "", actor)
	require.ErrorIs(t, err, core.ErrNotFound)
	require.ErrorContains(t, err, "task 424242 does not exist")
}

func TestCancelStepCascadesAndSettles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	b.complete(t, b.claim(t, 1)["start"], `1`)
	branches := b.claim(t, 10)
	left := branches["left"]
	cancels := b.listen(t, store.ChannelCancel)

	n, err := b.store.CancelStep(b.ctx, left.StepID, "wrong branch", actor)
	require.NoError(t, err)
	require.Equal(t, 2, n, "left and join, which needs it")
	require.Equal(t, []string{"step:" + fmt.Sprint(left.StepID)}, notes(t, cancels))
	require.Equal(t, map[string]string{"start": "complete", "left": "cancelled", "right": "in_progress", "join": "cancelled"},
		b.statuses(t, id))
	require.Equal(t, core.TaskStatusInProgress, b.taskStatus(t, id), "right still runs")

	steps := b.stepStatus(t, id)
	tr := last(b.transitions(t, "steps", steps["join"].StepID))
	require.Equal(t, "pending", tr.From)
	require.Equal(t, "wrong branch", tr.Reason)
	require.Equal(t, actor, tr.Meta["actor"])
	require.Equal(t, "left", tr.Meta["cascaded_from_step"])

	status, err := b.store.CompleteStep(b.ctx, left.StepID, owner, json.RawMessage(`1`))
	require.NoError(t, err)
	require.Empty(t, status, "the cancelled step's owner lost it")
	require.Equal(t, core.TaskStatusCancelled, b.complete(t, branches["right"], `2`), "nothing else can run")
	tr = last(b.transitions(t, "tasks", id))
	require.Equal(t, "steps cancelled: left, join", tr.Reason)

	_, err = b.store.CancelStep(b.ctx, branches["right"].StepID, "", actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "is cancelled")
	_, err = b.store.CancelStep(b.ctx, 424242, "", actor)
	require.ErrorIs(t, err, core.ErrNotFound)
	require.ErrorContains(t, err, "step 424242 does not exist")
}

func TestCancelStepOfAPendingTaskAndACompleteStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, diamond(nil))
	steps := b.stepStatus(t, id)
	n, err := b.store.CancelStep(b.ctx, steps["start"].StepID, "not needed", actor)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Equal(t, core.TaskStatusCancelled, b.taskStatus(t, id))
	tr := last(b.transitions(t, "tasks", id))
	require.Equal(t, transition{From: "pending", To: "cancelled", Reason: "steps cancelled: start, left, right, join",
		Meta: map[string]any{"actor": actor, "cancelled_steps": []any{"start", "left", "right", "join"}}}, tr)

	other := b.newTask(t, diamond(nil))
	b.complete(t, b.claim(t, 1)["start"], `1`)
	_, err = b.store.CancelStep(b.ctx, b.stepStatus(t, other)["start"].StepID, "", actor)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorContains(t, err, "(start) of task "+fmt.Sprint(other)+" is complete")
}

// A failed task can be given up: cancelling it, or its failed steps, ends
// it cancelled (the transition error -> cancelled).
func TestCancelAFailedTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, byStep := range []bool{false, true} {
		id := b.newTask(t, diamond(nil))
		start := b.claim(t, 1)["start"]
		_, err := b.store.FailStep(b.ctx, start.StepID, owner, &core.StepError{Kind: core.Permanent, Message: "x"})
		require.NoError(t, err)
		require.Equal(t, core.TaskStatusError, b.taskStatus(t, id))
		if byStep {
			n, err := b.store.CancelStep(b.ctx, start.StepID, "give up", actor)
			require.NoError(t, err)
			require.Equal(t, 4, n)
		} else {
			n, err := b.store.CancelTask(b.ctx, id, "give up", actor)
			require.NoError(t, err)
			require.Equal(t, 4, n)
		}
		require.Equal(t, core.TaskStatusCancelled, b.taskStatus(t, id))
		tr := last(b.transitions(t, "tasks", id))
		require.Equal(t, []string{"error", "cancelled"}, []string{tr.From, tr.To})
		require.Equal(t, actor, tr.Meta["actor"])
	}
}
