package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

var (
	qStepDetail      = query("step_detail")
	qStepTransitions = query("step_transitions")
)

// Step returns one step of a task with its children and transitions; the
// error wraps core.ErrNotFound when the task has no such step.
func (s *Store) Step(ctx context.Context, taskID, stepID int64) (*core.StepDetail, error) {
	var d core.StepDetail
	var results []byte
	err := s.pool.QueryRow(ctx, qStepDetail, taskID, stepID).Scan(&d.StepID, &d.TaskID, &d.Name, &d.Handler,
		&d.Status, &d.Attempts, &d.RetryLimit, &d.Retryable, &d.DependsOn, &results, &d.LastError, &d.NextAttemptAt,
		&d.CreatedAt, &d.UpdatedAt, &d.CompletedAt, &d.Children)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, core.NotFoundf("task %d has no step %d", taskID, stepID)
	}
	if err != nil {
		return nil, fmt.Errorf("get step %d of task %d: %w", stepID, taskID, err)
	}
	d.Results = results
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
