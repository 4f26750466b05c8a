package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

var qStepTransitions = query("step_transitions")

// Step returns one step of a task with its transitions; the error wraps
// core.ErrNotFound when the task has no such step.
func (s *Store) Step(ctx context.Context, taskID, stepID int64) (*core.StepDetail, error) {
	steps, err := s.steps(ctx, taskID, &stepID)
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, core.NotFoundf("task %d has no step %d", taskID, stepID)
	}
	d := core.StepDetail{Step: steps[0]}
	rows, err := s.pool.Query(ctx, qStepTransitions, stepID)
	if err != nil {
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
