package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tasker-systems/tasker/core"
)

// Operator actions: thin calls into the functions of migration 0004.

var (
	qCancelTask  = query("cancel_task")
	qCancelStep  = query("cancel_step")
	qRetryStep   = query("retry_step")
	qRetryTask   = query("retry_task")
	qResolveStep = query("resolve_step")
	qBypassSteps = query("bypass_steps")
)

// ErrConflict is returned (wrapped) when an operator action does not apply
// to a task or step in its current state; the error's message, from the
// database, names the task or step and its state.
var ErrConflict = errors.New("not allowed in its current state")

// ErrInvalid is returned (wrapped) when the database refuses a value given
// to an update (a retry_limit below 1, inputs that are not a JSON object);
// the API validates these first, so only other callers meet it.
var ErrInvalid = errors.New("invalid value")

// PostgreSQL error codes the operator actions raise.
const (
	codeNoDataFound    = "P0002"
	codeCheckViolation = "23514"
	codeInvalidParam   = "22023"
)

// actionError is a refused operator action: the database's message, which
// names the task or step and its state, wrapping a sentinel (core.ErrNotFound
// or ErrConflict) and the PostgreSQL error.
type actionError struct {
	msg  string
	kind error
	pg   *pgconn.PgError
}

func (e *actionError) Error() string   { return e.msg }
func (e *actionError) Unwrap() []error { return []error{e.kind, e.pg} }

// mapActionError turns the refusals of the operator functions into errors
// wrapping core.ErrNotFound, ErrConflict or ErrInvalid; others get op as context.
func mapActionError(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeNoDataFound:
			return &actionError{msg: pgErr.Message, kind: core.ErrNotFound, pg: pgErr}
		case codeCheckViolation:
			return &actionError{msg: pgErr.Message, kind: ErrConflict, pg: pgErr}
		case codeInvalidParam:
			return &actionError{msg: pgErr.Message, kind: ErrInvalid, pg: pgErr}
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// CancelTask cancels a task and every step of it not yet finished (a running
// step's node is told to stop its handler) and returns how many steps it
// cancelled.
func (s *Store) CancelTask(ctx context.Context, taskID int64, reason, actor string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, qCancelTask, taskID, nullable(reason), nullable(actor)).Scan(&n); err != nil {
		return 0, mapActionError(fmt.Sprintf("cancel task %d", taskID), err)
	}
	return n, nil
}

// CancelStep cancels a step and its dependents not yet finished, settles its
// task, and returns how many steps it cancelled.
func (s *Store) CancelStep(ctx context.Context, stepID int64, reason, actor string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, qCancelStep, stepID, nullable(reason), nullable(actor)).Scan(&n); err != nil {
		return 0, mapActionError(fmt.Sprintf("cancel step %d", stepID), err)
	}
	return n, nil
}

// RetryStep runs a step in error or cancelled again from its first attempt,
// with the dependents cancelled with it; its task reopens.
func (s *Store) RetryStep(ctx context.Context, stepID int64, reason, actor string) error {
	if _, err := s.pool.Exec(ctx, qRetryStep, stepID, nullable(reason), nullable(actor)); err != nil {
		return mapActionError(fmt.Sprintf("retry step %d", stepID), err)
	}
	return nil
}

// RetryTask runs every step of a task in error or cancelled again and
// returns how many steps it reset.
func (s *Store) RetryTask(ctx context.Context, taskID int64, reason, actor string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, qRetryTask, taskID, nullable(reason), nullable(actor)).Scan(&n); err != nil {
		return 0, mapActionError(fmt.Sprintf("retry task %d", taskID), err)
	}
	return n, nil
}

// ResolveStep resolves a step by hand with results in place of its
// handler's; its dependents then run.
func (s *Store) ResolveStep(ctx context.Context, stepID int64, results json.RawMessage, reason, actor string) error {
	if _, err := s.pool.Exec(ctx, qResolveStep, stepID, jsonOrNil(results), nullable(reason), nullable(actor)); err != nil {
		return mapActionError(fmt.Sprintf("resolve step %d", stepID), err)
	}
	return nil
}

// BypassSteps resolves the named skippable steps of a task just created,
// without running them.
func (s *Store) BypassSteps(ctx context.Context, taskID int64, names []string, actor string) error {
	if names == nil {
		names = []string{}
	}
	if _, err := s.pool.Exec(ctx, qBypassSteps, taskID, names, nullable(actor)); err != nil {
		return mapActionError(fmt.Sprintf("bypass steps of task %d", taskID), err)
	}
	return nil
}
