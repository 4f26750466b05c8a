package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// The updates of the API's PATCH operations: thin calls into the functions
// of migration 0006, which lock, check the state rules and audit.

var (
	qUpdateTask = query("update_task")
	qUpdateStep = query("update_step")
)

// TaskUpdate changes a task's metadata; a nil field is left as it is.
type TaskUpdate struct {
	// Reason replaces the task's reason; "" clears it.
	Reason *string
	// Tags, when not nil, replace the task's tags (an empty slice clears them).
	Tags []string
}

// UpdateTask changes a task's reason and tags, in any state, with a task
// transition row (from and to its current status) recording the old and new
// values and actor. The error wraps core.ErrNotFound for an unknown task.
func (s *Store) UpdateTask(ctx context.Context, taskID int64, u TaskUpdate, actor string) error {
	if _, err := s.pool.Exec(ctx, qUpdateTask, taskID, u.Reason, u.Tags, nullable(actor)); err != nil {
		return mapActionError(fmt.Sprintf("update task %d", taskID), err)
	}
	return nil
}

// StepUpdate changes a step; a nil field is left as it is.
type StepUpdate struct {
	// RetryLimit replaces the step's retry_limit (attempts allowed in all).
	RetryLimit *int
	// Inputs, a JSON object, replaces the inputs its handler is given.
	Inputs json.RawMessage
}

// UpdateStep changes a step of a task, all or nothing, with a step
// transition row (from and to its current status) recording the old and
// new values and actor. Errors wrap core.ErrNotFound (no such task, or no
// such step in it), ErrConflict (the step's state does not allow the
// change: a retry_limit below the attempt it runs or runs next, inputs of a
// step running or finished) or ErrInvalid (a value the database refuses).
func (s *Store) UpdateStep(ctx context.Context, taskID, stepID int64, u StepUpdate, actor string) error {
	if _, err := s.pool.Exec(ctx, qUpdateStep, taskID, stepID, u.RetryLimit, jsonOrNil(u.Inputs), nullable(actor)); err != nil {
		return mapActionError(fmt.Sprintf("update step %d of task %d", stepID, taskID), err)
	}
	return nil
}
