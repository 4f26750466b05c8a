package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

var (
	qStepTransitions = query("step_transitions")
	qTaskSteps       = query("task_steps")
	qTaskStepEdges   = query("task_step_edges")
	qStepNames       = query("step_names")
	qTaskEdges       = query("task_edges")
)

// Step returns one step of a task with the names of its parents and
// children and its transitions; the error wraps core.ErrNotFound when the
// task has no such step.
func (s *Store) Step(ctx context.Context, taskID, stepID int64) (*core.StepDetail, error) {
	rows, err := s.pool.Query(ctx, qTaskSteps, taskID, stepID)
	if err != nil {
		return nil, fmt.Errorf("get step %d of task %d: %w", stepID, taskID, err)
	}
	steps, err := scanSteps(rows)
	if err != nil {
		return nil, fmt.Errorf("get step %d of task %d: %w", stepID, taskID, err)
	}
	if len(steps) == 0 {
		return nil, core.NotFoundf("task %d has no step %d", taskID, stepID)
	}
	rows, err = s.pool.Query(ctx, qTaskStepEdges, []int64{stepID})
	if err != nil {
		return nil, fmt.Errorf("get dependencies of step %d: %w", stepID, err)
	}
	edges, err := scanEdges(rows)
	if err == nil {
		err = s.linkSteps(ctx, steps, edges)
	}
	if err != nil {
		return nil, fmt.Errorf("get dependencies of step %d: %w", stepID, err)
	}
	d := core.StepDetail{Step: steps[0]}
	if rows, err = s.pool.Query(ctx, qStepTransitions, stepID); err != nil {
		return nil, fmt.Errorf("get transitions of step %d: %w", stepID, err)
	}
	d.Transitions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.Transition, error) {
		var tr core.Transition
		var meta []byte
		err := row.Scan(&tr.From, &tr.To, &tr.Reason, &meta, &tr.CreatedAt)
		tr.Metadata = meta
		return tr, err
	})
	if err != nil {
		return nil, fmt.Errorf("get transitions of step %d: %w", stepID, err)
	}
	return &d, nil
}

func scanSteps(rows pgx.Rows) ([]core.Step, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.Step, error) {
		var st core.Step
		var results, inputs []byte
		err := row.Scan(&st.StepID, &st.TaskID, &st.Name, &st.Handler, &st.Status, &st.Attempts, &st.RetryLimit,
			&st.Retryable, &results, &st.LastError, &st.NextAttemptAt, &st.CreatedAt, &st.UpdatedAt, &st.CompletedAt, &inputs)
		st.Results, st.Inputs = results, inputs
		st.DependsOn, st.Children = []string{}, []string{}
		return st, err
	})
}

type edge struct{ from, to int64 }

func scanEdges(rows pgx.Rows) ([]edge, error) {
	var edges []edge
	var from, to int64
	_, err := pgx.ForEachRow(rows, []any{&from, &to}, func() error {
		edges = append(edges, edge{from, to})
		return nil
	})
	return edges, err
}

// linkSteps fills DependsOn and Children from edges, each in step order.
func (s *Store) linkSteps(ctx context.Context, steps []core.Step, edges []edge) error {
	names := make(map[int64]string, len(steps))
	index := make(map[int64]int, len(steps))
	for i, st := range steps {
		names[st.StepID], index[st.StepID] = st.Name, i
	}
	// Neighbours outside steps (when only one step was read) need their names.
	var missing []int64
	for _, e := range edges {
		for _, id := range []int64{e.from, e.to} {
			if _, ok := names[id]; !ok && !slices.Contains(missing, id) {
				missing = append(missing, id)
			}
		}
	}
	if len(missing) > 0 {
		var id int64
		var name string
		rows, err := s.pool.Query(ctx, qStepNames, missing)
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			names[id] = name
			return nil
		}); err != nil {
			return err
		}
	}
	slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to)) })
	for _, e := range edges { // by parent id: each DependsOn comes out in step order
		if i, ok := index[e.to]; ok {
			steps[i].DependsOn = append(steps[i].DependsOn, names[e.from])
		}
	}
	slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(cmp.Compare(a.to, b.to), cmp.Compare(a.from, b.from)) })
	for _, e := range edges {
		if i, ok := index[e.from]; ok {
			steps[i].Children = append(steps[i].Children, names[e.to])
		}
	}
	return nil
}

// GetTask returns a task with its steps; the error wraps core.ErrNotFound
// when there is no such task. The task, its steps and their edges come in
// one round trip.
func (s *Store) GetTask(ctx context.Context, id int64) (*core.Task, error) {
	b := &pgx.Batch{}
	b.Queue(qGetTask, id)
	b.Queue(qTaskSteps, id, nil)
	b.Queue(qTaskEdges, id)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	t, err := scanTask(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, core.NotFoundf("task %d does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get task %d: %w", id, err)
	}
	rows, err := br.Query()
	if err == nil {
		t.Steps, err = scanSteps(rows)
	}
	if err != nil {
		return nil, fmt.Errorf("get steps of task %d: %w", id, err)
	}
	var edges []edge
	if rows, err = br.Query(); err == nil {
		edges, err = scanEdges(rows)
	}
	if err == nil {
		err = br.Close()
	}
	if err == nil {
		err = s.linkSteps(ctx, t.Steps, edges)
	}
	if err != nil {
		return nil, fmt.Errorf("get dependencies of task %d: %w", id, err)
	}
	return &t, nil
}
