package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

var (
	qWebhookFailures    = query("webhook_failures")
	qWebhookRecord      = query("webhook_record")
	qWebhookStats       = query("webhook_stats")
	qWebhookDeadLetters = query("webhook_dead_letters")
)

// WebhookDelivery is the delivery state of one event for one webhook
// (tasker.webhook_deliveries): failed (being retried), dead or delivered.
type WebhookDelivery struct {
	EventID       int64
	Status        string
	Attempts      int
	StatusCode    int // of the last attempt, 0 when it got no answer
	Error         string
	NextAttemptAt time.Time // zero when none is planned
}

// WebhookFailures returns the events webhook is retrying, by event id.
func (s *Store) WebhookFailures(ctx context.Context, webhook string) (map[int64]WebhookDelivery, error) {
	rows, err := s.pool.Query(ctx, qWebhookFailures, webhook)
	if err != nil {
		return nil, fmt.Errorf("read failures of webhook %s: %w", webhook, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookDelivery, error) {
		d := WebhookDelivery{Status: "failed"}
		return d, row.Scan(&d.EventID, &d.Attempts, &d.NextAttemptAt)
	})
	if err != nil {
		return nil, fmt.Errorf("read failures of webhook %s: %w", webhook, err)
	}
	out := make(map[int64]WebhookDelivery, len(list))
	for _, d := range list {
		out[d.EventID] = d
	}
	return out, nil
}

// RecordWebhookDelivery stores the outcome of an attempt.
func (s *Store) RecordWebhookDelivery(ctx context.Context, webhook string, d WebhookDelivery) error {
	var next *time.Time
	if !d.NextAttemptAt.IsZero() {
		next = &d.NextAttemptAt
	}
	var code *int
	if d.StatusCode != 0 {
		code = &d.StatusCode
	}
	var msg *string
	if d.Error != "" {
		msg = &d.Error
	}
	if _, err := s.pool.Exec(ctx, qWebhookRecord, webhook, d.EventID, d.Status, d.Attempts, code, msg, next); err != nil {
		return fmt.Errorf("record delivery of event %d to webhook %s: %w", d.EventID, webhook, err)
	}
	return nil
}

// WebhookStats is a webhook's progress.
type WebhookStats struct {
	CursorEventID   int64     // the last event passed (delivered, skipped or dead)
	CursorUpdatedAt time.Time // when the cursor last moved
	Lag             int64     // events after the cursor that the webhook wants
	Failing         int64     // events being retried
	Dead            int64     // dead letters
}

// WebhookStats reads the progress of the webhook whose subscriber is
// subscriber; like are its event-name patterns (SQL LIKE) and namespaces
// its task namespaces (empty: any). The error wraps core.ErrNotFound when
// the subscriber has no cursor yet.
func (s *Store) WebhookStats(ctx context.Context, subscriber, webhook string, like, namespaces []string) (WebhookStats, error) {
	var st WebhookStats
	if namespaces == nil {
		namespaces = []string{}
	}
	err := s.pool.QueryRow(ctx, qWebhookStats, subscriber, like, namespaces, webhook).
		Scan(&st.CursorEventID, &st.CursorUpdatedAt, &st.Lag, &st.Failing, &st.Dead)
	if err == pgx.ErrNoRows {
		return st, core.NotFoundf("webhook %s has no event cursor yet", webhook)
	}
	if err != nil {
		return st, fmt.Errorf("read progress of webhook %s: %w", webhook, err)
	}
	return st, nil
}

// DeadLetter is an event a webhook gave up on.
type DeadLetter struct {
	Event     core.Event
	Attempts  int
	Status    int // HTTP status of the last attempt, 0 for none
	Error     string
	UpdatedAt time.Time
}

// WebhookDeadLetters lists webhook's dead letters, oldest first; eventID
// other than 0 selects that one event.
func (s *Store) WebhookDeadLetters(ctx context.Context, webhook string, limit, offset int, eventID int64) ([]DeadLetter, error) {
	rows, err := s.pool.Query(ctx, qWebhookDeadLetters, webhook, limit, offset, eventID)
	if err != nil {
		return nil, fmt.Errorf("read dead letters of webhook %s: %w", webhook, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DeadLetter, error) {
		var d DeadLetter
		var payload []byte
		err := row.Scan(&d.Event.ID, &d.Event.Name, &d.Event.TaskID, &d.Event.StepID, &payload,
			&d.Event.CorrelationID, &d.Event.CreatedAt, &d.Attempts, &d.Status, &d.Error, &d.UpdatedAt)
		d.Event.Payload = payload
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("read dead letters of webhook %s: %w", webhook, err)
	}
	return list, nil
}
