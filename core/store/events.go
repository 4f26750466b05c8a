package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

// ChannelEvents is notified (empty payload) whenever events were written,
// so that dispatchers deliver them without waiting: by the transaction
// itself, or, on the hot path, by the store right after several commits
// (notify.go).
const ChannelEvents = "tasker_events"

var (
	qPublishEvent       = query("publish_event")
	qCompleteStepEvents = query("complete_step_events")
	qEventCursorEnsure  = query("event_cursor_ensure")
	qEventCursorGet     = query("event_cursor_get")
	qEventCursorAdvance = query("event_cursor_advance")
	qEventsAfter        = query("events_after")
	qSubscriberLock     = query("subscriber_lock")
	qSubscriberUnlock   = query("subscriber_unlock")
	qPruneTasks         = query("prune_tasks")
	qPruneEvents        = query("prune_events")
)

// likeEscaper quotes LIKE's wildcards (and its escape character) in a name.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// PublishEvent writes an event no state change causes (see
// core.EventPublisher); taskID and stepID are 0 for none.
func (s *Store) PublishEvent(ctx context.Context, name string, taskID, stepID int64, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("publish event %s: encode payload: %w", name, err)
	}
	var id int64
	if err := s.pool.QueryRow(ctx, qPublishEvent, name, nullID(taskID), nullID(stepID), string(b)).Scan(&id); err != nil {
		return fmt.Errorf("publish event %s: %w", name, err)
	}
	return nil
}

// CompleteStepWithEvents is CompleteStep that also writes the custom events
// the handler published, in the same transaction and before step.completed;
// none are written when owner no longer holds the lease ("" returned).
func (s *Store) CompleteStepWithEvents(ctx context.Context, stepID int64, owner string, results json.RawMessage,
	events []core.PublishedEvent) (taskStatus string, err error) {
	type wire struct {
		Name    string          `json:"name"`
		Payload json.RawMessage `json:"payload"`
	}
	list := make([]wire, 0, len(events))
	for _, e := range events {
		p := e.Payload
		if len(p) == 0 {
			p = json.RawMessage("null")
		}
		list = append(list, wire{e.Name, p})
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("complete step %d: encode events: %w", stepID, err)
	}
	var status *string
	if err := s.pool.QueryRow(ctx, qCompleteStepEvents, stepID, owner, jsonOrNil(results), string(b)).Scan(&status); err != nil {
		return "", fmt.Errorf("complete step %d: %w", stepID, err)
	}
	return deref(status), nil
}

// Cursor is a subscriber's position in the event order (TxID, EventID).
type Cursor struct {
	TxID    uint64
	EventID int64
}

// EnsureCursor creates subscriber's cursor unless it exists: at the current
// end of the events, or before the first one when fromStart.
func (s *Store) EnsureCursor(ctx context.Context, subscriber string, fromStart bool) error {
	if _, err := s.pool.Exec(ctx, qEventCursorEnsure, subscriber, fromStart); err != nil {
		return fmt.Errorf("create event cursor of %s: %w", subscriber, err)
	}
	return nil
}

// GetCursor returns subscriber's cursor; the error wraps core.ErrNotFound
// when it has none.
func (s *Store) GetCursor(ctx context.Context, subscriber string) (Cursor, error) {
	var c Cursor
	var tx int64
	err := s.pool.QueryRow(ctx, qEventCursorGet, subscriber).Scan(&tx, &c.EventID)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, core.NotFoundf("subscriber %s has no event cursor", subscriber)
	}
	if err != nil {
		return c, fmt.Errorf("get event cursor of %s: %w", subscriber, err)
	}
	c.TxID = uint64(tx)
	return c, nil
}

// AdvanceCursor moves subscriber's cursor to c.
func (s *Store) AdvanceCursor(ctx context.Context, subscriber string, c Cursor) error {
	if _, err := s.pool.Exec(ctx, qEventCursorAdvance, subscriber, int64(c.TxID), c.EventID); err != nil {
		return fmt.Errorf("advance event cursor of %s: %w", subscriber, err)
	}
	return nil
}

// EventsAfter returns up to limit events after c in delivery order, only
// from transactions that finished before every running one began, so that
// no event can later appear before the last one returned.
func (s *Store) EventsAfter(ctx context.Context, c Cursor, limit int) ([]core.Event, error) {
	events, _, _, err := s.EventsAfterSkipping(ctx, c, limit, nil)
	return events, err
}

// EventsAfterSkipping is EventsAfter for a reader that leaves out the
// events whose names start with one of skip: they are not sent, and next
// is the cursor past every event read, those left out included, while
// scanned says how many were read (fewer than limit: none are left).
func (s *Store) EventsAfterSkipping(ctx context.Context, c Cursor, limit int, skip []string) (
	events []core.Event, next Cursor, scanned int, err error) {
	patterns := make([]string, len(skip))
	for i, p := range skip {
		patterns[i] = likeEscaper.Replace(p) + "%"
	}
	rows, err := s.pool.Query(ctx, qEventsAfter, int64(c.TxID), c.EventID, limit, patterns)
	if err != nil {
		return nil, c, 0, fmt.Errorf("read events: %w", err)
	}
	next = c
	var e core.Event
	var tx int64
	var payload []byte
	var wanted bool
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &tx, &e.Name, &e.TaskID, &e.StepID, &payload, &e.CorrelationID,
		&e.CreatedAt, &wanted, &scanned}, func() error {
		e.TxID, e.Payload = uint64(tx), payload
		next = Cursor{TxID: e.TxID, EventID: e.ID}
		if wanted {
			events = append(events, e)
		}
		return nil
	})
	if err != nil {
		return nil, c, 0, fmt.Errorf("read events: %w", err)
	}
	return events, next, scanned, nil
}

// WithSubscriberLock runs fn while holding subscriber's advisory lock on a
// connection of its own, so that one node at a time delivers to a
// subscriber; it returns false without running fn when another holds it.
func (s *Store) WithSubscriberLock(ctx context.Context, subscriber string, fn func(context.Context) error) (bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("lock subscriber %s: %w", subscriber, err)
	}
	defer conn.Release()
	var ok bool
	if err := conn.QueryRow(ctx, qSubscriberLock, subscriber).Scan(&ok); err != nil {
		return false, fmt.Errorf("lock subscriber %s: %w", subscriber, err)
	}
	if !ok {
		return false, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, qSubscriberUnlock, subscriber); err != nil {
			// A connection whose unlock failed must not go back holding the lock.
			_ = conn.Conn().Close(uctx)
		}
	}()
	return true, fn(ctx)
}

// PruneTasks deletes up to limit tasks that finished before before, with
// their steps, edges and transitions; rows another node is pruning are
// skipped. It returns how many tasks were deleted.
func (s *Store) PruneTasks(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, qPruneTasks, before, limit).Scan(&n); err != nil {
		return 0, fmt.Errorf("prune tasks: %w", err)
	}
	return n, nil
}

// PruneEvents deletes up to limit events created before before that every
// durable subscriber has been delivered. It returns how many.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, qPruneEvents, before, limit).Scan(&n); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}
