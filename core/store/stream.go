package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

var (
	qEventsAfterTask = query("events_after_task")
	qEventsTaskStart = query("events_task_start")
	qEventsEnd       = query("events_end")
)

// EventsAfterTask is EventsAfter restricted to the events of one task.
func (s *Store) EventsAfterTask(ctx context.Context, c Cursor, taskID int64, limit int) ([]core.Event, error) {
	rows, err := s.pool.Query(ctx, qEventsAfterTask, int64(c.TxID), c.EventID, limit, taskID)
	if err != nil {
		return nil, fmt.Errorf("read events of task %d: %w", taskID, err)
	}
	events, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("read events of task %d: %w", taskID, err)
	}
	return events, nil
}

func scanEvent(row pgx.CollectableRow) (core.Event, error) {
	var e core.Event
	var tx int64
	var payload []byte
	err := row.Scan(&e.ID, &tx, &e.Name, &e.TaskID, &e.StepID, &payload, &e.CorrelationID, &e.CreatedAt)
	e.TxID, e.Payload = uint64(tx), payload
	return e, err
}

// TaskEventsStart returns the cursor just before the first event of a task
// (the zero cursor when it has none yet), where a reader of its whole
// history starts.
func (s *Store) TaskEventsStart(ctx context.Context, taskID int64) (Cursor, error) {
	return s.cursorOf(ctx, qEventsTaskStart, taskID)
}

// EventsEnd returns the cursor after the newest event (the zero cursor when
// there is none): a reader starting there receives only new events.
func (s *Store) EventsEnd(ctx context.Context) (Cursor, error) {
	return s.cursorOf(ctx, qEventsEnd)
}

func (s *Store) cursorOf(ctx context.Context, q string, args ...any) (Cursor, error) {
	var c Cursor
	var tx int64
	err := s.pool.QueryRow(ctx, q, args...).Scan(&tx, &c.EventID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Cursor{}, nil
	}
	if err != nil {
		return c, fmt.Errorf("find an event cursor: %w", err)
	}
	c.TxID = uint64(tx)
	return c, nil
}
